from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.views import favicon

admin.site.site_header = "Gift economy back-office"
admin.site.site_title = "Gift economy back-office"
admin.site.index_title = "Back-office"
# A back-office has no public site to view: no "View site" link to a 404.
admin.site.site_url = None

# Admin-looking 403 and 404 pages with a way back (the API keeps Django's answers).
handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"

# Screens whose models moved app (issue 13): staff's bookmarks keep working.
MOVED_ADMIN = {
    "gifting": "creatorprofile|creatorlevel|giftsend|levelchange",
    "reports": "moneydashboard",
}

urlpatterns = [
    *(
        re_path(
            rf"^admin/payouts/(?P<model>{models})/(?P<rest>.*)$",
            RedirectView.as_view(
                url=f"/admin/{app}/%(model)s/%(rest)s",
                query_string=True,
                permanent=True,
            ),
        )
        for app, models in MOVED_ADMIN.items()
    ),
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("catalog.api.urls")),
    path("api/v1/", include("wallets.api.urls")),
    path("api/v1/", include("gifting.api.urls")),
    path("api/v1/", include("payouts.api.urls")),
    path("api/v1/", include("subscriptions.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
