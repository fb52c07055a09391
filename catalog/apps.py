from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Gift catalog"

    def ready(self):
        from djmoney.contrib.exchange.models import Rate

        from . import signals
        from .exchange import rate_str

        signals.connect()
        # djmoney's model names itself "Rate object (3)" in titles, breadcrumbs,
        # history and the audit trail; a proxy would move its admin and permissions.
        Rate.__str__ = rate_str
