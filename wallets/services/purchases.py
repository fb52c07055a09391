"""Buying coins: the spending limits, promotions and the home region on the way."""

import datetime
import logging
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from djmoney.money import Money

from accounts.models import User
from catalog.models import CoinBundle, Region
from catalog.selectors import (
    BASE_CURRENCY,
    bundle_price_current,
    exchange_rate_current,
)
from core.errors import ServiceError
from core.idempotency import replay_check, request_fingerprint

from .. import ledger
from ..models import (
    HomeRegion,
    Promotion,
    Purchase,
    SpendingLimit,
    SpendingLimitOverride,
)
from ..stores import ReceiptRejected, payment_store

logger = logging.getLogger(__name__)


class PurchaseRefused(ServiceError):
    code = "purchase_refused"


@dataclass(frozen=True)
class PurchaseResult:
    purchase: Purchase
    created: bool


def promotions_for(
    *, user: User, bundle: CoinBundle, region: Region, channel: str, when
) -> list[tuple[Promotion, int]]:
    """The promotions a purchase earns, with the extra coins each gives.

    Rule: the best first-purchase bonus (for a user's first purchase ever) plus the
    best running campaign, each a percent of the bundle's coins rounded down.
    """
    running = (
        Promotion.objects.filter(is_active=True)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=when))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=when))
        .filter(Q(channel="") | Q(channel=channel))
        .filter(Q(regions__isnull=True) | Q(regions=region))
        .distinct()
        .order_by("-bonus_percent", "id")
    )
    running = list(running)
    kinds = [Promotion.Kind.CAMPAIGN]
    if any(promo.kind == Promotion.Kind.FIRST_PURCHASE for promo in running) and (
        not Purchase.objects.filter(user=user).exists()
    ):
        kinds.insert(0, Promotion.Kind.FIRST_PURCHASE)
    earned = []
    for kind in kinds:
        best = next((promo for promo in running if promo.kind == kind), None)
        if best is not None:
            extra = int(
                (Decimal(bundle.coins) * best.bonus_percent / 100).to_integral_value(
                    ROUND_FLOOR
                )
            )
            if extra:
                earned.append((best, extra))
    return earned


def _limits_for(user: User, region: Region) -> tuple[Money | None, Money | None]:
    default = SpendingLimit.objects.filter(region=region).first()
    daily = default.daily_limit if default else None
    monthly = default.monthly_limit if default else None
    override = SpendingLimitOverride.objects.filter(user=user, region=region).first()
    if override is not None:
        daily = override.daily_limit if override.daily_limit is not None else daily
        monthly = (
            override.monthly_limit if override.monthly_limit is not None else monthly
        )
    return daily, monthly


def _spent_since(
    user: User, day_start: datetime.datetime, month_start
) -> list[tuple[str, Decimal, Decimal]]:
    """What the user spent since the day's and the month's start, in every region:
    (currency, today, this month) per currency they bought in."""
    totals = (
        Purchase.objects.filter(
            user=user, status=Purchase.Status.COMPLETED, created_at__gte=month_start
        )
        .values("price_currency")
        .annotate(
            day=Sum("price", filter=Q(created_at__gte=day_start)), month=Sum("price")
        )
        .order_by()
    )
    return [
        (row["price_currency"], row["day"] or Decimal("0"), row["month"])
        for row in totals
    ]


def _exchange_rate(source: str, target: str) -> Decimal:
    if source == target:
        return Decimal("1")
    # Rates are from the base currency (USD); either side may be the base itself.
    rates = [
        Decimal("1") if code == BASE_CURRENCY else exchange_rate_current(currency=code)
        for code in (source, target)
    ]
    if None in rates or not rates[0]:
        # Spending that cannot be counted could pass the limit: refuse until it can.
        raise PurchaseRefused(
            f"Your purchases in {source} cannot be counted against your spending "
            f"limit in {target}: there is no exchange rate. Ask support.",
            code="spending_not_comparable",
            status_code=403,
        )
    return rates[1] / rates[0]


