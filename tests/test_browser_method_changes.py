"""A creator's new payout method, flagged in the payout queue and confirmed by a
second finance user in a real browser; screenshots at desktop and phone sizes."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from gifting.models import CreatorProfile
from gifting.tests.factories import rich_creator
from payouts import services
from payouts.models import PayoutMethodChange
from wallets.models import DIAMOND_SCALE

from .conftest import admin_login
from .test_browser_payouts import finance_user

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def shoot(page, folder: Path, name: str) -> None:
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=folder / f"{name}-{size}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_pending_method_change_is_flagged_and_confirmed_by_another_finance_user(
    live_server, browser_page, shots
):
    folder = shots
    finance_user("alice")
    finance_user("bob")
    creator = rich_creator(diamonds=30_000, paypal_email="mia.old@example.com")
    payout = services.payout_request(
        creator=creator, diamond_units=20_000 * DIAMOND_SCALE, idempotency_key="p"
    ).payout
    change = services.payout_method_change_request(
        creator=creator,
        actor=creator.user,
        payout_method="bank",
        bank_account_holder="Mia Muster",
        bank_iban="DE89370400440532013000",
        bank_bic="COBADEFFXXX",
        reason="New bank",
    )
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 800})
    admin_login(page, live_server.url, "alice", "pw-alice")

    page.goto(f"{live_server.url}/admin/payouts/payout/")
    row = page.locator("#result_list tbody tr", has_text=payout.reference)
    expect(row).to_contain_text("method change pending")
    shoot(page, folder, "payout-queue")

    page.goto(f"{live_server.url}/admin/gifting/creatorprofile/{creator.id}/change/")
    expect(page.locator("body")).to_contain_text("Waiting for confirmation")
    shoot(page, folder, "creator-page")

    page.goto(f"{live_server.url}/admin/payouts/payoutmethodchange/")
    shoot(page, folder, "method-change-queue")

    page.context.clear_cookies()
    admin_login(page, live_server.url, "bob", "pw-bob")
    page.goto(f"{live_server.url}/admin/payouts/payoutmethodchange/")
    page.locator("#result_list tbody tr", has_text="Muster").locator(
        "input.action-select"
    ).check()
    page.select_option('select[name="action"]', "confirm")
    page.click('button[name="index"]')
    expect(page.locator(".messagelist")).to_contain_text("Confirmed 1 change(s).")
    shoot(page, folder, "method-change-confirmed")

    change.refresh_from_db()
    assert change.status == PayoutMethodChange.Status.CONFIRMED
    creator = CreatorProfile.objects.get(id=creator.id)
    assert creator.bank_iban == "DE89370400440532013000"
