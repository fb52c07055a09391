"""A creator's request to cash out, and its amounts.

Amounts (written down in docs/payouts.md and tested):
- gross = diamonds × rate, rounded down to the cent: nobody is paid a fraction of a
  cent they did not earn;
- fee = fixed fee + gross × fee percent, the percent part rounded up to the cent;
- net = gross − fee, exactly: what the provider sends.
"""

import datetime
import logging
import uuid
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core import display
from core.errors import ServiceError
from core.idempotency import replay_check, request_fingerprint
from core.logs import account_masked, money_event
from gifting.models import CreatorProfile
from gifting.selectors import CreatorHold, creator_hold
from wallets import ledger
from wallets.models import AccountKind, LedgerAccount
from wallets.selectors import manual_diamond_credits
from wallets.units import diamonds_from_units

from ..metrics import payout_request_counted
from ..models import Payout, PayoutEvent, PayoutRules
from ..selectors import cash_rate_current

logger = logging.getLogger(__name__)
Status = Payout.Status


CENT = Decimal("0.01")
# A payout within this many days of a manual diamond credit needs two approvers.
MANUAL_CREDIT_REVIEW_DAYS = 30


class PayoutRefused(ServiceError):
    code = "payout_refused"


@dataclass(frozen=True)
class PayoutRequestResult:
    payout: Payout
    created: bool


def payout_gross(*, diamond_units: int, rate: Decimal) -> Decimal:
    """What diamonds are worth in cash at `rate`, rounded down to the cent: a
    payout's gross, and every other cash value of diamonds (docs/payouts.md)."""
    return (diamonds_from_units(diamond_units) * rate).quantize(CENT, ROUND_DOWN)


def payout_quote(
    *, diamond_units: int, rate: Decimal, rules: PayoutRules
) -> tuple[Decimal, Decimal, Decimal]:
    """(gross, fee, net) in the payout currency; see the module docstring."""
    gross = payout_gross(diamond_units=diamond_units, rate=rate)
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
        # Read after the locked balance, so every gift in it is counted; a store
        # refund's take-back waits on the lock (docs/holds.md).
        hold = creator_hold(creator=creator, now=now)
        available = hold.available_units(balance_units=balance)
        units = available if diamond_units is None else diamond_units
        if units > available or units <= 0:
            raise PayoutRefused(_balance_refusal(balance, hold), field="diamonds")
        gross, fee, net = payout_quote(diamond_units=units, rate=rate.rate, rules=rules)
        if gross < rules.minimum_cashout:
            raise PayoutRefused(
                f"The minimum cash-out is "
                f"{display.money_in(rules.minimum_cashout, currency)}; "
                f"this is {display.money_in(gross, currency)}.",
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
                f"At most {display.money_in(rules.daily_maximum, currency)} a day "
                f"can be cashed out; {display.money_in(left, currency)} left today.",
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
    money_event(
        "payout_requested",
        payout_id=payout.id,
        reference=payout.reference,
        creator_id=creator.id,
        diamond_units=units,
        currency=currency,
        rate=str(payout.rate),
        gross=str(gross),
        fee=str(fee),
        net=str(net),
        needs_second_approval=payout.needs_second_approval,
        method=payout.method,
        # The account itself stays out of the logs: its last four are enough.
        account=account_masked(payout.destination),
    )
    payout_request_counted(currency=currency, method=payout.method)
    return PayoutRequestResult(payout, created=True)


def _balance_refusal(balance: int, hold: CreatorHold) -> str:
    diamonds = display.diamonds
    if not hold.on_hold_units:
        return f"You have {diamonds(balance, unit=True)}."
    available = hold.available_units(balance_units=balance)
    day, _ = hold.frees[0]
    return (
        f"You have {diamonds(balance, unit=True)}, of which "
        f"{diamonds(min(balance, hold.on_hold_units), unit=True)} are on hold "
        f"(the first free on {day:%Y-%m-%d}): "
        f"{diamonds(available, unit=True)} can be cashed out now."
    )
