"""A catalog editor re-prices one region and store in the browser: the grid fits a
1280 x 800 laptop beside the menu, a bad price is shown beside its row and saves
nothing, and on a phone's 390 x 844 the page itself never scrolls sideways. The
gift list, with a scheduled price in its note, still fits the laptop.

Screenshots land in SCREENSHOT_DIR (else the test's tmp_path) for people to look at.
"""

import datetime

import pytest
from django.utils import timezone
from djmoney.money import Money

from accounts.roles import CATALOG_EDITORS, FINANCE
from catalog.models import BundlePrice, Gift, GiftPriceChange, Region
from wallets.tests.factories import bundle_create, region_create, staff_create

from .conftest import admin_login
from .test_browser_lists import MEASURE, long_rows

GRID = "/admin/catalog/bundleprice/grid/?region=JP&channel=web"
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
GRID_RIGHT = (
    "document.querySelector('#region-price-grid').getBoundingClientRect().right"
)


def japan_bundles() -> list:
    japan = region_create("JP", currency="JPY", price_rule=Region.PriceRule.WHOLE)
    bundles = [
        bundle_create(coins=coins, bonus_coins=coins // 10, sort_order=n)
        for n, coins in enumerate((100, 1_000, 10_000, 100_000))
    ]
    bundles.append(
        bundle_create(
            coins=1_000_000,
            bonus_coins=100_000,
            sku="coins_1000000_lunar_new_year_with_bonus",
            sort_order=9,
        )
    )
    for bundle in bundles[:-1]:
        BundlePrice.objects.create(
            bundle=bundle,
            region=japan,
            channel=BundlePrice.Channel.WEB,
            price=Money(bundle.coins * 3 // 2, "JPY"),
            effective_at=timezone.now() - datetime.timedelta(days=1),
        )
    return bundles


def editor_page(live_server, browser_page, role=CATALOG_EDITORS):
    staff_create(role, username=f"grid-{role.split()[0].lower()}")
    admin_login(browser_page, live_server.url, f"grid-{role.split()[0].lower()}", "pw")
    return browser_page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_editor_reprices_a_region_and_store_on_a_laptop(
    live_server,
    browser_page,
    shots,
):
    bundles = japan_bundles()
    page = editor_page(live_server, browser_page)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}{GRID}")

    page.screenshot(path=shots / "price_grid-1280.png", full_page=True)
    assert page.evaluate(OVERFLOW) <= 0
    assert page.evaluate(GRID_RIGHT) <= 1280
    assert page.locator("#region-price-grid tbody tr").count() == len(bundles)

    page.fill(f"#id_price_{bundles[0].id}", "160")
    page.fill(f"#id_price_{bundles[1].id}", "-5")
    page.click("text=Save new prices")
    row = page.locator(f"#bundle-{bundles[1].id}")
    assert "A price must be more than zero." in row.inner_text()
    assert "Nothing was saved." in page.inner_text("#content")
    page.screenshot(path=shots / "price_grid-error-1280.png", full_page=True)
    assert not BundlePrice.objects.filter(price=Money(160, "JPY")).exists()

    page.fill(f"#id_price_{bundles[1].id}", "1480")
    page.fill(f"#id_price_{bundles[-1].id}", "1480000")
    page.click("text=Save new prices")
    assert "3 new price(s) set by hand in JP" in page.inner_text(".messagelist")
    assert (
        BundlePrice.objects.filter(
            region__code="JP", channel="web", created_by__username="grid-catalog"
        ).count()
        == 3
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_grid_fits_a_phone_and_finance_reads_it_without_inputs(
    live_server,
    browser_page,
    shots,
):
    japan_bundles()
    page = editor_page(live_server, browser_page)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}{GRID}")
    page.screenshot(path=shots / "price_grid-390.png", full_page=True)
    assert page.evaluate(OVERFLOW) <= 0

    page.context.clear_cookies()
    page = editor_page(live_server, page, role=FINANCE)
    page.goto(f"{live_server.url}{GRID}")
    page.screenshot(path=shots / "price_grid-finance-390.png", full_page=True)
    assert page.evaluate(OVERFLOW) <= 0
    assert page.locator("#region-price-grid input").count() == 0
    assert "¥150" in page.inner_text("#region-price-grid")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_gift_list_with_a_scheduled_price_fits_a_laptop(
    live_server,
    browser_page,
    shots,
):
    long_rows()
    for gift in Gift.objects.all():
        GiftPriceChange.objects.create(
            gift=gift,
            coin_price=gift.coin_price + 1_000,
            effective_at=timezone.now() + datetime.timedelta(days=3),
        )
    page = editor_page(live_server, browser_page)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/catalog/gift/")

    page.screenshot(path=shots / "list_gifts_scheduled-1280.png")
    measured = page.evaluate(MEASURE)
    assert measured["page"] <= 0
    assert measured["results"] <= 0, measured
    assert measured["tableRight"] <= measured["viewport"]
    sponsored = page.evaluate(
        "document.querySelector('#result_list thead th.column-sponsored')"
        ".getBoundingClientRect().right"
    )
    assert sponsored <= 1280
    assert "from " in page.inner_text("#result_list td.field-scheduled_price")
