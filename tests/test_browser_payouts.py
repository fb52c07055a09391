"""Two finance users approve a large payout in a real browser; the worker pays it."""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from accounts.roles import FINANCE
from gifting.tests.factories import rich_creator
from payouts import services
from payouts.models import Payout, SandboxPayoutRecord
from wallets.models import DIAMOND_SCALE
from wallets.tests.factories import user_create

from .conftest import admin_login

QUEUE = "/admin/payouts/payout/"


def finance_user(username: str):
    user = user_create(username=username, is_staff=True)
    user.set_password("pw-" + username)
    user.save()
    user.groups.add(Group.objects.get(name=FINANCE))
    return user


def approve_in_the_queue(page, base_url, username, reference):
    page.context.clear_cookies()
    admin_login(page, base_url, username, "pw-" + username)
    page.goto(f"{base_url}{QUEUE}")
    row = page.locator("#result_list tbody tr", has_text=reference)
    row.locator("input.action-select").check()
    page.select_option('select[name="action"]', "approve")
    page.click('button[name="index"]')
    expect(page.locator(".messagelist")).to_contain_text("Approved 1 payout(s).")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_large_payout_is_approved_twice_paid_and_shown_paid(
    live_server, browser_page, eager_celery, tmp_path
):
    finance_user("alice")
    finance_user("bob")
    creator = rich_creator(diamonds=400_000)
    payout = services.payout_request(
        creator=creator, diamond_units=300_000 * DIAMOND_SCALE, idempotency_key="big"
    ).payout
    assert payout.needs_second_approval
    page = browser_page

    approve_in_the_queue(page, live_server.url, "alice", payout.reference)
    payout.refresh_from_db()
    assert payout.status == Payout.Status.AWAITING_SECOND_APPROVAL
    # Alice's queue no longer offers it: the second approval is someone else's.
    expect(page.locator("#changelist")).not_to_contain_text(payout.reference)

    approve_in_the_queue(page, live_server.url, "bob", payout.reference)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert SandboxPayoutRecord.objects.get(reference=payout.reference).times_paid == 1
    page.goto(f"{live_server.url}{QUEUE}?queue=done")
    paid_row = page.locator("#result_list tbody tr", has_text=payout.reference)
    expect(paid_row).to_contain_text("Paid")
    page.screenshot(path=tmp_path / "payout_queue_paid.png", full_page=True)
