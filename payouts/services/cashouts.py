"""Cash-outs: a creator's request, the approval queue's transitions, and processing.

Amounts (written down in docs/payouts.md and tested):
- gross = diamonds × rate, rounded down to the cent: nobody is paid a fraction of a
  cent they did not earn;
- fee = fixed fee + gross × fee percent, the percent part rounded up to the cent;
- net = gross − fee, exactly: what the provider sends.
"""

import datetime
import logging
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import User
from core.errors import ServiceError
from core.idempotency import replay_check, request_fingerprint
from gifting.models import CreatorProfile
from wallets import ledger
from wallets.models import DIAMOND_SCALE, AccountKind, LedgerAccount
from wallets.selectors import manual_diamond_credits

from .. import states
from ..models import Payout, PayoutEvent, PayoutRules
from ..providers import PayoutItem, PayoutResult, payout_provider
from ..selectors import cash_rate_current

logger = logging.getLogger(__name__)
Status = Payout.Status
CENT = Decimal("0.01")
APPROVE_PERMISSION = "payouts.approve_payout"
# A payout within this many days of a manual diamond credit needs two approvers.
MANUAL_CREDIT_REVIEW_DAYS = 30


class PayoutRefused(ServiceError):
    code = "payout_refused"


class InvalidTransition(ServiceError):
    status_code = 409
    code = "invalid_transition"


class NotAllowed(ServiceError):
    status_code = 403
    code = "not_allowed"


@dataclass(frozen=True)
class PayoutRequestResult:
    payout: Payout
    created: bool


def payout_quote(
    *, diamond_units: int, rate: Decimal, rules: PayoutRules
) -> tuple[Decimal, Decimal, Decimal]:
    """(gross, fee, net) in the payout currency; see the module docstring."""
    gross = (Decimal(diamond_units) / DIAMOND_SCALE * rate).quantize(CENT, ROUND_DOWN)
    percent_part = (gross * rules.fee_percent / 100).quantize(CENT, ROUND_UP)
    fee = rules.fee_fixed + percent_part
    return gross, fee, gross - fee


