"""Refund rules and the refund request queue in a real browser, at desktop and
phone widths: a finance user adds a rule for a region and approves a waiting
request; the queue's key columns stay in view."""

import pytest
from playwright.sync_api import expect

from wallets import services
from wallets.models import RefundRule
from wallets.selectors import wallet_balances
from wallets.tests.factories import region_create, user_create
from wallets.tests.test_refund_requests import bought, rule

from .conftest import admin_login
from .test_browser_adjustments import SIZES, fits
from .test_browser_lists import KEY_RIGHT, MEASURE
from .test_browser_payouts import finance_user


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("size", SIZES)
def test_finance_adds_a_rule_and_works_the_queue(
    live_server, browser_page, shots, size
):
    finance_user("fiona")
    region_create("DE", "EUR", name="Germany")
    rule("US", window=30, self_service=0)
    buyers = [
        user_create(username="a-buyer-with-a-remarkably-long-username-4711"),
        user_create(username="sam"),
    ]
    requests = [
        services.refund_request_create(
            purchase=bought(buyer),
            user=buyer,
            reason="Bought the wrong bundle for my account",
            idempotency_key="q",
        ).request
        for buyer in buyers
    ]
    page = browser_page
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))
    admin_login(page, live_server.url, "fiona", "pw-fiona")

    page.goto(f"{live_server.url}/admin/wallets/refundrule/add/")
    page.select_option("#id_region", label="DE (Germany)")
    page.fill("#id_window_days", "14")
    page.fill("#id_self_service_days", "14")
    page.select_option("#id_in_app_purchases", "store")
    fits(page)
    page.screenshot(path=f"{shots}/refund_rule_form_{size}.png", full_page=True)
    page.click('input[name="_save"]')
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    added = RefundRule.objects.get(region__code="DE")
    assert (added.in_app_purchases, added.created_by.username) == ("store", "fiona")
    fits(page)
    page.screenshot(path=f"{shots}/refund_rules_{size}.png", full_page=True)

    page.goto(f"{live_server.url}/admin/wallets/refundrequest/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("$0.99")
    measured = page.evaluate(MEASURE)
    assert measured["page"] <= 0, measured
    if size == "desktop":
        assert measured["results"] <= 0, measured
        assert page.evaluate(KEY_RIGHT, "decide_by") <= measured["viewport"]
    page.screenshot(path=f"{shots}/refund_queue_{size}.png", full_page=True)

    row = page.locator("#result_list tbody tr", has_text="sam")
    row.locator("input.action-select").check()
    page.select_option('select[name="action"]', "approve")
    page.click('button[name="index"]')
    expect(page.locator(".messagelist")).to_contain_text("Approved 1 request(s).")
    assert wallet_balances(user=requests[1].user).paid_coins == 0
    assert wallet_balances(user=requests[0].user).paid_coins == 100
