from django.urls import path

from config.urls import urlpatterns as project_urlpatterns

from .views import BareView, FloorView, HordakTransferView

urlpatterns = [
    path("bench/bare/", BareView.as_view(), name="bench-bare"),
    path("bench/floor/", FloorView.as_view(), name="bench-floor"),
    path(
        "bench/hordak-transfer/",
        HordakTransferView.as_view(),
        name="bench-hordak-transfer",
    ),
    *project_urlpatterns,
]
