"""Refunds of a subscription charge, and what store refunds take back from charges
still on hold (docs/subscriptions.md, *Refunds*; docs/holds.md)."""

import datetime
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from core import display
from core.errors import ServiceError
from core.logs import money_event
from gifting.holds import HeldSpend, HeldSpends, HoldRules
from wallets import ledger
from wallets.models import AccountKind, LedgerAccount, Purchase, UnrecoveredStoreRefund
from wallets.selectors import refund_terms_at
from wallets.services.refund_requests import REASON_MAX

from ..models import (
    ChargeHoldRecovery,
    ChargeRefund,
    Subscription,
    SubscriptionCharge,
    SubscriptionChargeLot,
)
from .subscriptions import _creator_key_share, _end

logger = logging.getLogger(__name__)

REQUEST_PERMISSION = "subscriptions.add_chargerefund"
APPROVE_PERMISSION = "subscriptions.approve_chargerefund"


class ChargeRefundRefused(ServiceError):
    status_code = 409
    code = "charge_refund_refused"


def charge_refund_window_ends(charge: SubscriptionCharge) -> datetime.datetime:
    """Until when a charge may be asked to be refunded: the refund window of the
    subscriber's home region when charged (the purchase rules, `RefundRule`), from
    the charge's moment."""
    terms = refund_terms_at(region_id=charge.sender_region_id, at=charge.created_at)
    return charge.created_at + datetime.timedelta(days=terms.window_days)


def _people_check(charge: SubscriptionCharge, actor: User, doing: str) -> None:
    # The subscriber would move coins to themselves; the creator, a colleague's
    # accomplice, could trade diamonds for coins back.
    if actor.id in (charge.subscriber_id, charge.creator.user_id):
        raise ChargeRefundRefused(
            f"Nobody {doing} a refund of a subscription they pay or are paid: ask "
            "another finance user.",
            code="own_subscription",
            status_code=403,
        )


def _reason_checked(reason: str, field: str = "reason") -> str:
    reason = reason.strip()
    if not reason:
        raise ChargeRefundRefused("Say why.", field=field, status_code=400)
    if len(reason) > REASON_MAX:
        raise ChargeRefundRefused(
            f"Write at most {REASON_MAX} characters.", field=field, status_code=400
        )
    return reason


def _refunded_purchase(charge: SubscriptionCharge) -> Purchase | None:
    """A purchase the charge drew on that has been refunded since: its coins are
    back with the buyer as money, so the charge's are never given back again."""
    return (
        Purchase.objects.filter(
            subscription_lots__charge=charge, status=Purchase.Status.REFUNDED
        )
        .order_by("id")
        .first()
    )


def _refundable_check(charge: SubscriptionCharge) -> None:
    refunded = _refunded_purchase(charge)
    if refunded is not None:
        raise ChargeRefundRefused(
            f"Purchase #{refunded.id}, which paid for this charge, was refunded on "
            f"{refunded.refunded_at:%Y-%m-%d %H:%M} UTC: its coins are not given "
            "back twice.",
            code="purchase_refunded",
        )
    drawn = sum(charge.lots.values_list("paid_coins", flat=True))
    if drawn != charge.paid_coins:
        raise ChargeRefundRefused(
            "This charge was made before charges recorded the purchases they drew "
            "on: refund it by a balance adjustment.",
            code="lots_unknown",
        )


def charge_refund_request(
    *,
    charge: SubscriptionCharge,
    actor: User,
    reason: str,
    now: datetime.datetime | None = None,
) -> ChargeRefund:
    """Ask for a refund of one period's charge, for its subscriber; a second
    finance user grants it (`charge_refund_approve`).

    By the purchase rules: asked for before the refund window of the subscriber's
    region when charged ends (`RefundRule.window_days` from the charge), with a
    reason; never by the subscriber or the creator; once per charge while one is
    open or granted; never of a charge whose purchase was refunded since."""
    if not actor.has_perm(REQUEST_PERMISSION):
        raise ChargeRefundRefused(
            "Only support and finance ask for subscription refunds.", status_code=403
        )
    _people_check(charge, actor, "asks for")
    reason = _reason_checked(reason)
    now = now or timezone.now()
    ends = charge_refund_window_ends(charge)
    if now >= ends:
        raise ChargeRefundRefused(
            f"Charged on {charge.created_at:%Y-%m-%d %H:%M} UTC: past its refund "
            f"window (ended {ends:%Y-%m-%d %H:%M} UTC).",
            code="refund_window_passed",
        )
    _refundable_check(charge)
    try:
        with transaction.atomic():
            refund = ChargeRefund.objects.create(
                charge=charge,
                reason=reason,
                requested_by=actor,
                requested_at=now,
                window_ends_at=ends,
            )
    except IntegrityError:
        raise ChargeRefundRefused(
            f"{charge} already has a refund asked for or granted.",
            code="refund_already_requested",
        ) from None
    money_event(
        "subscription_refund_requested",
        refund_id=refund.id,
        charge_id=charge.id,
        subscription_id=charge.subscription_id,
        coins=charge.coins,
        actor_id=actor.id,
    )
    return refund


