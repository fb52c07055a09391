from celery import shared_task

from . import services


@shared_task(name="catalog.apply_due_price_changes")
def apply_due_price_changes() -> int:
    return services.gift_price_changes_apply_due()
