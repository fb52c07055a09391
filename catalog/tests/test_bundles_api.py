import datetime

import pytest
from django.utils import timezone

from catalog.models import BundlePrice, Region

from .factories import bundle_create, price_create, region_create

pytestmark = pytest.mark.django_db

BUNDLES = "/api/v1/bundles/"
APP, WEB = BundlePrice.Channel.APP, BundlePrice.Channel.WEB
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def jp():
    return region_create("JP", currency="JPY", price_rule=Region.PriceRule.WHOLE)


def skus(response):
    return [item["sku"] for item in response.json()]


def test_lists_bundles_on_sale_there_now_in_sort_order(api_client, jp):
    us = region_create("US")
    second = bundle_create(sku="second", sort_order=2, coins=500, bonus_coins=25)
    first = bundle_create(sku="first", sort_order=1)
    off = bundle_create(sku="off", is_active=False)
    app_only = bundle_create(sku="app-only")
    elsewhere = bundle_create(sku="elsewhere")
    soon = bundle_create(sku="soon")
    for bundle in (first, second, off):
        price_create(bundle, jp, "480", channel=WEB)
    price_create(app_only, jp, "480", channel=APP)
    price_create(elsewhere, us, "4.99", channel=WEB)
    price_create(soon, jp, "480", channel=WEB, effective_at=timezone.now() + HOUR)

    response = api_client.get(BUNDLES, {"region": "JP", "channel": "web"})

    assert response.status_code == 200
    assert skus(response) == ["first", "second"]
    assert response.json()[1] == {
        "id": second.id,
        "sku": "second",
        "coins": 500,
        "bonus_coins": 25,
        "price": {"amount": "480", "currency": "JPY", "formatted": "￥480"},
    }
    assert skus(api_client.get(BUNDLES, {"region": "jp", "channel": "app"})) == [
        "app-only"
    ]


def test_a_scheduled_price_is_served_from_its_moment(api_client, jp, monkeypatch):
    bundle = bundle_create()
    price_create(bundle, jp, "480", channel=WEB)
    moment = timezone.now() + HOUR
    price_create(bundle, jp, "500", channel=WEB, effective_at=moment)
    query = {"region": "JP", "channel": "web"}

    assert api_client.get(BUNDLES, query).json()[0]["price"]["amount"] == "480"
    monkeypatch.setattr(timezone, "now", lambda: moment)
    assert api_client.get(BUNDLES, query).json()[0]["price"]["amount"] == "500"


@pytest.mark.parametrize(
    ("code", "currency", "rule", "amount", "expected"),
    [
        ("US", "USD", Region.PriceRule.ENDS_99, "0.99", ("0.99", "$0.99")),
        ("JP", "JPY", Region.PriceRule.WHOLE, "480", ("480", "￥480")),
        ("ID", "IDR", Region.PriceRule.ROUND_100, "15600", ("15600", "Rp15.600")),
        ("DE", "EUR", Region.PriceRule.ENDS_99, "4.99", ("4.99", "4,99\xa0€")),
    ],
)
def test_prices_come_as_a_decimal_string_and_a_local_format(
    api_client, code, currency, rule, amount, expected
):
    region = region_create(code, currency=currency, price_rule=rule)
    price_create(bundle_create(), region, amount)

    (item,) = api_client.get(BUNDLES, {"region": code, "channel": "app"}).json()

    assert item["price"] == {
        "amount": expected[0],
        "currency": currency,
        "formatted": expected[1],
    }


def test_region_and_channel_are_both_required(api_client):
    response = api_client.get(BUNDLES)

    assert response.status_code == 400
    assert response.json() == {
        "region": ["This field is required."],
        "channel": ["This field is required."],
    }


def test_unknown_or_inactive_region_is_a_400_on_the_field(api_client):
    region_create("KR", currency="KRW", price_rule="whole", is_active=False)

    for code in ("XX", "KR"):
        response = api_client.get(BUNDLES, {"region": code, "channel": "app"})
        assert response.status_code == 400
        assert response.json() == {"region": [f"Unknown or inactive region: {code}."]}


def test_a_bad_channel_is_a_400_on_the_field(api_client, jp):
    response = api_client.get(BUNDLES, {"region": "JP", "channel": "tv"})

    assert response.status_code == 400
    assert response.json() == {"channel": ['"tv" is not a valid choice.']}


def test_query_count_does_not_grow_with_the_bundles(
    api_client, jp, django_assert_num_queries
):
    def add_bundles(count):
        for _ in range(count):
            bundle = bundle_create()
            price_create(bundle, jp, "100", effective_at=timezone.now() - 2 * HOUR)
            price_create(bundle, jp, "480")

    query = {"region": "JP", "channel": "app"}
    # The region, the prices, and when the next scheduled price comes in.
    add_bundles(3)
    with django_assert_num_queries(3):
        api_client.get(BUNDLES, query)
    add_bundles(20)
    with django_assert_num_queries(3):
        assert len(api_client.get(BUNDLES, query).json()) == 23
    with django_assert_num_queries(0):
        assert len(api_client.get(BUNDLES, query).json()) == 23


def test_repeat_request_with_the_etag_is_304(api_client, jp):
    price_create(bundle_create(), jp, "480")
    query = {"region": "JP", "channel": "app"}
    etag = api_client.get(BUNDLES, query)["ETag"]

    response = api_client.get(BUNDLES, query, HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304


def test_bundles_cannot_be_written_through_the_api(api_client, catalog_editor):
    api_client.force_authenticate(catalog_editor)

    response = api_client.post(BUNDLES, {"sku": "coins_1"}, format="json")

    assert response.status_code == 405
