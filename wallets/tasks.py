from celery import shared_task

from .reconciliation import ledger_reconcile


@shared_task(name="wallets.reconcile_ledger")
def reconcile_ledger() -> int:
    """Returns the number of problems found (recorded on the run)."""
    return len(ledger_reconcile().problems)
