"""A manual credit in a real browser: found by name, typed in diamonds, confirmed,
and approved by a second finance user; at desktop and phone widths."""


import pytest
from playwright.sync_api import expect

from gifting.tests.factories import creator_create
from wallets.models import DIAMOND_SCALE, BalanceAdjustment
from wallets.selectors import wallet_balances

from .conftest import admin_login
from .test_browser_payouts import finance_user

ADJUST = "/admin/wallets/balanceadjustment/adjust/"
LIST = "/admin/wallets/balanceadjustment/"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def fits(page) -> None:
    """Nothing on the page is wider than the window."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{overflow}px wider than the window"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("size", SIZES)
def test_a_credit_is_found_typed_confirmed_and_approved_by_another(
    live_server, browser_page, shots, size
):
    finance_user("alice")
    finance_user("bob")
    creator = creator_create(user=finance_user("streamer_jo"))
    page = browser_page
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))
    admin_login(page, live_server.url, "alice", "pw-alice")

    page.goto(f"{live_server.url}{ADJUST}")
    page.click(".select2-selection")
    page.fill(".select2-search__field", "streamer")
    page.click(".select2-results__option >> text=streamer_jo")
    page.select_option("#id_account_kind", "diamonds")
    page.fill("#id_amount", "40000")
    page.fill("#id_reason", "Lost gifts during the outage of 3 Dec")
    fits(page)
    page.screenshot(path=f"{shots}/adjustment_form_{size}.png", full_page=True)
    page.click('input[value="Review"]')

    preview = page.locator("table.adjustment-preview")
    expect(preview).to_contain_text("+40,000 diamonds")
    expect(preview.locator("tr", has_text="Now")).to_contain_text("0 diamonds")
    assert not BalanceAdjustment.objects.exists()
    fits(page)
    page.screenshot(path=f"{shots}/adjustment_confirm_{size}.png", full_page=True)
    page.click('input[name="confirm"]')
    expect(page.locator(".messagelist")).to_contain_text("Credit requested")
    assert wallet_balances(user=creator.user).diamond_units == 0

    page.context.clear_cookies()
    admin_login(page, live_server.url, "bob", "pw-bob")
    page.goto(f"{live_server.url}{LIST}?status__exact=requested")
    row = page.locator("#result_list tbody tr", has_text="streamer_jo")
    expect(row).to_contain_text("+40,000 diamonds")
    fits(page)
    page.screenshot(path=f"{shots}/adjustment_approval_list_{size}.png", full_page=True)
    row.locator("input.action-select").check()
    page.select_option('select[name="action"]', "approve")
    page.click('button[name="index"]')
    expect(page.locator(".messagelist")).to_contain_text("Approved 1 adjustment(s).")
    assert wallet_balances(user=creator.user).diamond_units == 40_000 * DIAMOND_SCALE
