from celery import shared_task

from . import services


@shared_task(name="catalog.apply_due_price_changes")
def apply_due_price_changes() -> int:
    return services.gift_price_changes_apply_due()


@shared_task(name="catalog.refresh_exchange_rates")
def refresh_exchange_rates() -> int | None:
    """Refresh rates and propose the derived prices that would move; returns the
    proposal's id. Applying it is left to staff."""
    proposal = services.exchange_rates_refresh()
    return proposal.id if proposal else None