def payout_request(
    *,
    creator: CreatorProfile,
    diamond_units: int | None,
    currency: str = "USD",
    idempotency_key: str,
    now: datetime.datetime | None = None,
) -> PayoutRequestResult:
    """Hold `diamond_units` of the creator's diamonds (None: all) for a cash-out.

    Refused, with the reason, for an unverified creator, no payout method, an amount
    below the minimum or above the balance or past the daily maximum, or when the
    creator already has a payout open. The same key with another request is refused
    (`IdempotencyKeyReused`).
    """
    now = now or timezone.now()
    fingerprint = request_fingerprint(
        "payout", diamond_units=diamond_units, currency=currency
    )
    replay = Payout.objects.filter(
        creator=creator, idempotency_key=idempotency_key
    ).first()
    if replay is not None:
        replay_check(replay, fingerprint=fingerprint)
        return PayoutRequestResult(replay, created=False)
    if creator.verification != CreatorProfile.Verification.VERIFIED:
        raise PayoutRefused(
            "Verify your identity before cashing out.", code="not_verified"
        )
    if not creator.payout_method:
        raise PayoutRefused("Add a payout method before cashing out.", code="no_method")
    rules = PayoutRules.objects.filter(currency=currency).first()
    rate = cash_rate_current(currency=currency, when=now)
    if rules is None or rate is None:
        raise PayoutRefused(f"Payouts in {currency} are not offered.", field="currency")
    if diamond_units is not None and diamond_units <= 0:
        raise PayoutRefused("Ask for a positive number of diamonds.", field="diamonds")

    with transaction.atomic():
        # One request per creator at a time: the open-payout and daily checks below
        # then see every earlier request.
        creator = (
            CreatorProfile.objects.select_for_update()
            .select_related("user")
            .get(id=creator.id)
        )
        # Checked again on the locked row: verification or method may just have changed.
        if creator.verification != CreatorProfile.Verification.VERIFIED:
            raise PayoutRefused(
                "Verify your identity before cashing out.", code="not_verified"
            )
        if not creator.payout_method:
            raise PayoutRefused(
                "Add a payout method before cashing out.", code="no_method"
            )
        replay = Payout.objects.filter(
            creator=creator, idempotency_key=idempotency_key
        ).first()
        if replay is not None:
            replay_check(replay, fingerprint=fingerprint)
            return PayoutRequestResult(replay, created=False)
        if Payout.objects.filter(creator=creator, status__in=Payout.OPEN).exists():
            raise PayoutRefused(
                "You already have a payout in progress.",
                code="payout_open",
                status_code=409,
            )
        account = ledger.user_account(creator.user, AccountKind.DIAMONDS)
        # Earnings still pending count: fold them in before taking diamonds out.
        ledger.pending_credits_fold(account_id=account.id)
        balance = LedgerAccount.objects.select_for_update().get(id=account.id).balance
        units = balance if diamond_units is None else diamond_units
        if units > balance or units <= 0:
            raise PayoutRefused(
                f"You have {Decimal(balance) / DIAMOND_SCALE:.4f} diamonds.",
                field="diamonds",
            )
        gross, fee, net = payout_quote(diamond_units=units, rate=rate.rate, rules=rules)
        if gross < rules.minimum_cashout:
            raise PayoutRefused(
                f"The minimum cash-out is {rules.minimum_cashout} {currency}; "
                f"this is {gross} {currency}.",
                field="diamonds",
            )
        if net <= 0:
            raise PayoutRefused(
                "The fee would take the whole amount.", field="diamonds"
            )
        day_start = now.astimezone(datetime.UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        today = Payout.objects.filter(
            creator=creator, requested_at__gte=day_start, currency=currency
        ).exclude(status__in=[Status.REJECTED, Status.RETURNED])
        already = today.aggregate(total=Sum("gross_amount"))["total"] or Decimal("0")
        if already + gross > rules.daily_maximum:
            left = max(rules.daily_maximum - already, Decimal("0"))
            raise PayoutRefused(
                f"At most {rules.daily_maximum} {currency} a day can be cashed out; "
                f"{left} {currency} left today.",
                field="diamonds",
            )
        # Four eyes by the last 24 hours, not the UTC day: a sum split around
        # midnight gets them too.
        recent = Payout.objects.filter(
            creator=creator,
            currency=currency,
            requested_at__gt=now - datetime.timedelta(hours=24),
        ).exclude(status__in=[Status.REJECTED, Status.RETURNED]).aggregate(
            total=Sum("gross_amount")
        )["total"] or Decimal("0")
        # Diamonds credited by hand are paid under four eyes whatever the amount: one
        # finance user must not both move them in and approve them out (issue 12).
        manual = manual_diamond_credits(
            user_ids=[creator.user_id],
            since=now - datetime.timedelta(days=MANUAL_CREDIT_REVIEW_DAYS),
        )
        payout = Payout.objects.create(
            creator=creator,
            requester=creator.user,
            diamond_units=units,
            currency=currency,
            rate=rate.rate,
            gross_amount=gross,
            fee_amount=fee,
            net_amount=net,
            needs_second_approval=(
                recent + gross >= rules.second_approval_from or bool(manual)
            ),
            method=creator.payout_method,
            destination=creator.destination,
            method_changed_at=creator.payout_method_changed_at,
            reference=f"PO-{uuid.uuid4().hex[:20].upper()}",
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            requested_at=now,
        )
        ledger.payout_hold_post(payout_id=payout.id, account=account, units=units)
        PayoutEvent.objects.create(
            payout=payout, to_status=Status.REQUESTED, actor=creator.user, at=now
        )
    return PayoutRequestResult(payout, created=True)


@dataclass
class _Move:
    """One payout's change of status, with the fields that change with it."""

    payout: Payout
    to: str
    note: str = ""
    fields: dict = field(default_factory=dict)


def _transition_check(payout: Payout, action: str, to: str | None = None) -> None:
    if not states.allowed(action, payout.status, to):
        state = payout.get_status_display().lower()
        done = states.TRANSITIONS[action].done
        raise InvalidTransition(f"A payout that is {state} cannot be {done}.")


def _transitions_record(
    action: str,
    moves: list[_Move],
    *,
    actor: User | None = None,
    now: datetime.datetime | None = None,
) -> None:
    """The one place a payout's status changes: each move is checked against the
    table in payouts/states.py and leaves a `PayoutEvent`.

    The payouts must be locked by the caller. A batch is written in a few statements
    (one UPDATE when every payout gets the same values), not a few per payout.
    """
    now = now or timezone.now()
    for move in moves:
        _transition_check(move.payout, action, move.to)
    events = [
        PayoutEvent(
            payout=move.payout,
            from_status=move.payout.status,
            to_status=move.to,
            actor=actor,
            note=move.note,
        )
        for move in moves
    ]
    columns = ["status", "updated_at"]
    for move in moves:
        move.payout.status = move.to
        move.payout.updated_at = now
        for name, value in move.fields.items():
            setattr(move.payout, name, value)
            if name not in columns:
                columns.append(name)
    rows = {tuple(getattr(move.payout, name) for name in columns) for move in moves}
    if len(rows) == 1:
        Payout.objects.filter(id__in=[move.payout.id for move in moves]).update(
            **dict(zip(columns, rows.pop(), strict=True))
        )
    elif rows:
        Payout.objects.bulk_update([move.payout for move in moves], columns)
    PayoutEvent.objects.bulk_create(events)


def _move(
    payout: Payout,
    *,
    action: str,
    to: str,
    actor: User | None,
    note: str = "",
    **fields,
) -> Payout:
    """Record one transition of a payout already locked by the caller."""
    _transitions_record(
        action, [_Move(payout, to=to, note=note, fields=fields)], actor=actor
    )
    return payout


def _locked(payout: Payout, action: str) -> Payout:
    payout = Payout.objects.select_for_update().get(id=payout.id)
    _transition_check(payout, action)
    return payout


def _check_approver(actor: User, payout: Payout) -> None:
    if not actor.has_perm(APPROVE_PERMISSION):
        raise NotAllowed("Only finance approves payouts.")
    if actor.id == payout.requester_id:
        raise NotAllowed("Nobody approves their own payout.")


def _dispatch_after_commit() -> None:
    from ..tasks import dispatch_payouts

    # robust: a broker hiccup after the commit must not turn a done approval into a 500.
    transaction.on_commit(dispatch_payouts.delay, robust=True)


@transaction.atomic
def payout_approve(*, payout: Payout, actor: User, note: str = "") -> Payout:
    """First approval, or the second one from a different person when needed."""
    payout = _locked(payout, "approve")
    _check_approver(actor, payout)
    if payout.status == Status.AWAITING_SECOND_APPROVAL:
        if actor.id == payout.first_approver_id:
            raise NotAllowed("The second approval must come from someone else.")
        to, approver = Status.APPROVED, {"second_approver": actor}
    elif payout.needs_second_approval:
        to, approver = Status.AWAITING_SECOND_APPROVAL, {"first_approver": actor}
    else:
        to, approver = Status.APPROVED, {"first_approver": actor}
    payout = _move(payout, action="approve", to=to, actor=actor, note=note, **approver)
    if payout.status == Status.APPROVED:
        _dispatch_after_commit()
    return payout


@transaction.atomic
def payout_reject(*, payout: Payout, actor: User, reason: str) -> Payout:
    """Refuse a payout waiting for approval; the diamonds go back to the creator."""
    if not reason.strip():
        raise PayoutRefused("A rejection needs a reason.", field="reason")
    payout = _locked(payout, "reject")
    if not actor.has_perm(APPROVE_PERMISSION):
        raise NotAllowed("Only finance rejects payouts.")
    ledger.payout_rejection_post(
        payout_id=payout.id, creator=payout.creator.user, units=payout.diamond_units
    )
    return _move(
        payout, action="reject", to=Status.REJECTED, actor=actor, note=reason.strip()
    )


@transaction.atomic
def payout_retry(*, payout: Payout, actor: User, note: str = "") -> Payout:
    """Send a failed payout again (after the creator fixed their account, say).

    A new attempt gets a new reference (the provider answers a reference it knows
    with its first result) and the creator's current payout method, whose change
    starts the cool-off again.
    """
    payout = _locked(payout, "retry")
    _check_approver(actor, payout)
    creator = payout.creator
    retries = payout.events.filter(from_status=Status.FAILED, to_status=Status.APPROVED)
    payout = _move(
        payout,
        action="retry",
        to=Status.APPROVED,
        actor=actor,
        note=note,
        failure_reason="",
        reference=f"{payout.reference.split('-R')[0]}-R{retries.count() + 1}",
        method=creator.payout_method,
        destination=creator.destination,
        method_changed_at=creator.payout_method_changed_at,
    )
    _dispatch_after_commit()
    return payout


@transaction.atomic
def payout_return(*, payout: Payout, actor: User, note: str = "") -> Payout:
    """Give up on a failed payout: the diamonds go back to the creator."""
    payout = _locked(payout, "return")
    if not actor.has_perm(APPROVE_PERMISSION):
        raise NotAllowed("Only finance returns payouts.")
    ledger.payout_return_post(
        payout_id=payout.id, creator=payout.creator.user, units=payout.diamond_units
    )
    return _move(payout, action="return", to=Status.RETURNED, actor=actor, note=note)


def _cooloff_over(payout: Payout, rules_by_currency, now) -> bool:
    if payout.method_changed_at is None:
        return True
    rules = rules_by_currency.get(payout.currency)
    days = rules.method_cooloff_days if rules else 0
    return payout.method_changed_at + datetime.timedelta(days=days) <= now


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
        _transitions_record(
            "send",
            [_Move(payout, to=Status.PROCESSING, note=handed) for payout in claimed],
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
    results = payout_provider().send_batch(
        [
            PayoutItem(
                reference=p.reference,
                amount=p.net_amount,
                currency=p.currency,
                method=p.method,
                destination=p.destination,
            )
            for p in batch
        ]
    )
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
                move = _Move(
                    payout,
                    to=Status.PAID,
                    note=f"Paid by the provider ({result.provider_id}).",
                    fields={"provider_id": result.provider_id},
                )
            else:
                move = _Move(
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
        _transitions_record("record", moves, now=now)
    for payout in payouts:
        logger.info("Payout %s: %s", payout.reference, payout.status)
    return len(payouts)