def spending_check(*, user: User, region: Region, price: Money, when) -> None:
    """Refuse a purchase that would pass the user's daily or monthly limit there.

    The limits are the region's (the user's home region: purchases are made only
    there); what counts against them is what the user spent in every region, a
    purchase in another currency (made before the home region moved) at today's
    exchange rate. Days and months are UTC calendar days and months; refunded
    purchases don't count.
    """
    daily, monthly = _limits_for(user, region)
    if daily is None and monthly is None:
        return
    day_start = when.astimezone(datetime.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    month_start = day_start.replace(day=1)
    spent = _spent_since(user, day_start, month_start)
    for limit, period in ((daily, "daily"), (monthly, "monthly")):
        if limit is None:
            continue
        currency = str(limit.currency)
        rates = {code: _exchange_rate(code, currency) for code, _, _ in spent}
        so_far = sum(
            (
                (today if period == "daily" else month) * rates[code]
                for code, today, month in spent
            ),
            Decimal("0"),
        )
        if so_far + _in(price, currency) > limit.amount:
            left = max(limit.amount - so_far, Decimal("0"))
            raise PurchaseRefused(
                f"This purchase would pass your {period} spending limit of {limit} "
                f"in {region.code}; {_money(left, currency)} left.",
                code=f"{period}_limit_reached",
                status_code=403,
            )


def _in(price: Money, currency: str) -> Decimal:
    return price.amount * _exchange_rate(str(price.currency), currency)


def _money(amount: Decimal, currency: str) -> Money:
    # A converted amount has many places; say it to the cent, never more than left.
    return Money(amount.quantize(Decimal("0.01"), rounding=ROUND_FLOOR), currency)


def purchase_record(
    *,
    user: User,
    bundle: CoinBundle,
    region: Region,
    channel: str,
    store: str,
    receipt: str,
    idempotency_key: str,
    now: datetime.datetime | None = None,
) -> PurchaseResult:
    """Verify a store receipt and credit the bundle's coins at today's price.

    The same Idempotency-Key, or the same store transaction by the same user, returns
    the first purchase and moves nothing, also when the two requests race; the
    same key with another request is refused (`IdempotencyKeyReused`).
    """
    now = now or timezone.now()
    fingerprint = request_fingerprint(
        "purchase",
        bundle=bundle,
        region=region,
        channel=channel,
        store=store,
        receipt=receipt,
    )
    replay = Purchase.objects.filter(user=user, idempotency_key=idempotency_key).first()
    if replay is not None:
        replay_check(replay, fingerprint=fingerprint)
        return PurchaseResult(replay, created=False)

    if not user.is_adult_on(now.date()):
        raise PurchaseRefused(
            "Buying coins requires age 18 or over"
            + ("; add your birth date first." if user.birth_date is None else "."),
            code="under_age",
            status_code=403,
        )
    store_channel = Purchase.CHANNEL_OF_STORE[store]
    if store_channel != channel:
        raise PurchaseRefused(
            f"The {store} store sells on the {store_channel} channel.",
            field="store",
        )
    home = HomeRegion.objects.filter(user=user).select_related("region").first()
    if home is not None:
        _check_home_region(home, region)
    if not (bundle.is_active and region.is_active):
        raise PurchaseRefused("This bundle is not on sale there.", field="bundle")
    bundle_price = bundle_price_current(
        bundle=bundle, region=region, channel=channel, when=now
    )
    if bundle_price is None:
        raise PurchaseRefused(
            f"This bundle is not on sale in {region.code} on the {channel} channel.",
            field="bundle",
        )

    # The store is asked outside any transaction: no lock waits on the network.
    verified = payment_store(store).verify_receipt(
        receipt, sku=bundle.sku, user_id=user.id
    )
    if verified.sku != bundle.sku:
        raise ReceiptRejected(
            f"This receipt is for {verified.sku}, not {bundle.sku}.", field="receipt"
        )
    if verified.storefront is not None and verified.storefront != region.code:
        # Prices and spending limits are the region's: the store says where it charged.
        raise ReceiptRejected(
            f"This receipt was bought in the {verified.storefront} storefront, "
            f"not in {region.code}.",
            field="region",
        )

    with transaction.atomic():
        # One purchase per user at a time: the limit check and the duplicate checks
        # below then see every earlier purchase of this user.
        accounts = ledger.coin_accounts_lock(user)
        existing = _existing_purchase(user, store, verified, idempotency_key)
        if existing is not None:
            # Found by its store transaction under another key: a replay as well.
            if existing.idempotency_key == idempotency_key:
                replay_check(existing, fingerprint=fingerprint)
            return PurchaseResult(existing, created=False)
        if home is None:
            # A first purchase names the home region; two racing in two regions
            # queue on the lock above, and the second sees the first's.
            _home_region_claim(
                user=user,
                region=region,
                store=store,
                storefront=verified.storefront,
                now=now,
            )
        spending_check(user=user, region=region, price=bundle_price.price, when=now)
        promotions = promotions_for(
            user=user, bundle=bundle, region=region, channel=channel, when=now
        )
        try:
            # No savepoint: a duplicate ends the whole transaction anyway.
            purchase = Purchase.objects.create(
                user=user,
                bundle=bundle,
                region=region,
                channel=channel,
                store=store,
                store_transaction_id=verified.transaction_id,
                idempotency_key=idempotency_key,
                request_fingerprint=fingerprint,
                bundle_price=bundle_price,
                price=bundle_price.price,
                coins=bundle.coins,
                bundle_bonus_coins=bundle.bonus_coins,
                promotion_bonus_coins=sum(extra for _, extra in promotions),
                paid_coins_remaining=bundle.coins,
                created_at=now,
            )
        except IntegrityError:
            # Another user's request holds this store transaction.
            raise PurchaseRefused(
                "This receipt was already used for another purchase.",
                field="receipt",
                code="receipt_already_used",
                status_code=409,
            ) from None
        if promotions:
            purchase.promotions.add(*(promo for promo, _ in promotions))
        ledger.purchase_post(purchase=purchase, accounts=accounts)
    logger.info(
        "Purchase %s: %s coins for %s", purchase.id, purchase.coins, purchase.price
    )
    return PurchaseResult(purchase, created=True)


def _check_home_region(home: HomeRegion, region: Region) -> None:
    if home.region_id != region.id:
        raise PurchaseRefused(
            f"Your home region is {home.region.code}: you buy coins there, not in "
            f"{region.code}. Support can change your home region.",
            field="region",
            code="not_home_region",
        )


def _home_region_claim(
    *, user: User, region: Region, store: str, storefront: str | None, now
) -> HomeRegion:
    """The user's first purchase sets their home region: the region it is made in,
    which is the store's storefront where the store reports one (checked before)."""
    home = HomeRegion.objects.filter(user=user).select_related("region").first()
    if home is not None:
        _check_home_region(home, region)
        return home
    store_name = Purchase.Store(store).label
    if storefront is not None:
        source = HomeRegion.Source.STOREFRONT
        reason = f"The {store_name} charged the first purchase in {storefront}."
    else:
        source = HomeRegion.Source.FIRST_PURCHASE
        reason = (
            f"The first purchase named {region.code}; the {store_name} reported "
            "no storefront."
        )
    return HomeRegion.objects.create(
        user=user, region=region, source=source, reason=reason, set_at=now
    )


def _existing_purchase(user, store, verified, idempotency_key) -> Purchase | None:
    existing = Purchase.objects.filter(
        Q(user=user, idempotency_key=idempotency_key)
        | Q(store=store, store_transaction_id=verified.transaction_id)
    ).first()
    if existing is not None and existing.user_id != user.id:
        raise PurchaseRefused(
            "This receipt was already used for another purchase.",
            field="receipt",
            code="receipt_already_used",
            status_code=409,
        )
    return existing
