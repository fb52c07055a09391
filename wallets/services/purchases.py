"""Buying coins: the spending limits, promotions and the home region on the way.

Every purchase request runs `purchase_record`, so what its rules read is gathered
into two fixed SQL statements: one before the store is asked (`_facts_before`) and
one under the buyer's lock (`_facts_locked`). Through the ORM they were nine
statements and half a purchase's time, each built anew per request. The rules stay
in Python, each in one function; wallets/tests/test_purchase_reads.py holds each
read to the ORM query it replaced.
"""

import datetime
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from djmoney.money import Money

from accounts.models import User
from catalog.models import BundlePrice, CoinBundle, Region
from catalog.selectors import (
    BASE_CURRENCY,
    bundle_price_in_force_sql,
    exchange_rate_current,
)
from core import prepared
from core.errors import ServiceError
from core.fields import from_minor_units
from core.idempotency import replay_check, request_fingerprint
from core.logs import money_event

from .. import ledger
from ..metrics import purchase_counted
from ..models import (
    HomeRegion,
    Promotion,
    Purchase,
    PurchasePromotion,
    SpendingLimit,
    SpendingLimitOverride,
)
from ..selectors import Limits, limits_in_force, spending_periods
from ..stores import ReceiptRejected, payment_store


class PurchaseRefused(ServiceError):
    code = "purchase_refused"


@dataclass(frozen=True)
class PurchaseResult:
    purchase: Purchase
    created: bool


@dataclass(frozen=True)
class RunningPromotion:
    id: int
    kind: str
    bonus_percent: Decimal


def promotions_for(
    *, bundle: CoinBundle, running: list[RunningPromotion], purchased_before: bool
) -> list[tuple[int, int]]:
    """The promotions a purchase earns, as (promotion id, extra coins it gives), of
    those `running` (best first; `_facts_locked` reads them).

    Rule: the best first-purchase bonus (for a user's first purchase ever) plus the
    best running campaign, each a percent of the bundle's coins rounded down.
    """
    kinds = [Promotion.Kind.CAMPAIGN]
    if not purchased_before:
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
                earned.append((best.id, extra))
    return earned


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


def spending_check(
    *,
    limits: Limits,
    spent: list[tuple[str, Decimal, Decimal]],
    region: Region,
    price: Money,
) -> None:
    """Refuse a purchase that would pass the user's daily or monthly limit there.

    The limits are the region's (the user's home region: purchases are made only
    there) unless support set the user's own; what counts against them (`spent`:
    currency, today, this month) is what the user spent in every region, a purchase
    in another currency (made before the home region moved) at today's exchange
    rate. Days and months are UTC calendar days and months (`spending_periods`);
    refunded purchases don't count.
    """
    daily, monthly = limits
    if daily is None and monthly is None:
        return
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


def _money_from_units(units, currency: str, model, field_name: str) -> Money:
    # As the field's descriptor builds it from a row: minor units, the field's places.
    places = model._meta.get_field(field_name).decimal_places
    return Money(
        amount=from_minor_units(units, places), currency=currency, decimal_places=places
    )


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
    before = _facts_before(
        user=user,
        bundle=bundle,
        region=region,
        channel=channel,
        idempotency_key=idempotency_key,
        when=now,
    )
    if before.replay_id is not None:
        replay = _purchase_read(before.replay_id)
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
    if before.home_region_id is not None:
        _check_home_region(before.home_region_id, before.home_region_code, region)
    if not (bundle.is_active and region.is_active):
        raise PurchaseRefused("This bundle is not on sale there.", field="bundle")
    if before.price is None:
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
        locked = _facts_locked(
            user=user,
            region=region,
            channel=channel,
            store=store,
            transaction_id=verified.transaction_id,
            idempotency_key=idempotency_key,
            when=now,
        )
        if locked.existing_id is not None:
            existing = _existing_purchase(user, locked, idempotency_key, fingerprint)
            return PurchaseResult(existing, created=False)
        if before.home_region_id is None:
            # A first purchase names the home region; two racing in two regions
            # queue on the lock above, and the second sees the first's.
            _home_region_claim(
                user=user,
                region=region,
                store=store,
                storefront=verified.storefront,
                now=now,
            )
        spending_check(
            limits=limits_in_force(locked.region_limits, locked.override),
            spent=locked.spent,
            region=region,
            price=before.price,
        )
        promotions = promotions_for(
            bundle=bundle,
            running=locked.running,
            purchased_before=locked.purchased_before,
        )
        purchase = Purchase(
            user=user,
            bundle=bundle,
            region=region,
            channel=channel,
            store=store,
            store_transaction_id=verified.transaction_id,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            bundle_price_id=before.price_id,
            price=before.price,
            coins=bundle.coins,
            bundle_bonus_coins=bundle.bonus_coins,
            promotion_bonus_coins=sum(extra for _, extra in promotions),
            paid_coins_remaining=bundle.coins,
            created_at=now,
        )
        try:
            # No savepoint: a duplicate ends the whole transaction anyway. Not
            # `objects.create`: djmoney's manager would first rewrite every argument.
            purchase.save(force_insert=True)
        except IntegrityError:
            # Another user's request holds this store transaction.
            raise PurchaseRefused(
                "This receipt was already used for another purchase.",
                field="receipt",
                code="receipt_already_used",
                status_code=409,
            ) from None
        if promotions:
            # One INSERT; `promotions.add` would first look for links already there.
            PurchasePromotion.objects.bulk_create(
                PurchasePromotion(purchase=purchase, promotion_id=promotion_id)
                for promotion_id, _ in promotions
            )
        ledger.purchase_post(purchase=purchase, accounts=accounts)
    money_event(
        "purchase_recorded",
        purchase_id=purchase.id,
        buyer_id=user.id,
        bundle=bundle.sku,
        region=region.code,
        store=store,
        store_transaction_id=verified.transaction_id,
        price=str(purchase.price.amount),
        currency=str(purchase.price.currency),
        coins=purchase.coins,
        bonus_coins=purchase.bundle_bonus_coins + purchase.promotion_bonus_coins,
    )
    purchase_counted(
        currency=str(purchase.price.currency),
        store=store,
        price=purchase.price.amount,
        paid_coins=purchase.coins,
        bonus_coins=purchase.bundle_bonus_coins + purchase.promotion_bonus_coins,
    )
    return PurchaseResult(purchase, created=True)


