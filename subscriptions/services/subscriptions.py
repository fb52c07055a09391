"""Subscribe, renew, cancel, lapse: each period's coins move through the ledger
once, as a gift's do (docs/subscriptions.md)."""

import datetime
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from core.errors import ServiceError
from core.idempotency import replay_check, request_fingerprint
from core.logs import money_event
from gifting.models import CreatorProfile
from gifting.services import diamond_split
from wallets import ledger
from wallets.ledger import InsufficientBalance
from wallets.models import AccountKind, HomeRegion

from ..models import (
    GRACE,
    PERIOD,
    RETRY_EVERY,
    Subscription,
    SubscriptionCharge,
    SubscriptionChargeLot,
    Tier,
)
from .tiers import creator_may_offer_check, tier_price_check


class SubscriptionRefused(ServiceError):
    code = "subscription_refused"


class PriceChanged(ServiceError):
    status_code = 409
    code = "price_changed"


class AlreadySubscribed(ServiceError):
    status_code = 409
    code = "already_subscribed"


@dataclass(frozen=True)
class SubscribeResult:
    subscription: Subscription
    created: bool


def subscription_subscribe(
    *,
    subscriber: User,
    tier: Tier,
    coin_price: int,
    idempotency_key: str,
    now: datetime.datetime | None = None,
) -> SubscribeResult:
    """Subscribe to `tier` at `coin_price`, the price the subscriber was shown,
    and pay its first period at once.

    The tier is read locked in the transaction: a price the creator changed since
    is refused (409 `price_changed`, with the current price) and nothing moves. A
    repeat with the same key answers with the first subscription and moves
    nothing; a second live subscription to the same creator is refused (409), by
    the database when two race."""
    now = now or timezone.now()
    fingerprint = request_fingerprint(
        "subscription_subscribe", tier=tier, coin_price=coin_price
    )
    replay = _by_key(subscriber, idempotency_key)
    if replay is not None:
        replay_check(replay, fingerprint=fingerprint)
        return SubscribeResult(replay, created=False)
    creator = tier.creator
    if creator.user_id == subscriber.id:
        raise SubscriptionRefused("You cannot subscribe to yourself.", field="tier")
    if not subscriber.is_adult_on(now.date()):
        raise SubscriptionRefused(
            "Subscribing requires age 18 or over.", code="under_age", status_code=403
        )
    try:
        with transaction.atomic():
            # The tier as it is now, locked: a creator's price change waits for
            # this charge or is seen by it.
            tier = _offered_tier_locked(tier.id, coin_price=coin_price, now=now)
            # The row first: a repeat or a second subscription fails on its unique
            # constraints before any coin moves.
            subscription = Subscription.objects.create(
                subscriber=subscriber,
                creator=creator,
                tier=tier,
                coin_price=tier.coin_price,
                period=1,
                period_starts_at=now,
                period_ends_at=now + PERIOD,
                next_charge_at=now + PERIOD,
                idempotency_key=idempotency_key,
                request_fingerprint=fingerprint,
                created_at=now,
            )
            _charge(subscription, period=1, starts=now, now=now)
    except IntegrityError:
        first = _by_key(subscriber, idempotency_key)
        if first is not None:
            replay_check(first, fingerprint=fingerprint)
            return SubscribeResult(first, created=False)
        if Subscription.objects.filter(
            subscriber=subscriber, creator=creator, status__in=Subscription.LIVE
        ).exists():
            raise AlreadySubscribed(
                "You already subscribe to this creator.", field="tier"
            ) from None
        raise
    return SubscribeResult(subscription, created=True)


def _offered_tier_locked(
    tier_id: int, *, coin_price: int, now: datetime.datetime
) -> Tier:
    """The tier locked, refused unless offered at `coin_price` within its limits
    by a creator who may receive subscriptions."""
    tier = (
        Tier.objects.select_for_update(of=("self",))
        .select_related("creator__user", "creator__level", "limit")
        .get(id=tier_id)
    )
    if not tier.is_active:
        raise SubscriptionRefused("This tier is not offered.", field="tier")
    creator_may_offer_check(tier.creator, day=now.date(), field="tier")
    try:
        tier_price_check(tier.limit, tier.coin_price)
    except ServiceError:
        raise SubscriptionRefused(
            "This tier's price is outside the limits: it cannot be subscribed to "
            "until the creator sets it again.",
            field="tier",
        ) from None
    if tier.coin_price != coin_price:
        raise PriceChanged(
            f"The tier's price is now {tier.coin_price:,} coins, not "
            f"{coin_price:,}: nothing was charged. Subscribe again at the new price "
            "if you still want to.",
            extra={"coin_price": tier.coin_price},
        )
    return tier


