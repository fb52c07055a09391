from django.urls import path

from config.urls import urlpatterns as project_urlpatterns

from .views import BareView, FloorView

urlpatterns = [
    path("bench/bare/", BareView.as_view(), name="bench-bare"),
    path("bench/floor/", FloorView.as_view(), name="bench-floor"),
    *project_urlpatterns,
]