def _bonus_check(charge: SubscriptionCharge) -> None:
    """Bonus coins are not kept per purchase: a store refund since the charge that
    found the buyer's bonus coins spent could not take them back, and those this
    refund would give back are the ones the buyer has the money for already."""
    if not charge.bonus_coins:
        return
    missing = (
        UnrecoveredStoreRefund.objects.filter(
            purchase__user_id=charge.subscriber_id,
            received_at__gte=charge.created_at,
            bonus_coins_missing__gt=0,
        )
        .order_by("received_at")
        .first()
    )
    if missing is not None:
        raise ChargeRefundRefused(
            f"The store refunded purchase #{missing.purchase_id} on "
            f"{missing.received_at:%Y-%m-%d %H:%M} UTC without taking back "
            f"{missing.bonus_coins_missing:,} bonus coins this subscriber had spent: "
            "this charge's bonus coins are not given back. Finance may settle it "
            "by a balance adjustment.",
            code="bonus_refunded_by_store",
        )


def _decider_check(refund: ChargeRefund, actor: User) -> None:
    if not actor.has_perm(APPROVE_PERMISSION):
        raise ChargeRefundRefused(
            "Only finance grants or rejects subscription refunds.", status_code=403
        )
    if refund.status != ChargeRefund.Status.REQUESTED:
        raise ChargeRefundRefused(
            f"Refund #{refund.id} was already decided: "
            f"{refund.get_status_display().lower()}.",
            code="already_decided",
        )


def _own_request_check(refund: ChargeRefund, actor: User) -> None:
    if actor.id == refund.requested_by_id:
        raise ChargeRefundRefused(
            "Nobody decides a refund they asked for: another finance user does.",
            code="own_request",
            status_code=403,
        )


def charge_refund_approve(
    *, refund: ChargeRefund, actor: User, now: datetime.datetime | None = None
) -> ChargeRefund:
    """A second finance user grants a refund asked for: the charge's bonus coins
    and its paid coins (to the purchases they came from) go back to the
    subscriber; the creator's diamonds from it and the platform's share are taken
    back whole. A refund of the subscription's last paid period ends it at once.

    Refused, moving nothing, when the creator no longer holds the charge's
    diamonds (cashed out: a refund would turn the subscriber's coins into the
    creator's cash and give the coins back to be spent again) or when a store
    refund since the charge could not take back bonus coins (those given back
    would be the ones the buyer already has the money for). Finance decides such a
    case by a balance adjustment, which has its own four eyes.

    Locks as a renewal does (the subscription, the creator's key, the subscriber's
    coins), then the purchases, then the creator's folded diamonds account."""
    now = now or timezone.now()
    charge = (
        SubscriptionCharge.objects.select_related("creator__user")
        .filter(refunds=refund)
        .get()
    )
    _people_check(charge, actor, "grants")
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(
            id=charge.subscription_id
        )
        _creator_key_share(charge.creator_id)
        accounts = ledger.coin_accounts_lock(User(id=charge.subscriber_id))
        refund = ChargeRefund.objects.select_for_update().get(id=refund.id)
        _decider_check(refund, actor)
        _own_request_check(refund, actor)
        lots = dict(charge.lots.values_list("purchase_id", "paid_coins"))
        list(
            Purchase.objects.select_for_update()
            .filter(id__in=lots)
            .order_by("id")
            .values_list("id", flat=True)
        )
        _refundable_check(charge)
        diamonds = ledger.user_account(charge.creator.user, AccountKind.DIAMONDS)
        ledger.pending_credits_fold(account_id=diamonds.id)
        balance = (
            LedgerAccount.objects.select_for_update(no_key=True)
            .values_list("balance", flat=True)
            .get(id=diamonds.id)
        )
        if balance < charge.creator_diamond_units:
            raise ChargeRefundRefused(
                f"The creator holds {display.diamonds(balance, unit=True)} of the "
                f"{display.diamonds(charge.creator_diamond_units, unit=True)} this "
                "charge earned them (cashed out): nothing refunded. Finance may "
                "bear the loss by a balance adjustment.",
                code="creator_cashed_out",
            )
        _bonus_check(charge)
        taken = charge.creator_diamond_units
        ledger.subscription_refund_post(
            subscription_id=charge.subscription_id,
            period=charge.period,
            accounts=accounts,
            bonus=charge.bonus_coins,
            lots=lots,
            creator_diamonds=diamonds,
            creator_units=taken,
            platform_units=charge.platform_diamond_units,
        )
        refund.status = ChargeRefund.Status.REFUNDED
        refund.decided_by = actor
        refund.decided_at = now
        refund.bonus_coins = charge.bonus_coins
        refund.paid_coins = charge.paid_coins
        refund.creator_units = taken
        refund.platform_units = charge.platform_diamond_units
        refund.save()
        if (
            subscription.status in Subscription.LIVE
            and subscription.period == charge.period
        ):
            _end(subscription, status=Subscription.Status.ENDED, at=now)
            subscription.notice = f"Ended: period {charge.period} was refunded."
            subscription._change_reason = f"Charge refund #{refund.id}"
            subscription.save()
    money_event(
        "subscription_refunded",
        refund_id=refund.id,
        charge_id=charge.id,
        subscription_id=charge.subscription_id,
        subscriber_id=charge.subscriber_id,
        creator_id=charge.creator_id,
        bonus_coins=refund.bonus_coins,
        paid_coins=refund.paid_coins,
        creator_units=refund.creator_units,
        platform_units=refund.platform_units,
        requested_by=refund.requested_by_id,
        actor_id=actor.id,
    )
    return refund


