import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, Min, OuterRef, Prefetch, Q, QuerySet
from djmoney.contrib.exchange.exceptions import MissingRate
from djmoney.contrib.exchange.models import get_rate

from core import prepared, rows

from .exchange import exchange_backend_class
from .models import BundlePrice, CoinBundle, Gift, GiftPriceChange, Region

# Bundle base prices are in USD; a derived price records the USD rate it used.
BASE_CURRENCY = "USD"
RATE_PLACES = Decimal("0.00000001")


def gift_list_for_client(
    *, when: datetime.datetime, region: Region | None, placement: str | None
):
    """What a client may send at `when`: active, in its window, offered there."""
    gifts = Gift.objects.available_at(when).offered_in(region)
    if placement:
        gifts = gifts.sendable_in(placement)
    return gifts.order_by("sort_order", "coin_price", "id")


def gifts_with_pending_price_changes(gifts: QuerySet[Gift]) -> QuerySet[Gift]:
    """`gifts`, each with `pending_price_changes`: its scheduled prices not live
    yet, soonest first; one query for the whole page of gifts."""
    return gifts.prefetch_related(
        Prefetch(
            "price_changes",
            queryset=GiftPriceChange.objects.filter(applied_at__isnull=True).order_by(
                "effective_at", "id"
            ),
            to_attr="pending_price_changes",
        )
    )


def gift_next_change_after(when: datetime.datetime) -> datetime.datetime | None:
    """The next moment an active gift's window or sponsor campaign opens or closes:
    the client's gift list changes then without any write."""
    edges = Gift.objects.filter(is_active=True).aggregate(
        **{
            field: Min(field, filter=Q(**{f"{field}__gt": when}))
            for field in (
                "available_from",
                "available_until",
                "sponsor_starts_at",
                "sponsor_ends_at",
            )
        }
    )
    return min((edge for edge in edges.values() if edge is not None), default=None)


def bundle_price_next_after(when: datetime.datetime) -> datetime.datetime | None:
    """The next moment a scheduled bundle price comes into force."""
    return BundlePrice.objects.filter(effective_at__gt=when).aggregate(
        next=Min("effective_at")
    )["next"]


def _later_in_same_cell(**effective_at) -> QuerySet[BundlePrice]:
    return BundlePrice.objects.filter(
        bundle=OuterRef("bundle"),
        region=OuterRef("region"),
        channel=OuterRef("channel"),
        effective_at__gt=OuterRef("effective_at"),
        **effective_at,
    )


def bundle_prices_in_force(*, when: datetime.datetime) -> QuerySet[BundlePrice]:
    """The price in force at `when` in each bundle, region and channel: one row each."""
    return BundlePrice.objects.filter(effective_at__lte=when).exclude(
        Exists(_later_in_same_cell(effective_at__lte=when))
    )


def bundle_prices_latest() -> QuerySet[BundlePrice]:
    """The last row of each bundle, region and channel, scheduled ones included."""
    return BundlePrice.objects.exclude(Exists(_later_in_same_cell()))


def bundle_price_in_force_sql(
    *, bundle_id: int, region_id: int, channel: str, when: datetime.datetime
) -> tuple[str, list]:
    """SQL selecting the id of the price in force at `when` in one bundle, region and
    channel (the row with the latest `effective_at` up to then; one per moment), and
    its parameters: `bundle_price_current` runs it, and the purchase embeds it in the
    one statement that gathers its reads."""
    sql = (
        f"SELECT in_force.id FROM {BundlePrice._meta.db_table} in_force "
        "WHERE in_force.bundle_id = %s AND in_force.region_id = %s "
        "AND in_force.channel = %s AND in_force.effective_at <= %s "
        "ORDER BY in_force.effective_at DESC LIMIT 1"
    )
    return sql, [
        bundle_id,
        region_id,
        channel,
        connection.ops.adapt_datetimefield_value(when),
    ]


def bundle_price_current(
    *, bundle: CoinBundle, region: Region, channel: str, when: datetime.datetime
) -> BundlePrice | None:
    """The price of `bundle` in `region` and `channel` at `when`, or None."""
    sql, params = bundle_price_in_force_sql(
        bundle_id=bundle.id, region_id=region.id, channel=channel, when=when
    )
    prices = BundlePrice.objects.raw(
        f"SELECT * FROM {BundlePrice._meta.db_table} WHERE id = ({sql})", params
    )
    return next(iter(prices), None)


def bundle_and_region_by_code(
    *, sku: str | None, region_code: str | None
) -> tuple[CoinBundle | None, Region | None]:
    """The bundle with `sku` (on sale or not) and the *active* region with
    `region_code`, each None when there is none: what a purchase request names.

    One fixed statement (prepared): every purchase runs it, and the ORM took about
    0.3 ms to build each of the two lookups.
    """
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            f"SELECT {rows.columns(CoinBundle, 'bundle')}, "
            f"{rows.columns(Region, 'region')} FROM (SELECT 1) one "
            f"LEFT JOIN {CoinBundle._meta.db_table} bundle ON bundle.sku = %s "
            f"LEFT JOIN {Region._meta.db_table} region "
            "ON region.code = %s AND region.is_active",
            [sku, region_code],
        )
        row = cursor.fetchone()
    split = rows.width(CoinBundle)
    return (
        rows.instance(CoinBundle, row[:split], db=connection.alias),
        rows.instance(Region, row[split:], db=connection.alias),
    )


