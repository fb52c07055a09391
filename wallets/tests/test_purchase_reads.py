"""The purchase's fixed-SQL reads give what the ORM queries they replaced gave.

A purchase gathers its reads into a few written-out statements (see
wallets/services/purchases.py); each test here runs one of them and the ORM
query it replaced, kept below as the reference, on random rows: purchases in
several currencies around a day's and a month's edge, refunded or not, by the buyer
or someone else; limits and overrides with empty sides; promotions in and out of
their window, channel and regions; prices scheduled before and after the moment.
On SQLite and PostgreSQL alike. Each Hypothesis example runs in its own savepoint,
rolled back after it, as in tests/test_money_properties.py.
"""

import contextlib
import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Q, Sum
from djmoney.money import Money
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.models import BundlePrice, Region
from catalog.selectors import (
    bundle_and_region_by_code,
    bundle_price_current,
    bundle_prices_in_force,
)
from wallets import selectors
from wallets.api.serializers import PurchaseCreateSerializer
from wallets.models import (
    HomeRegion,
    Promotion,
    Purchase,
    SpendingLimit,
    SpendingLimitOverride,
)
from wallets.services import purchases

from .factories import bundle_create, price_create, region_create, user_create

pytestmark = pytest.mark.django_db
EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
UTC = datetime.UTC
# A moment near the end of a month, so purchases fall on both sides of the
# day's and the month's start.
ANCHOR = datetime.datetime(2026, 3, 31, 22, 0, tzinfo=UTC)
REGIONS = {"US": "USD", "JP": "JPY", "GB": "GBP"}
STORES = ["apple", "google", "web"]
KEYS = ["k1", "k2", "k3"]
TRANSACTIONS = ["t1", "t2", "t3"]


@contextlib.contextmanager
def _example():
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


# Day and month starts on both sides of the anchor, a microsecond either side too.
EDGES = [
    edge + datetime.timedelta(microseconds=shift)
    for edge in (
        datetime.datetime(2026, 3, 1, tzinfo=UTC),
        datetime.datetime(2026, 3, 31, tzinfo=UTC),
        ANCHOR,
        datetime.datetime(2026, 4, 1, tzinfo=UTC),
    )
    for shift in (-1, 0, 1)
]
FORTY_DAYS_US = 40 * 24 * 3600 * 10**6


def whens():
    """The moment of the purchase: an edge, or any microsecond around the anchor."""
    return st.one_of(
        st.sampled_from(EDGES),
        st.integers(-FORTY_DAYS_US, 3 * 3600 * 10**6).map(
            lambda us: ANCHOR + datetime.timedelta(microseconds=us)
        ),
    )


def moments():
    """A row's moment, relative to the purchase's moment, its day's start or its
    month's start (`at`): often exactly on one of them or a microsecond off, so
    rows fall on the very edges the reads compare."""
    return st.tuples(
        st.sampled_from(["when", "day", "month"]),
        st.one_of(
            st.just(0),
            st.sampled_from([-1, 1]),
            st.integers(-FORTY_DAYS_US, FORTY_DAYS_US),
        ),
    )


def at(moment, when):
    base, shift_us = moment
    day, month = selectors.spending_periods(when)
    start = {"when": when, "day": day, "month": month}[base]
    return start + datetime.timedelta(microseconds=shift_us)


def cents(low, high):
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-2))


# --- The references: the ORM queries the fixed SQL replaced ---------------------


def orm_existing(user, store, transaction_id, key):
    return Purchase.objects.filter(
        Q(user=user, idempotency_key=key)
        | Q(store=store, store_transaction_id=transaction_id)
    ).first()


def orm_limits(user, region):
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


def orm_spent(user, day_start, month_start):
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
    return {
        row["price_currency"]: (row["day"] or Decimal("0"), row["month"])
        for row in totals
    }


def orm_running(region, channel, when):
    return list(
        Promotion.objects.filter(is_active=True)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=when))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=when))
        .filter(Q(channel="") | Q(channel=channel))
        .filter(Q(regions__isnull=True) | Q(regions=region))
        .distinct()
        .order_by("-bonus_percent", "id")
    )


