from celery import shared_task
from django.conf import settings
from django.db import transaction

from . import services


@shared_task(name="subscriptions.renew_due")
def renew_due() -> int:
    """Queue due subscriptions in batches for renewal; returns how many were queued.

    One queued within SUBSCRIPTION_RENEWAL_REQUEUE_AFTER is not queued again; one
    queued twice anyway is harmless, a renewal charges a period once."""
    due = services.subscriptions_queue_due()
    size = settings.SUBSCRIPTION_RENEWAL_BATCH
    for start in range(0, len(due), size):
        batch = due[start : start + size]
        transaction.on_commit(lambda batch=batch: renew_batch.delay(batch))
    return len(due)


@shared_task(name="subscriptions.renew_batch", acks_late=True)
def renew_batch(subscription_ids: list[int]) -> dict[str, int]:
    """Renew one batch; redelivered after a worker dies, it renews what is left."""
    return services.subscriptions_renew(subscription_ids=subscription_ids)
