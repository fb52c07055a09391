from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and staff roles"

    def ready(self):
        from . import signals

        signals.connect()