def charge_refund_reject(
    *,
    refund: ChargeRefund,
    actor: User,
    reason: str,
    now: datetime.datetime | None = None,
) -> ChargeRefund:
    """Finance rejects a refund asked for, saying why; nothing moves. The charge
    may be asked for again (within its window)."""
    reason = _reason_checked(reason)
    now = now or timezone.now()
    with transaction.atomic():
        refund = (
            ChargeRefund.objects.select_for_update(of=("self",))
            .select_related("charge__creator")
            .get(id=refund.id)
        )
        _decider_check(refund, actor)
        _own_request_check(refund, actor)
        _people_check(refund.charge, actor, "rejects")
        refund.status = ChargeRefund.Status.REJECTED
        refund.decided_by = actor
        refund.decided_at = now
        refund.decision_note = reason
        refund.save()
    money_event("subscription_refund_rejected", refund_id=refund.id, actor_id=actor.id)
    return refund


# Store refunds: the hold's take-back source for charges (gifting.holds).


def charges_spent_from(
    *, purchase: Purchase, rules: HoldRules, now: datetime.datetime
) -> HeldSpends:
    """The charges a store-refunded purchase paid for, exactly (their lots), and
    of those the ones still on hold with the creator's share of the coins. A
    refunded charge gave its coins back to the purchase: not spent, not counted."""
    lots = (
        SubscriptionChargeLot.objects.filter(purchase=purchase)
        .exclude(charge__refunds__status=ChargeRefund.Status.REFUNDED)
        .select_related("charge__creator")
        .order_by("-charge__created_at", "-charge_id")
    )
    matched, on_hold = 0, []
    for lot in lots:
        charge = lot.charge
        matched += lot.paid_coins
        days = rules.days_for(
            region_id=charge.sender_region_id, sent_at=charge.created_at
        )
        if charge.created_at + datetime.timedelta(days=days) <= now:
            continue
        per_coin = charge.creator_diamond_units // charge.coins
        on_hold.append(
            HeldSpend(
                key=f"charge:{charge.id}",
                creator_user_id=charge.creator.user_id,
                earned_at=charge.created_at,
                coins=lot.paid_coins,
                units=lot.paid_coins * per_coin,
                per_coin=per_coin,
                row=charge,
            )
        )
    return HeldSpends(matched=matched, on_hold=on_hold)


def charges_taken_back(
    *, purchase: Purchase, taken: list[tuple], now: datetime.datetime
) -> None:
    """Record what a store refund took back from held charges."""
    ChargeHoldRecovery.objects.bulk_create(
        [
            ChargeHoldRecovery(
                purchase=purchase,
                charge=spend.row,
                paid_coins=coins,
                diamond_units=units,
                transfer=transfer,
                created_at=now,
            )
            for spend, coins, units, transfer in taken
        ]
    )
    logger.info(
        "Purchase %s: took back %s from held subscription charges",
        purchase.id,
        display.diamonds(sum(units for _, _, units, _ in taken), unit=True),
    )