def _check_home_region(home_region_id: int, home_code: str, region: Region) -> None:
    if home_region_id != region.id:
        raise PurchaseRefused(
            f"Your home region is {home_code}: you buy coins there, not in "
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
        _check_home_region(home.region_id, home.region.code, region)
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


def _existing_purchase(
    user: User, locked: "_Locked", idempotency_key: str, fingerprint: str
) -> Purchase:
    """The purchase this request repeats, found by its key or its store transaction;
    the transaction held by another user's purchase is refused."""
    if locked.existing_user_id != user.id:
        raise PurchaseRefused(
            "This receipt was already used for another purchase.",
            field="receipt",
            code="receipt_already_used",
            status_code=409,
        )
    existing = _purchase_read(locked.existing_id)
    # Found by its store transaction under another key: a replay as well.
    if existing.idempotency_key == idempotency_key:
        replay_check(existing, fingerprint=fingerprint)
    return existing


def _purchase_read(purchase_id: int) -> Purchase:
    # A repeat answers with the first purchase, its bundle and region included.
    return Purchase.objects.select_related("bundle", "region").get(id=purchase_id)


# The reads. Fixed SQL, written out once and prepared per connection: the ORM spent
# 0.3 to 0.8 ms building each of the statements they replace, on every purchase.
# Amounts come back as the MoneyFields store them, integer minor units.


@dataclass(frozen=True)
class _Before:
    """What a purchase reads before the store is asked."""

    # The purchase this user already made with this Idempotency-Key.
    replay_id: int | None
    home_region_id: int | None
    home_region_code: str | None
    # The price in force (catalog.selectors.bundle_price_in_force_sql).
    price_id: int | None
    price: Money | None


def _facts_before(
    *,
    user: User,
    bundle: CoinBundle,
    region: Region,
    channel: str,
    idempotency_key: str,
    when: datetime.datetime,
) -> _Before:
    price_sql, price_params = bundle_price_in_force_sql(
        bundle_id=bundle.id, region_id=region.id, channel=channel, when=when
    )
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            f"""
            SELECT replay.id, home.region_id, home_region.code,
                   price.id, price.price, price.price_currency
            FROM (SELECT 1 AS one) asked
            LEFT JOIN {Purchase._meta.db_table} replay
                ON replay.user_id = %s AND replay.idempotency_key = %s
            LEFT JOIN {HomeRegion._meta.db_table} home ON home.user_id = %s
            LEFT JOIN {Region._meta.db_table} home_region
                ON home_region.id = home.region_id
            LEFT JOIN {BundlePrice._meta.db_table} price ON price.id = ({price_sql})
            """,
            [user.id, idempotency_key, user.id, *price_params],
        )
        replay_id, home_id, home_code, price_id, units, currency = cursor.fetchone()
    return _Before(
        replay_id=replay_id,
        home_region_id=home_id,
        home_region_code=home_code,
        price_id=price_id,
        price=None
        if price_id is None
        else _money_from_units(units, currency, BundlePrice, "price"),
    )


@dataclass(frozen=True)
class _Locked:
    """What a purchase reads under the buyer's lock."""

    # The newest purchase with this user's key or with this store transaction.
    existing_id: int | None
    existing_user_id: int | None
    # (daily, monthly): the region's limits, and the user's own (either may be None).
    region_limits: Limits | None
    override: Limits | None
    # (currency, today, this month): completed purchases in each currency.
    spent: list[tuple[str, Decimal, Decimal]]
    # Active, in their window, for this channel and region; best first.
    running: list[RunningPromotion]
    purchased_before: bool


