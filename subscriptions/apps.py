from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Coin subscriptions"

    def ready(self):
        # A charge's diamonds are under the earnings hold as a gift's are
        # (docs/holds.md); gifting may not import this app, so it is told here.
        from gifting.holds import held_source_register

        from .selectors import charges_held

        held_source_register(charges_held)
