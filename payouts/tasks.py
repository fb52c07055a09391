from celery import shared_task
from django.conf import settings

from . import services
from .providers import ProviderTimeout


@shared_task(name="payouts.dispatch_payouts")
def dispatch_payouts() -> int:
    """Queue due payouts in batches for the provider; returns how many were queued."""
    due = services.payouts_due()
    size = settings.PAYOUT_BATCH_SIZE
    for start in range(0, len(due), size):
        send_payout_batch.delay(due[start : start + size])
    return len(due)


@shared_task(
    name="payouts.send_payout_batch",
    acks_late=True,
    autoretry_for=(ProviderTimeout,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=20,
)
def send_payout_batch(payout_ids: list[int]) -> int:
    """Send one batch; a provider time-out retries it later with backoff."""
    return services.payouts_send(payout_ids=payout_ids)
