"""The site's own pages outside any app: its 403 and 404 in the admin's look, with a
way back, and the favicon a browser asks for at the root."""

from django.contrib import admin
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

# The API answers its clients, not people: its error answers stay Django's.
API_PREFIX = "/api/"


def _way_back(request) -> str | None:
    """The page the visitor came from, when it is one of ours and not this one."""
    referer = request.META.get("HTTP_REFERER", "")
    if not url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    if referer.split("?", 1)[0].endswith(request.path):
        return None
    return referer


def _error_page(request, status: int, template: str, title: str):
    user = getattr(request, "user", None)
    response = TemplateResponse(
        request,
        template,
        {
            # Without a user (a failure before authentication) the page has no menu.
            **(admin.site.each_context(request) if user is not None else {}),
            "site_header": admin.site.site_header,
            "site_title": admin.site.site_title,
            "title": title,
            "back": _way_back(request),
            "roles": (
                sorted(user.groups.values_list("name", flat=True))
                if user is not None and user.is_authenticated and status == 403
                else []
            ),
        },
        status=status,
    )
    # Rendered here: an error handler's answer goes out as it is returned.
    return response.render()


@requires_csrf_token
def permission_denied(request, exception):
    if request.path.startswith(API_PREFIX):
        return defaults.permission_denied(request, exception)
    return _error_page(request, 403, "admin/core/403.html", "Not allowed")


@requires_csrf_token
def page_not_found(request, exception):
    if request.path.startswith(API_PREFIX):
        return defaults.page_not_found(request, exception)
    return _error_page(request, 404, "admin/core/404.html", "Page not found")


def favicon(request):
    """Browsers ask for /favicon.ico on pages that name none (the API's)."""
    return redirect(static("core/favicon.ico"), permanent=True)
