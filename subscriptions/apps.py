from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Coin subscriptions"

    def ready(self):
        # A charge's diamonds are under the earnings hold as a gift's are
        # (docs/holds.md); gifting may not import this app, so it is told here.
        # A store refund takes back from held charges as from held gifts: the
        # charges name the purchases they drew on.
        from gifting.holds import (
            TakeBackSource,
            held_source_register,
            take_back_source_register,
        )

        from .selectors import charges_held
        from .services.refunds import charges_spent_from, charges_taken_back

        held_source_register(charges_held)
        take_back_source_register(
            TakeBackSource(spends=charges_spent_from, recorded=charges_taken_back)
        )
