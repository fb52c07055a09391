from celery import shared_task

from . import ledger
from .reconciliation import ledger_reconcile


@shared_task(name="wallets.reconcile_ledger")
def reconcile_ledger() -> int:
    """Returns the number of problems found (recorded on the run)."""
    return len(ledger_reconcile().problems)


@shared_task(name="wallets.fold_pending_credits")
def fold_pending_credits() -> int:
    """Returns how many accounts had credits folded in."""
    return ledger.pending_credits_fold_all()