def subscription_cancel(
    *, subscription: Subscription, now: datetime.datetime | None = None
) -> Subscription:
    """Cancel: no further charge; active until the paid period ends. In a grace
    period (the current period unpaid) it ends at once."""
    now = now or timezone.now()
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(id=subscription.id)
        if subscription.status not in Subscription.LIVE:
            raise SubscriptionRefused(
                "This subscription has already ended.", code="not_live", status_code=409
            )
        if subscription.cancelled_at is not None:
            return subscription
        subscription.cancelled_at = now
        if subscription.status == Subscription.Status.GRACE:
            _end(subscription, status=Subscription.Status.ENDED, at=now)
            subscription.notice = "Cancelled during the grace period: ended."
        else:
            subscription.notice = (
                f"Cancelled: active until {subscription.period_ends_at:%Y-%m-%d %H:%M} "
                "UTC, no further charge."
            )
        subscription._change_reason = "Cancelled by the subscriber"
        subscription.save()
    money_event(
        "subscription_cancelled", subscription_id=subscription.id, at=now.isoformat()
    )
    return subscription


def subscription_resume(
    *,
    subscription: Subscription,
    subscriber: User,
    now: datetime.datetime | None = None,
) -> Subscription:
    """Un-cancel: a cancelled subscription still in its paid period renews again at
    the period's end. The period is kept and nothing is charged now; resuming one
    not cancelled is a no-op."""
    now = now or timezone.now()
    with transaction.atomic():
        # Locked as cancel and renew lock it: a renewal at the period's end either
        # ends it first (then this refuses) or waits and renews it after.
        subscription = Subscription.objects.select_for_update().get(id=subscription.id)
        if subscription.subscriber_id != subscriber.id:
            raise SubscriptionRefused(
                "No such subscription of yours.", code="not_found", status_code=404
            )
        if subscription.status not in Subscription.LIVE:
            raise SubscriptionRefused(
                "This subscription has already ended: subscribe again instead.",
                code="not_live",
                status_code=409,
            )
        if subscription.cancelled_at is None:
            return subscription
        if now >= subscription.period_ends_at:
            raise SubscriptionRefused(
                "The paid period is over: this subscription ends and cannot be "
                "resumed; subscribe again instead.",
                code="period_over",
                status_code=409,
            )
        subscription.cancelled_at = None
        subscription.notice = ""
        subscription._change_reason = "Resumed by the subscriber"
        subscription.save()
    money_event(
        "subscription_resumed", subscription_id=subscription.id, at=now.isoformat()
    )
    return subscription


class Renewal:
    """What a renewal did."""

    RENEWED = "renewed"
    NOT_DUE = "not_due"
    ENDED = "ended"
    GRACE = "grace"
    LAPSED = "lapsed"


def subscription_renew(
    *, subscription_id: int, now: datetime.datetime | None = None
) -> str:
    """Renew one subscription if it is due: charge its next period, or move it into
    grace (too few coins), retry, and lapse when grace runs out; end a cancelled
    one. Safe to run twice at once: the row is locked, one that another renewal
    holds is skipped (that one does it), and a period is charged once (by the
    database's constraint)."""
    now = now or timezone.now()
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("creator__user", "creator__level")
            .filter(
                id=subscription_id,
                status__in=Subscription.LIVE,
                next_charge_at__lte=now,
            )
            .first()
        )
        if subscription is None:
            return Renewal.NOT_DUE
        outcome = _renew_locked(subscription, now=now)
        subscription._change_reason = f"Renewal: {outcome}"
        subscription.save()
    return outcome


