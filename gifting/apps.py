from django.apps import AppConfig


class GiftingConfig(AppConfig):
    name = "gifting"
    verbose_name = "Creators and gifts"

    def ready(self):
        from wallets.hooks import store_refund_recoverer_register

        from .services.holds import hold_take_back

        # A store refund of spent coins takes back what the earnings hold still has.
        store_refund_recoverer_register(hold_take_back)