def orm_price(bundle, region, channel, when):
    return (
        BundlePrice.objects.filter(
            bundle=bundle, region=region, channel=channel, effective_at__lte=when
        )
        .order_by("-effective_at")
        .first()
    )


# --- The rows -------------------------------------------------------------------

purchase_rows = st.lists(
    st.fixed_dictionaries(
        {
            "mine": st.sampled_from([True, True, False]),
            "region": st.sampled_from(sorted(REGIONS)),
            "price": cents(1, 2_000_000),
            "refunded": st.booleans(),
            "at": moments(),
            "key": st.sampled_from(KEYS),
            "store": st.sampled_from(STORES),
            "txn": st.sampled_from(TRANSACTIONS),
        }
    ),
    max_size=8,
)
limit_rows = st.one_of(
    st.none(),
    st.tuples(cents(1, 100_000), cents(0, 100_000)).map(
        lambda pair: (pair[0], pair[0] + pair[1])
    ),
)
override_rows = st.one_of(
    st.none(),
    st.tuples(
        st.one_of(st.none(), cents(0, 100_000)),
        st.one_of(st.none(), cents(0, 100_000)),
    ),
)
window_edges = st.one_of(st.none(), moments())
promotion_rows = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(Promotion.Kind.values),
            # Few distinct percents, so ties are ordered by id.
            "percent": st.sampled_from(
                [Decimal("0.01"), Decimal("5"), Decimal("12.5"), Decimal("33.33")]
                + [Decimal("499.99"), Decimal("500")]
            ),
            "channel": st.sampled_from(["", "app", "web"]),
            "starts": window_edges,
            "ends": window_edges,
            "active": st.booleans(),
            "regions": st.lists(st.sampled_from(["US", "JP"]), unique=True),
        }
    ),
    max_size=6,
)


def _regions():
    return {
        code: region_create(code, currency=currency)
        for code, currency in REGIONS.items()
    }


def _purchases_create(rows, *, me, other, regions, bundle, when):
    prices = {
        code: price_create(bundle, region, "1.00") for code, region in regions.items()
    }
    seen_keys, seen_transactions = set(), set()
    for row in rows:
        user = me if row["mine"] else other
        # The database holds each key once per user and each store transaction once.
        if (user.id, row["key"]) in seen_keys or (
            row["store"],
            row["txn"],
        ) in seen_transactions:
            continue
        seen_keys.add((user.id, row["key"]))
        seen_transactions.add((row["store"], row["txn"]))
        region = regions[row["region"]]
        Purchase.objects.create(
            user=user,
            bundle=bundle,
            region=region,
            channel=Purchase.CHANNEL_OF_STORE[row["store"]],
            store=row["store"],
            store_transaction_id=row["txn"],
            idempotency_key=row["key"],
            bundle_price=prices[row["region"]],
            price=Money(row["price"], REGIONS[row["region"]]),
            coins=100,
            paid_coins_remaining=0 if row["refunded"] else 100,
            status="refunded" if row["refunded"] else "completed",
            refunded_at=at(row["at"], when) if row["refunded"] else None,
            created_at=at(row["at"], when),
        )


def _promotions_create(rows, regions, when):
    for number, row in enumerate(rows):
        starts = None if row["starts"] is None else at(row["starts"], when)
        ends = None if row["ends"] is None else at(row["ends"], when)
        if starts is not None and ends is not None and ends <= starts:
            ends = None  # A window ends after it starts (a constraint).
        promotion = Promotion.objects.create(
            name=f"promo {number}",
            kind=row["kind"],
            bonus_percent=row["percent"],
            channel=row["channel"],
            starts_at=starts,
            ends_at=ends,
            is_active=row["active"],
        )
        promotion.regions.set([regions[code] for code in row["regions"]])


