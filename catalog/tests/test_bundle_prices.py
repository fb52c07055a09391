import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from djmoney.money import Money

from catalog import selectors, services
from catalog.models import BundlePrice, Region

from .factories import bundle_create, price_create, region_create

pytestmark = pytest.mark.django_db

APP, WEB = BundlePrice.Channel.APP, BundlePrice.Channel.WEB
HOUR = datetime.timedelta(hours=1)
MICROSECOND = datetime.timedelta(microseconds=1)


@pytest.fixture
def jp():
    return region_create("JP", currency="JPY", price_rule=Region.PriceRule.WHOLE)


@pytest.fixture
def us():
    return region_create("US")


def test_a_price_in_another_currency_than_the_regions_is_refused(jp):
    price = BundlePrice(
        bundle=bundle_create(), region=jp, channel=APP, price=Money("4.99", "USD")
    )
    with pytest.raises(ValidationError) as error:
        price.full_clean()
    assert error.value.message_dict == {"price": ["Prices in JP are in JPY."]}


def test_a_yen_price_with_decimals_is_refused(jp):
    price = BundlePrice(
        bundle=bundle_create(), region=jp, channel=APP, price=Money("480.5", "JPY")
    )
    with pytest.raises(ValidationError) as error:
        price.full_clean()
    assert error.value.message_dict == {
        "price": ["JPY prices have 0 decimal places at most."]
    }


def test_a_price_of_zero_is_refused_by_validation_and_by_the_database(us):
    bundle = bundle_create()
    with pytest.raises(ValidationError) as error:
        BundlePrice(
            bundle=bundle, region=us, channel=APP, price=Money("0", "USD")
        ).full_clean()
    assert error.value.message_dict == {"price": ["A price must be more than zero."]}

    with pytest.raises(IntegrityError), transaction.atomic():
        price_create(bundle, us, "0.00")
    assert not BundlePrice.objects.exists()


def test_a_region_without_cents_cannot_use_prices_ending_in_99():
    region = Region(
        code="JP", name="Japan", currency="JPY", price_rule=Region.PriceRule.ENDS_99
    )
    with pytest.raises(ValidationError) as error:
        region.full_clean()
    assert error.value.message_dict == {
        "price_rule": [
            "JPY has no cents: choose whole units or a multiple of 10 or 100."
        ]
    }


def test_the_current_price_switches_exactly_at_its_moment(us):
    bundle = bundle_create()
    old = price_create(bundle, us, "0.99")
    moment = timezone.now() + HOUR
    new = price_create(bundle, us, "1.99", effective_at=moment)

    def current(when):
        return selectors.bundle_price_current(
            bundle=bundle, region=us, channel=APP, when=when
        )

    def on_sale(when):
        return selectors.bundles_on_sale(region=us, channel=APP, when=when)

    assert current(moment - MICROSECOND) == old
    assert current(moment) == new
    assert on_sale(moment - MICROSECOND) == [(bundle, old)]
    assert on_sale(moment) == [(bundle, new)]
    assert current(old.effective_at - MICROSECOND) is None


def test_bundles_on_sale_are_active_priced_there_and_in_sort_order(
    us, jp, django_assert_num_queries
):
    second = bundle_create(sku="second", sort_order=2)
    first = bundle_create(sku="first", sort_order=1)
    off = bundle_create(sku="off", is_active=False)
    web_only = bundle_create(sku="web-only")
    elsewhere = bundle_create(sku="elsewhere")
    later = bundle_create(sku="later")
    for bundle in (first, second, off):
        price_create(bundle, us, "0.99")
    price_create(web_only, us, "0.99", channel=WEB)
    price_create(elsewhere, jp, "149")
    price_create(later, us, "0.99", effective_at=timezone.now() + HOUR)

    with django_assert_num_queries(1):
        on_sale = selectors.bundles_on_sale(region=us, channel=APP, when=timezone.now())

    assert [bundle.sku for bundle, _ in on_sale] == ["first", "second"]
    assert all(price.region == us and price.channel == APP for _, price in on_sale)


def test_an_inactive_region_sells_nothing(us):
    price_create(bundle_create(), us, "0.99")
    us.is_active = False
    us.save()

    assert selectors.bundles_on_sale(region=us, channel=APP, when=timezone.now()) == []


def test_prices_set_by_hand_are_new_rows_from_now_with_who(us, jp, catalog_editor):
    bundle = bundle_create()
    old = price_create(bundle, us, "0.99")
    before = timezone.now()

    rows = services.bundle_prices_set(
        bundle=bundle,
        prices={(us, APP): Decimal("1.49"), (jp, WEB): Decimal("160")},
        effective_at=None,
        actor=catalog_editor,
    )

    assert {(row.region.code, row.channel, row.price) for row in rows} == {
        ("US", APP, Money("1.49", "USD")),
        ("JP", WEB, Money("160", "JPY")),
    }
    stored = BundlePrice.objects.exclude(id=old.id)
    assert stored.count() == 2
    for row in stored:
        assert row.source == BundlePrice.Source.MANUAL
        assert row.created_by == catalog_editor
        assert before <= row.effective_at <= timezone.now()
    old.refresh_from_db()
    assert old.price == Money("0.99", "USD")


def test_a_price_scheduled_for_later_waits_for_its_moment(us, catalog_editor):
    bundle = bundle_create()
    price_create(bundle, us, "0.99")
    moment = timezone.now() + HOUR

    (row,) = services.bundle_prices_set(
        bundle=bundle,
        prices={(us, APP): Decimal("1.99")},
        effective_at=moment,
        actor=catalog_editor,
    )

    assert row.effective_at == moment
    now_price = selectors.bundle_price_current(
        bundle=bundle, region=us, channel=APP, when=timezone.now()
    )
    assert now_price.price == Money("0.99", "USD")


def test_a_new_price_in_the_past_is_refused_and_nothing_is_written(us, catalog_editor):
    bundle = bundle_create()
    with pytest.raises(ValidationError) as error:
        services.bundle_prices_set(
            bundle=bundle,
            prices={(us, APP): Decimal("1.99")},
            effective_at=timezone.now() - HOUR,
            actor=catalog_editor,
        )
    assert list(error.value.message_dict) == ["effective_at"]
    assert not BundlePrice.objects.exists()


def test_one_bad_price_refuses_them_all_keyed_by_cell(us, jp, catalog_editor):
    bundle = bundle_create()
    with pytest.raises(ValidationError) as error:
        services.bundle_prices_set(
            bundle=bundle,
            prices={(us, APP): Decimal("1.99"), (jp, APP): Decimal("149.50")},
            effective_at=None,
            actor=catalog_editor,
        )
    assert error.value.message_dict == {
        "JP_app": ["JPY prices have 0 decimal places at most."]
    }
    assert not BundlePrice.objects.exists()


def test_the_database_keeps_one_price_per_cell_and_moment(us):
    bundle = bundle_create()
    moment = timezone.now()
    price_create(bundle, us, "0.99", effective_at=moment)
    with pytest.raises(IntegrityError), transaction.atomic():
        price_create(bundle, us, "1.99", effective_at=moment)
    assert BundlePrice.objects.count() == 1
