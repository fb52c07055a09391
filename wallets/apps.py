from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WalletsConfig(AppConfig):
    name = "wallets"
    verbose_name = "Wallets and ledger"

    def ready(self):
        post_migrate.connect(_after_migrate, sender=self, dispatch_uid="ledger-post")


def _after_migrate(using="default", **kwargs):
    from . import posting

    posting.install(using)