@EXAMPLES
@given(
    rows=purchase_rows,
    limit=limit_rows,
    override=override_rows,
    promotions=promotion_rows,
    when=whens(),
    region_code=st.sampled_from(sorted(REGIONS)),
    channel=st.sampled_from(["app", "web"]),
    store=st.sampled_from(STORES),
    key=st.sampled_from(KEYS),
    txn=st.sampled_from(TRANSACTIONS),
)
def test_the_read_under_the_lock_agrees_with_the_orm(
    rows, limit, override, promotions, when, region_code, channel, store, key, txn
):
    with _example():
        regions = _regions()
        region = regions[region_code]
        currency = REGIONS[region_code]
        me, other = user_create(), user_create()
        _purchases_create(
            rows, me=me, other=other, regions=regions, bundle=bundle_create(), when=when
        )
        if limit is not None:
            SpendingLimit.objects.create(
                region=region,
                daily_limit=Money(limit[0], currency),
                monthly_limit=Money(limit[1], currency),
            )
        if override is not None:
            SpendingLimitOverride.objects.create(
                user=me,
                region=region,
                daily_limit=None
                if override[0] is None
                else Money(override[0], currency),
                monthly_limit=None
                if override[1] is None
                else Money(override[1], currency),
                reason="test",
            )
        _promotions_create(promotions, regions, when)

        facts = purchases._facts_locked(
            user=me,
            region=region,
            channel=channel,
            store=store,
            transaction_id=txn,
            idempotency_key=key,
            when=when,
        )

        existing = orm_existing(me, store, txn, key)
        assert (facts.existing_id, facts.existing_user_id) == (
            (existing.id, existing.user_id) if existing else (None, None)
        )
        assert selectors.limits_in_force(facts.region_limits, facts.override) == (
            orm_limits(me, region)
        )
        day_start, month_start = selectors.spending_periods(when)
        assert {code: (day, month) for code, day, month in facts.spent} == orm_spent(
            me, day_start, month_start
        )
        assert [(p.id, p.kind, p.bonus_percent) for p in facts.running] == [
            (p.id, p.kind, p.bonus_percent) for p in orm_running(region, channel, when)
        ]
        assert facts.purchased_before == Purchase.objects.filter(user=me).exists()


@EXAMPLES
@given(
    rows=purchase_rows,
    home=st.one_of(st.none(), st.sampled_from(sorted(REGIONS))),
    schedule=st.lists(
        st.tuples(st.sampled_from(["app", "web"]), moments()),
        max_size=6,
    ),
    when=whens(),
    region_code=st.sampled_from(sorted(REGIONS)),
    channel=st.sampled_from(["app", "web"]),
    key=st.sampled_from(KEYS),
)
def test_the_read_before_the_store_agrees_with_the_orm(
    rows, home, schedule, when, region_code, channel, key
):
    with _example():
        regions = _regions()
        region = regions[region_code]
        me, other = user_create(), user_create()
        bundle = bundle_create()
        _purchases_create(
            rows, me=me, other=other, regions=regions, bundle=bundle_create(), when=when
        )
        if home is not None:
            HomeRegion.objects.create(
                user=me, region=regions[home], source="platform", reason="test"
            )
        # One price per moment in each channel (a constraint).
        cells = {(channel, at(moment, when)) for channel, moment in schedule}
        for number, (price_channel, effective_at) in enumerate(sorted(cells)):
            price_create(
                bundle,
                region,
                f"{number + 1}.99",
                channel=price_channel,
                effective_at=effective_at,
            )

        facts = purchases._facts_before(
            user=me,
            bundle=bundle,
            region=region,
            channel=channel,
            idempotency_key=key,
            when=when,
        )

        replay = Purchase.objects.filter(user=me, idempotency_key=key).first()
        assert facts.replay_id == (replay.id if replay else None)
        home_row = HomeRegion.objects.filter(user=me).select_related("region").first()
        assert (facts.home_region_id, facts.home_region_code) == (
            (home_row.region_id, home_row.region.code) if home_row else (None, None)
        )
        price = orm_price(bundle, region, channel, when)
        assert (facts.price_id, facts.price) == (
            (price.id, price.price) if price else (None, None)
        )
        # The catalog's own read of the price runs the same SQL, and agrees with
        # the set-wise rule the catalog lists prices by.
        current = bundle_price_current(
            bundle=bundle, region=region, channel=channel, when=when
        )
        in_force = bundle_prices_in_force(when=when).filter(
            bundle=bundle, region=region, channel=channel
        )
        assert current == price == in_force.first()
        if current is not None:
            assert (current.price, current.effective_at) == (
                price.price,
                price.effective_at,
            )


