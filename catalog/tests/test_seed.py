from decimal import Decimal

import pytest
from django.core.management import call_command
from djmoney.contrib.exchange.models import Rate

from catalog import services
from catalog.models import BundlePrice, CoinBundle, Gift, Region

pytestmark = pytest.mark.django_db

DESIGN_PRICES = {
    "Rose": 1,
    "Live": 5,
    "Applause": 50,
    "Dynamic Duo": 100,
    "Director's Chair": 500,
    "Lion Dance": 2000,
}


def test_seed_loads_the_six_gifts_of_the_design_with_icons(api_client):
    call_command("seed_catalog", verbosity=0)

    listed = api_client.get("/api/v1/gifts/", {"region": "US"}).json()
    assert {item["name"]: item["coin_price"] for item in listed} == DESIGN_PRICES
    assert [item["coin_price"] for item in listed] == sorted(DESIGN_PRICES.values())
    assert all(item["icon_url"].endswith(".png") for item in listed)
    assert Region.objects.count() == 10


def test_seeded_regions_exercise_every_price_rule():
    call_command("seed_catalog", verbosity=0)

    rules = dict(Region.objects.values_list("code", "price_rule"))
    assert set(rules.values()) == set(Region.PriceRule.values)
    assert (rules["JP"], rules["KR"]) == (Region.PriceRule.WHOLE,) * 2
    assert (rules["IN"], rules["ID"]) == ("round_10", "round_100")
    for region in Region.objects.all():
        region.full_clean()


def test_seed_prices_every_bundle_in_every_region_and_channel(api_client):
    call_command("seed_catalog", verbosity=0)

    assert CoinBundle.objects.count() == 5
    assert BundlePrice.objects.count() == 5 * 10 * 2
    assert set(BundlePrice.objects.values_list("source", flat=True)) == {"derived"}
    for channel in ("app", "web"):
        us = api_client.get("/api/v1/bundles/", {"region": "US", "channel": channel})
        assert [(item["coins"], item["price"]["amount"]) for item in us.json()] == [
            (100, "0.99"),
            (500, "4.99"),
            (1000, "9.99"),
            (5000, "49.99"),
            (10000, "99.99"),
        ]
    jp = api_client.get("/api/v1/bundles/", {"region": "JP", "channel": "app"}).json()
    assert [item["price"]["formatted"] for item in jp] == [
        "￥149",
        "￥749",
        "￥1,499",
        "￥7,499",
        "￥14,999",
    ]


def test_seeded_prices_are_what_derivation_would_propose():
    call_command("seed_catalog", verbosity=0)

    assert services.repricing_proposal_create(bundles=None, actor=None) is None


def test_loading_twice_changes_nothing_and_keeps_staff_edits(capsys):
    call_command("seed_catalog")
    Gift.objects.filter(slug="rose").update(coin_price=3)
    Region.objects.filter(code="JP").update(web_discount_percent=Decimal("5"))
    CoinBundle.objects.filter(sku="coins_100").update(bonus_coins=10)
    Rate.objects.filter(currency="JPY").update(value=Decimal("160"))
    jp = Region.objects.get(code="JP")
    services.bundle_prices_set(
        bundle=CoinBundle.objects.get(sku="coins_100"),
        prices={(jp, "app"): Decimal("160")},
        effective_at=None,
        actor=None,
    )
    models = (Gift, Region, CoinBundle, BundlePrice, Rate)
    snapshot = [list(model.objects.order_by("pk").values()) for model in models]
    history_rows = (Gift.history.count(), Region.history.count())

    call_command("seed_catalog")

    assert [list(model.objects.order_by("pk").values()) for model in models] == (
        snapshot
    )
    assert (Gift.history.count(), Region.history.count()) == history_rows
    assert capsys.readouterr().out.splitlines()[-1] == (
        "Catalog: 0 region(s), 0 gift(s), 0 bundle(s), 0 exchange rate(s) and "
        "0 bundle price(s) created."
    )