def _facts_locked(
    *,
    user: User,
    region: Region,
    channel: str,
    store: str,
    transaction_id: str,
    idempotency_key: str,
    when: datetime.datetime,
) -> _Locked:
    """One statement, one row per fact (the first column says which): the rows'
    shapes differ, so each fills the columns it needs and leaves the rest NULL."""
    day_start, month_start = spending_periods(when)
    at = connection.ops.adapt_datetimefield_value
    purchases = Purchase._meta.db_table
    promotions = Promotion._meta.db_table
    promotion_regions = Promotion.regions.through._meta.db_table
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            f"""
            SELECT 'existing', existing.id, existing.user_id, NULL, NULL, NULL
            FROM (
                SELECT id, user_id FROM {purchases}
                WHERE (user_id = %s AND idempotency_key = %s)
                   OR (store = %s AND store_transaction_id = %s)
                ORDER BY created_at DESC, id DESC LIMIT 1
            ) existing
            UNION ALL
            SELECT 'limits', NULL, daily_limit, monthly_limit,
                   daily_limit_currency, monthly_limit_currency
            FROM {SpendingLimit._meta.db_table} WHERE region_id = %s
            UNION ALL
            SELECT 'override', NULL, daily_limit, monthly_limit,
                   daily_limit_currency, monthly_limit_currency
            FROM {SpendingLimitOverride._meta.db_table}
            WHERE user_id = %s AND region_id = %s
            UNION ALL
            SELECT 'spent', NULL,
                   SUM(CASE WHEN created_at >= %s THEN price ELSE 0 END), SUM(price),
                   price_currency, NULL
            FROM {purchases}
            WHERE user_id = %s AND status = %s AND created_at >= %s
            GROUP BY price_currency
            UNION ALL
            SELECT 'promotion', promo.id, NULL, NULL,
                   promo.kind, CAST(promo.bonus_percent AS TEXT)
            FROM {promotions} promo
            WHERE promo.is_active
              AND (promo.starts_at IS NULL OR promo.starts_at <= %s)
              AND (promo.ends_at IS NULL OR promo.ends_at > %s)
              AND (promo.channel = '' OR promo.channel = %s)
              AND (
                NOT EXISTS (
                    SELECT 1 FROM {promotion_regions} link
                    WHERE link.promotion_id = promo.id
                )
                OR EXISTS (
                    SELECT 1 FROM {promotion_regions} link
                    WHERE link.promotion_id = promo.id AND link.region_id = %s
                )
              )
            UNION ALL
            SELECT 'purchased', NULL, NULL, NULL, NULL, NULL
            WHERE EXISTS (SELECT 1 FROM {purchases} WHERE user_id = %s)
            """,
            [
                user.id,
                idempotency_key,
                store,
                transaction_id,
                region.id,
                user.id,
                region.id,
                at(day_start),
                user.id,
                Purchase.Status.COMPLETED,
                at(month_start),
                at(when),
                at(when),
                channel,
                region.id,
                user.id,
            ],
        )
        rows = cursor.fetchall()
    price_places = Purchase._meta.get_field("price").decimal_places

    def limits(model, daily, monthly, daily_currency, monthly_currency) -> Limits:
        return (
            None
            if daily is None
            else _money_from_units(daily, daily_currency, model, "daily_limit"),
            None
            if monthly is None
            else _money_from_units(monthly, monthly_currency, model, "monthly_limit"),
        )

    existing_id = existing_user_id = region_limits = override = None
    spent, running, purchased_before = [], [], False
    for fact, row_id, first, second, first_text, second_text in rows:
        if fact == "existing":
            # int: on PostgreSQL the column is NUMERIC, shared with the sums.
            existing_id, existing_user_id = row_id, int(first)
        elif fact == "limits":
            region_limits = limits(
                SpendingLimit, first, second, first_text, second_text
            )
        elif fact == "override":
            override = limits(
                SpendingLimitOverride, first, second, first_text, second_text
            )
        elif fact == "spent":
            spent.append(
                (
                    first_text,
                    from_minor_units(first, price_places),
                    from_minor_units(second, price_places),
                )
            )
        elif fact == "promotion":
            # As text: exact on SQLite too, which keeps decimals as floats.
            running.append(
                RunningPromotion(
                    id=row_id, kind=first_text, bonus_percent=Decimal(second_text)
                )
            )
        elif fact == "purchased":
            purchased_before = True
    running.sort(key=lambda promo: (-promo.bonus_percent, promo.id))
    return _Locked(
        existing_id=existing_id,
        existing_user_id=existing_user_id,
        region_limits=region_limits,
        override=override,
        spent=spent,
        running=running,
        purchased_before=purchased_before,
    )