def bundles_on_sale(
    *, region: Region, channel: str, when: datetime.datetime
) -> list[tuple[CoinBundle, BundlePrice]]:
    """Active bundles with a price in `region` and `channel` at `when`, each with that
    price, in sort order. An inactive region sells nothing."""
    if not region.is_active:
        return []
    prices = (
        bundle_prices_in_force(when=when)
        .filter(region=region, channel=channel, bundle__is_active=True)
        .select_related("bundle", "region")
        .order_by("bundle__sort_order", "bundle__coins", "bundle__id")
    )
    return [(price.bundle, price) for price in prices]


def exchange_rate_current(*, currency: str) -> Decimal | None:
    """USD to `currency` at the configured backend's rate, to the 8 places prices
    record; None when the backend has no such rate."""
    try:
        rate = get_rate(BASE_CURRENCY, currency, backend=exchange_backend_class().name)
    except MissingRate:
        return None
    return Decimal(rate).quantize(RATE_PLACES)


def bundle_price_history(*, when: datetime.datetime) -> QuerySet[BundlePrice]:
    """Every price row, each with `replaced`: whether a later one was in force by
    `when`. A row is scheduled, in force, or replaced."""
    return BundlePrice.objects.annotate(
        replaced=Exists(_later_in_same_cell(effective_at__lte=when))
    )


# A history row's status at a moment: the value a filter takes and its label.
PRICE_STATUSES = {
    "in_force": "In force now",
    "scheduled": "Scheduled",
    "replaced": "Replaced",
}


def bundle_price_history_with_status(
    prices: QuerySet[BundlePrice], *, status: str | None, when: datetime.datetime
) -> QuerySet[BundlePrice]:
    """The rows of `prices` (from `bundle_price_history` at `when`) in `status`;
    all of them for no status."""
    if status == "in_force":
        return prices.filter(effective_at__lte=when, replaced=False)
    if status == "scheduled":
        return prices.filter(effective_at__gt=when)
    if status == "replaced":
        return prices.filter(replaced=True)
    return prices


def bundle_price_status(price: BundlePrice, *, when: datetime.datetime) -> str:
    """How a row from `bundle_price_history` at `when` reads: scheduled, in force
    or replaced."""
    if price.effective_at > when:
        return "scheduled"
    return "replaced" if price.replaced else "in force"


@dataclass(frozen=True)
class PriceCell:
    channel: str
    current: BundlePrice | None
    upcoming: BundlePrice | None


def bundle_price_grid(
    *, bundle: CoinBundle, when: datetime.datetime
) -> list[tuple[Region, list[PriceCell]]]:
    """Each region with one cell per channel: the price in force at `when` and the
    next scheduled one. An unsaved bundle has an empty grid of every region."""
    current, upcoming = {}, {}
    if bundle.pk is not None:
        for price in bundle_prices_in_force(when=when).filter(bundle=bundle):
            current[price.region_id, price.channel] = price
        # Latest first, so each cell keeps the earliest scheduled row.
        for price in BundlePrice.objects.filter(
            bundle=bundle, effective_at__gt=when
        ).order_by("-effective_at"):
            upcoming[price.region_id, price.channel] = price
    return [
        (
            region,
            [
                PriceCell(
                    channel=channel,
                    current=current.get((region.id, channel)),
                    upcoming=upcoming.get((region.id, channel)),
                )
                for channel in BundlePrice.Channel.values
            ],
        )
        for region in Region.objects.order_by("code")
    ]


@dataclass(frozen=True)
class RegionPriceRow:
    bundle: CoinBundle
    current: BundlePrice | None
    upcoming: BundlePrice | None


def region_price_grid(
    *, region: Region, channel: str, when: datetime.datetime
) -> list[RegionPriceRow]:
    """Every bundle, in sort order, with its price in `region` and `channel` in force
    at `when` and the next scheduled one: three queries, however many bundles."""
    current, upcoming = {}, {}
    cell = {"region": region, "channel": channel}
    for price in bundle_prices_in_force(when=when).filter(**cell):
        current[price.bundle_id] = price
    # Latest first, so each bundle keeps its earliest scheduled row.
    for price in BundlePrice.objects.filter(effective_at__gt=when, **cell).order_by(
        "-effective_at"
    ):
        upcoming[price.bundle_id] = price
    return [
        RegionPriceRow(
            bundle=bundle,
            current=current.get(bundle.id),
            upcoming=upcoming.get(bundle.id),
        )
        for bundle in CoinBundle.objects.order_by("sort_order", "coins", "id")
    ]
