"""Finance's subscription screens in a real browser: subscriptions, their charges
and the revenue per month fit a 1280 x 800 laptop (a phone's 390 x 844 scrolls a
list in its box, never the page), and a tier price range upside down is refused
beside its field.

Screenshots land in SCREENSHOT_DIR (else the test's tmp_path) for people to look at.
"""

import pytest

from accounts.roles import FINANCE
from gifting.tests.factories import creator_create, funded_sender
from subscriptions import services
from subscriptions.models import TierPriceLimit
from subscriptions.tests.factories import tier_create
from wallets.tests.factories import staff_create

from .conftest import admin_login
from .test_browser_lists import MEASURE

LISTS = {
    "subscriptions": "/admin/subscriptions/subscription/",
    "charges": "/admin/subscriptions/subscriptioncharge/",
    "tiers": "/admin/subscriptions/tier/",
}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_subscription_screens_fit_a_laptop_and_a_phone(
    live_server, browser_page, shots
):
    staff_create(FINANCE, username="finance")
    for n in range(3):
        creator = creator_create(display_name=f"A creator with a long name {n}")
        tier = tier_create(creator, coin_price=150 + n)
        services.subscription_subscribe(
            subscriber=funded_sender(1000),
            tier=tier,
            coin_price=tier.coin_price,
            idempotency_key=f"k{n}",
        )
    page = browser_page
    admin_login(page, live_server.url, "finance", "pw")
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for name, url in LISTS.items():
            page.goto(f"{live_server.url}{url}")
            page.screenshot(path=shots / f"subs-{name}-{width}.png", full_page=True)
            measured = page.evaluate(MEASURE)
            assert measured["rows"] == 3, (name, measured)
            assert measured["page"] <= 0, (name, width, measured)
            if width >= 1280:
                assert measured["results"] <= 0, (name, measured)
                assert measured["tableRight"] <= measured["viewport"], (name, measured)
        page.goto(f"{live_server.url}{LISTS['charges']}revenue/")
        page.screenshot(path=shots / f"subs-revenue-{width}.png", full_page=True)
        revenue = page.inner_text("#revenue")
        assert "3" in revenue and "453" in revenue

    page.set_viewport_size({"width": 1280, "height": 800})
    limit = TierPriceLimit.objects.get(rank=1)
    page.goto(
        f"{live_server.url}/admin/subscriptions/tierpricelimit/{limit.id}/change/"
    )
    page.fill("#id_max_coins", "10")
    page.click('input[name="_save"]')
    page.screenshot(path=shots / "subs-limit-refused-1280.png", full_page=True)
    error = page.inner_text(".field-max_coins .errorlist")
    assert "at least the lowest" in error
    limit.refresh_from_db()
    assert limit.max_coins == 5_000
