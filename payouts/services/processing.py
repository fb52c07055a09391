"""Sending approved payouts to the provider and recording its answers."""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from wallets import ledger

from .. import states
from ..models import Payout, PayoutRules, ProviderTimeoutRecord
from ..providers import PayoutItem, PayoutResult, ProviderTimeout, payout_provider
from ..selectors import payout_held_until
from .transitions import (
    Move,
    transitions_record,
)

Status = Payout.Status


def _cooloff_over(payout: Payout, rules_by_currency, now) -> bool:
    rules = rules_by_currency.get(payout.currency)
    held_until = payout_held_until(
        method_changed_at=payout.method_changed_at,
        cooloff_days=rules.method_cooloff_days if rules else 0,
    )
    return held_until is None or held_until <= now


def payouts_due(*, now: datetime.datetime | None = None) -> list[int]:
    """Approved payouts whose cool-off is over, and payouts stuck in processing."""
    now = now or timezone.now()
    rules = {r.currency: r for r in PayoutRules.objects.all()}
    # Only what the cool-off needs: thousands of approved payouts load at once.
    approved = [
        payout.id
        for payout in Payout.objects.filter(status=Status.APPROVED)
        .order_by("requested_at")
        .only("id", "currency", "method_changed_at")
        if _cooloff_over(payout, rules, now)
    ]
    # Sent again: the provider pays a reference once, so a second send is safe.
    stuck_after = datetime.timedelta(seconds=settings.PAYOUT_STUCK_AFTER_SECONDS)
    stuck = list(
        Payout.objects.filter(
            status=Status.PROCESSING, updated_at__lt=now - stuck_after
        ).values_list("id", flat=True)
    )
    return approved + stuck


def payouts_send(*, payout_ids: list[int], now: datetime.datetime | None = None) -> int:
    """Hand these payouts to the provider in one batch and record what it answers.

    Safe to run twice and after a crash: approved payouts are claimed with a
    compare-and-set, payouts already processing are sent again (the provider pays a
    reference once), and results are recorded only on payouts still processing.
    Raises ProviderTimeout, for the task to retry later.
    """
    now = now or timezone.now()
    # The whole batch claimed in one transaction, a few queries, not a few per
    # payout: at thousands of payouts the per-row round trips were the cost.
    with transaction.atomic():
        # Locked in id order, so two workers given overlapping batches never
        # deadlock; a row another worker claimed first no longer matches.
        claimed = list(
            Payout.objects.select_for_update()
            .filter(id__in=payout_ids, status__in=states.starts_from("send"))
            .order_by("id")
            .only("id", "status")
        )
        handed = "Handed to the payout provider."
        transitions_record(
            "send",
            [Move(payout, to=Status.PROCESSING, note=handed) for payout in claimed],
            now=now,
        )
    mine = [payout.id for payout in claimed]
    # Besides what this run claimed, only payouts stuck past the threshold: a batch
    # another worker is sending right now is left to it.
    stuck_before = now - datetime.timedelta(seconds=settings.PAYOUT_STUCK_AFTER_SECONDS)
    batch = list(
        Payout.objects.filter(id__in=payout_ids, status=Status.PROCESSING).filter(
            Q(id__in=mine) | Q(updated_at__lt=stuck_before)
        )
    )
    if not batch:
        return 0
    items = [
        PayoutItem(
            reference=p.reference,
            amount=p.net_amount,
            currency=p.currency,
            method=p.method,
            destination=p.destination,
        )
        for p in batch
    ]
    try:
        results = payout_provider().send_batch(items)
    except ProviderTimeout:
        # Counted for the time-out storm alert; the task retries the batch.
        ProviderTimeoutRecord.objects.create(payouts=len(items))
        raise
    return payout_results_record(results=results)


def payout_results_record(*, results: list[PayoutResult]) -> int:
    """Record the provider's answers (a batch, or one callback) in one transaction.

    An answer is recorded only on a payout still processing, so a repeated answer
    records nothing new; returns how many payouts it moved. Paid moves the diamonds
    from the hold to paid out; failed keeps them on hold for finance.
    """
    answers = {result.reference: result for result in results}
    now = timezone.now()
    with transaction.atomic():
        # Id order again: the same lock order as claiming and as other batches.
        payouts = list(
            Payout.objects.select_for_update()
            .filter(reference__in=answers, status__in=states.starts_from("record"))
            .order_by("id")
        )
        if not payouts:
            return 0
        moves = []
        paid = {}
        for payout in payouts:
            result = answers[payout.reference]
            if result.paid:
                paid[payout.id] = payout.diamond_units
                move = Move(
                    payout,
                    to=Status.PAID,
                    note=f"Paid by the provider ({result.provider_id}).",
                    fields={"provider_id": result.provider_id},
                )
            else:
                move = Move(
                    payout,
                    to=Status.FAILED,
                    note=result.reason or "The provider could not pay.",
                    fields={
                        "provider_id": result.provider_id,
                        "failure_reason": result.reason[:200],
                    },
                )
            moves.append(move)
        if paid:
            # One INSERT for the batch; each transfer keeps its payout's reference.
            ledger.payouts_paid_post(units_by_payout=paid)
        transitions_record("record", moves, now=now)
    return len(payouts)
