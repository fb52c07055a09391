from celery import shared_task


@shared_task(name="bench.noop", acks_late=True)
def noop() -> None:
    """The floor payout processing is compared with: a task that does nothing."""
