from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self):
        from core.metrics import scrape_collector_add

        from .metrics import LedgerFigures

        # /metrics reads the ledger's figures when scraped (core/metrics.py).
        scrape_collector_add(LedgerFigures)