def _renew_locked(subscription: Subscription, *, now: datetime.datetime) -> str:
    Status = Subscription.Status
    if subscription.cancelled_at is not None:
        _end(subscription, status=Status.ENDED, at=subscription.period_ends_at)
        subscription.notice = "Ended at the end of the period, as cancelled."
        return Renewal.ENDED
    subscriber = subscription.subscriber
    if not subscriber.is_active:
        _end(subscription, status=Status.ENDED, at=now)
        subscription.notice = "Ended without a charge: the account is deactivated."
        return Renewal.ENDED
    if not subscriber.is_adult_on(now.date()):
        _end(subscription, status=Status.ENDED, at=now)
        subscription.notice = (
            "Ended without a charge: subscribing requires age 18 or over."
        )
        return Renewal.ENDED
    reason = subscription.creator.ineligibility_reason(now.date())
    if reason:
        _end(subscription, status=Status.ENDED, at=now)
        subscription.notice = f"Ended: {reason}"
        return Renewal.ENDED
    period = subscription.period + 1
    # Periods are contiguous, but a renewal that runs more than GRACE late (an
    # outage) charges one period from now: past periods are never charged back to
    # back.
    starts = subscription.period_ends_at
    if now - starts > GRACE:
        starts = now
    try:
        with transaction.atomic():
            _charge(subscription, period=period, starts=starts, now=now)
    except InsufficientBalance as refusal:
        # Grace runs from the first failed attempt, so a late first attempt still
        # gets its full grace period.
        grace_until = subscription.grace_until or max(starts, now) + GRACE
        if now >= grace_until:
            _end(subscription, status=Status.LAPSED, at=now)
            subscription.notice = (
                "Lapsed: the renewal found too few coins until the grace period ended."
            )
            money_event("subscription_lapsed", subscription_id=subscription.id)
            return Renewal.LAPSED
        subscription.status = Status.GRACE
        subscription.grace_until = grace_until
        subscription.next_charge_at = min(now + RETRY_EVERY, grace_until)
        subscription.notice = (
            f"Renewal failed: {subscription.coin_price:,} coins needed, "
            f"{refusal.extra.get('balance', 0):,} in your wallet. We retry until "
            f"{grace_until:%Y-%m-%d %H:%M} UTC; then the subscription lapses."
        )
        return Renewal.GRACE
    subscription.period = period
    subscription.period_starts_at = starts
    subscription.period_ends_at = starts + PERIOD
    subscription.next_charge_at = subscription.period_ends_at
    subscription.status = Status.ACTIVE
    subscription.grace_until = None
    subscription.notice = ""
    return Renewal.RENEWED


def _charge(
    subscription: Subscription,
    *,
    period: int,
    starts: datetime.datetime,
    now: datetime.datetime,
) -> SubscriptionCharge:
    """Charge `period` of `subscription`, starting at `starts`: the subscriber's
    coins to the creator's diamonds at the creator's level share now, and the
    platform's part; stamped."""
    creator = subscription.creator
    _creator_key_share(creator.id)
    coins = subscription.coin_price
    share = creator.level.share_percent
    creator_units, platform_units = diamond_split(coins=coins, share_percent=share)
    posted = ledger.subscription_charge_post(
        subscription_id=subscription.id,
        period=period,
        subscriber_id=subscription.subscriber_id,
        creator_diamonds=ledger.user_account(creator.user, AccountKind.DIAMONDS),
        coins=coins,
        creator_units=creator_units,
        platform_units=platform_units,
        now=now,
    )
    # The hold's region, stamped as a gift send stamps it (docs/holds.md).
    region_id = (
        HomeRegion.objects.filter(user_id=subscription.subscriber_id)
        .values_list("region_id", flat=True)
        .first()
    )
    charge = SubscriptionCharge.objects.create(
        subscription=subscription,
        period=period,
        subscriber_id=subscription.subscriber_id,
        creator=creator,
        tier_id=subscription.tier_id,
        coins=coins,
        bonus_coins=posted.bonus,
        paid_coins=posted.paid,
        share_percent=share,
        creator_diamond_units=creator_units,
        platform_diamond_units=platform_units,
        period_starts_at=starts,
        period_ends_at=starts + PERIOD,
        created_at=now,
        sender_region_id=region_id,
    )
    SubscriptionChargeLot.objects.bulk_create(
        SubscriptionChargeLot(charge=charge, purchase_id=purchase_id, paid_coins=coins)
        for purchase_id, coins in sorted(posted.lots.items())
    )
    money_event(
        "subscription_charged",
        subscription_id=subscription.id,
        period=period,
        subscriber_id=subscription.subscriber_id,
        creator_id=creator.id,
        coins=coins,
        share_percent=str(share),
        creator_diamond_units=creator_units,
        platform_diamond_units=platform_units,
    )
    return charge


def _creator_key_share(creator_id: int) -> None:
    """Lock the creator's profile as the charge's foreign key would, but before the
    posting locks the creator's diamonds account: the order a payout request (the
    profile, then the account) and a gift send take them. Taken at the end, by
    the charge's insert, a payout request racing a renewal deadlocked."""
    if connection.vendor != "postgresql":
        return  # SQLite locks the whole database: no order to keep.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {CreatorProfile._meta.db_table} WHERE id = %s "
            "FOR KEY SHARE",
            [creator_id],
        )


def _end(subscription: Subscription, *, status: str, at: datetime.datetime) -> None:
    subscription.status = status
    subscription.next_charge_at = None
    subscription.grace_until = None
    subscription.ended_at = at


def _by_key(subscriber: User, idempotency_key: str) -> Subscription | None:
    return Subscription.objects.filter(
        subscriber=subscriber, idempotency_key=idempotency_key
    ).first()