@EXAMPLES
@given(
    sku=st.sampled_from(["coins_100", "COINS_100", "coins_1000", "coins_", ""]),
    code=st.sampled_from(["US", "us", "JP", "GB", "XX", ""]),
    active_bundle=st.booleans(),
    inactive_region=st.sampled_from(["US", "JP", None]),
)
def test_the_codes_resolve_as_the_purchase_serializer_fields_say(
    sku, code, active_bundle, inactive_region
):
    with _example():
        regions = _regions()
        if inactive_region is not None:
            Region.objects.filter(id=regions[inactive_region].id).update(
                is_active=False
            )
        bundle_create(sku="coins_100", is_active=active_bundle)
        fields = PurchaseCreateSerializer().fields

        bundle, region = bundle_and_region_by_code(sku=sku, region_code=code)

        expected_bundle = fields["bundle"].get_queryset().filter(sku=sku).first()
        expected_region = fields["region"].get_queryset().filter(code=code).first()
        assert bundle == expected_bundle
        assert region == expected_region
        for found, expected in ((bundle, expected_bundle), (region, expected_region)):
            if found is not None:
                for field in type(found)._meta.concrete_fields:
                    name = field.attname
                    assert getattr(found, name) == getattr(expected, name), name
                assert found.get_deferred_fields() == set()


@pytest.mark.parametrize("when", [ANCHOR, datetime.datetime(2026, 4, 1, tzinfo=UTC)])
def test_rows_exactly_on_the_edges_are_read_as_the_orm_reads_them(when):
    """Every row on an edge the reads compare, and a microsecond either side: the
    random tests above reach these only now and then."""
    regions = _regions()
    region = regions["US"]
    me, other = user_create(), user_create()
    bundle = bundle_create()
    edges = [("when", 0), ("day", 0), ("month", 0)]
    near = [(base, shift) for base, _ in edges for shift in (-1, 0, 1)]
    rows = [
        {
            "mine": True,
            "region": "US",
            "price": Decimal(number + 1),
            "refunded": False,
            "at": moment,
            "key": f"k{number}",
            "store": "apple",
            "txn": f"t{number}",
        }
        for number, moment in enumerate(near)
    ]
    _purchases_create(
        rows, me=me, other=other, regions=regions, bundle=bundle, when=when
    )
    promotions = [
        {
            "kind": "campaign",
            "percent": Decimal(number + 1),
            "channel": "",
            "starts": starts,
            "ends": ends,
            "active": True,
            "regions": [],
        }
        for number, (starts, ends) in enumerate(
            [(moment, None) for moment in near] + [(None, moment) for moment in near]
        )
    ]
    _promotions_create(promotions, regions, when)
    for number, moment in enumerate(sorted({at(moment, when) for moment in near})):
        price_create(bundle, region, f"{number + 1}.99", effective_at=moment)

    locked = purchases._facts_locked(
        user=me,
        region=region,
        channel="app",
        store="google",
        transaction_id="none",
        idempotency_key="none",
        when=when,
    )
    before = purchases._facts_before(
        user=me,
        bundle=bundle,
        region=region,
        channel="app",
        idempotency_key="none",
        when=when,
    )

    day_start, month_start = selectors.spending_periods(when)
    assert {code: (day, month) for code, day, month in locked.spent} == orm_spent(
        me, day_start, month_start
    )
    assert [p.id for p in locked.running] == [
        p.id for p in orm_running(region, "app", when)
    ]
    assert before.price_id == orm_price(bundle, region, "app", when).id
