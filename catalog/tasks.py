from celery import shared_task

from . import imports, services


@shared_task(name="catalog.apply_due_price_changes")
def apply_due_price_changes() -> int:
    return services.gift_price_changes_apply_due()


@shared_task(name="catalog.refresh_exchange_rates")
def refresh_exchange_rates() -> int | None:
    """Refresh rates and propose the derived prices that would move; returns the
    proposal's id. Applying it is left to staff."""
    proposal = services.exchange_rates_refresh()
    return proposal.id if proposal else None


@shared_task(name="catalog.run_import_job")
def run_import_job(job_id: int) -> str | None:
    """Import a stored file; returns the job's status, None if already claimed."""
    job = imports.import_job_run(job_id=job_id)
    return job.status if job else None
