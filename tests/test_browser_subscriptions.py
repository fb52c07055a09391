"""Finance's subscription screens in a real browser: subscriptions, their charges
and the revenue per month fit a 1280 x 800 laptop (a phone's 390 x 844 scrolls a
list in its box, never the page), and a tier price range upside down is refused
beside its field.

Screenshots land in SCREENSHOT_DIR (else the test's tmp_path) for people to look at.
"""

import pytest
from playwright.sync_api import expect

from accounts.roles import FINANCE, SUPPORT
from gifting.tests.factories import creator_create, funded_sender
from subscriptions import services
from subscriptions.models import ChargeRefund, TierPriceLimit
from subscriptions.tests.factories import tier_create
from wallets.selectors import wallet_balances
from wallets.tests.factories import staff_create

from .conftest import admin_login
from .test_browser_adjustments import SIZES, fits
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


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("size", SIZES)
def test_support_asks_for_a_charge_refund_and_another_finance_user_grants_it(
    live_server, browser_page, shots, size
):
    width, height = SIZES[size]
    staff_create(SUPPORT, username="support")
    staff_create(FINANCE, username="finance")
    viewer = funded_sender(1000)
    tier = tier_create(
        creator_create(display_name="A creator with a long name"), coin_price=150
    )
    subscription = services.subscription_subscribe(
        subscriber=viewer,
        tier=tier,
        coin_price=tier.coin_price,
        idempotency_key="k",
    ).subscription
    page = browser_page
    page.set_viewport_size({"width": width, "height": height})

    admin_login(page, live_server.url, "support", "pw")
    page.goto(f"{live_server.url}{LISTS['charges']}")
    page.locator("#result_list tbody tr input.action-select").first.check()
    page.select_option('select[name="action"]', "ask_refund")
    page.click('button[name="index"]')
    # The reason is required: the browser holds the form at the field.
    page.click('input[type="submit"][value^="Ask to refund"]')
    expect(page.locator("#id_reason:invalid")).to_have_count(1)
    assert not ChargeRefund.objects.exists()
    page.fill("#id_reason", "Renewed after the viewer cancelled in the app")
    fits(page)
    page.screenshot(path=shots / f"subs-ask-refund-{width}.png", full_page=True)
    page.click('input[type="submit"][value^="Ask to refund"]')
    expect(page.locator(".messagelist")).to_contain_text("Asked for 1 refund request")
    assert wallet_balances(user=viewer).paid_coins == 850

    page.context.clear_cookies()
    admin_login(page, live_server.url, "finance", "pw")
    page.goto(f"{live_server.url}/admin/subscriptions/chargerefund/")
    row = page.locator("#result_list tbody tr").first
    expect(row).to_contain_text("150")
    fits(page)
    page.screenshot(path=shots / f"subs-refunds-list-{width}.png", full_page=True)
    measured = page.evaluate(MEASURE)
    assert measured["page"] <= 0, measured
    if width >= 1280:
        assert measured["tableRight"] <= measured["viewport"], measured
    row.locator("input.action-select").check()
    page.select_option('select[name="action"]', "approve")
    page.click('button[name="index"]')
    expect(page.locator(".messagelist")).to_contain_text("Granted 1 refund(s).")
    assert wallet_balances(user=viewer).paid_coins == 1000
    subscription.refresh_from_db()
    assert subscription.status == "ended"
    page.goto(
        f"{live_server.url}/admin/subscriptions/chargerefund/"
        f"{ChargeRefund.objects.get().id}/change/"
    )
    fits(page)
    page.screenshot(path=shots / f"subs-refund-page-{width}.png", full_page=True)
    expect(page.locator("body")).to_contain_text("Refunded")
