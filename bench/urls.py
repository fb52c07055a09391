from django.urls import path

from config.urls import urlpatterns as project_urlpatterns

from .views import BareView

urlpatterns = [
    path("bench/bare/", BareView.as_view(), name="bench-bare"),
    *project_urlpatterns,
]
