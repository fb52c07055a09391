from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Gift catalog"

    def ready(self):
        from . import signals

        signals.connect()
