import pytest
from django.core.management import call_command

from catalog.models import Gift, Region

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


def test_loading_twice_changes_nothing_and_keeps_staff_edits(capsys):
    call_command("seed_catalog")
    Gift.objects.filter(slug="rose").update(coin_price=3)
    snapshot = list(Gift.objects.order_by("id").values())
    history_rows = Gift.history.count()

    call_command("seed_catalog")

    assert list(Gift.objects.order_by("id").values()) == snapshot
    assert Gift.history.count() == history_rows
    assert capsys.readouterr().out.splitlines()[-1] == (
        "Catalog: 0 region(s) and 0 gift(s) created."
    )
