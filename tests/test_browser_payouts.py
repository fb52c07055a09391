"""Finance decides payouts in a real browser: two finance users approve a large
payout on its page, reading what each step did, and the worker pays it; the queue's
key columns fit a 1280 x 800 screen and the payout's page a phone.

Screenshots go to $SCREENSHOT_DIR (else the test's tmp_path), at desktop and phone
sizes."""


import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from accounts.roles import FINANCE
from gifting.tests.factories import rich_creator
from payouts import services
from payouts.models import Payout, SandboxPayoutRecord
from payouts.tests.scenes import queue_scene
from wallets.models import DIAMOND_SCALE
from wallets.tests.factories import user_create

from .conftest import admin_login

QUEUE = "/admin/payouts/payout/"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}
# The queue's key columns: what finance reads before opening a payout.
KEY_COLUMNS = ("ref", "state", "payee", "gross", "fee", "net", "risk", "diamonds")


def finance_user(username: str):
    user = user_create(username=username, is_staff=True)
    user.set_password("pw-" + username)
    user.save()
    user.groups.add(Group.objects.get(name=FINANCE))
    return user


def sign_in(page, base_url, username):
    page.context.clear_cookies()
    admin_login(page, base_url, username, "pw-" + username)


def fits(page) -> None:
    """Nothing on the page is wider than the window."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{overflow}px wider than the window"


def approve_on_its_page(page, base_url, reference, *, button):
    page.goto(f"{base_url}{QUEUE}?queue=all")
    page.locator("#result_list tbody tr", has_text=reference).locator(
        "th.field-ref a"
    ).click()
    panel = page.locator(".payout-decision")
    # A flagged payout: approving without the tick names the flags beside it.
    page.get_by_role("button", name=button).click()
    expect(page.locator(".confirm-risks .errorlist")).to_contain_text(
        "Tick to confirm you reviewed the risk flags (new creator)"
    )
    panel.get_by_label("I have reviewed the risk flags: new creator").check()
    page.get_by_role("button", name=button).click()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_large_payout_is_approved_twice_on_its_page_paid_and_shown_paid(
    live_server, browser_page, eager_celery, shots
):
    folder = shots
    finance_user("alice")
    finance_user("bob")
    creator = rich_creator(diamonds=400_000)
    payout = services.payout_request(
        creator=creator, diamond_units=300_000 * DIAMOND_SCALE, idempotency_key="big"
    ).payout
    assert payout.needs_second_approval
    page = browser_page
    page.set_viewport_size(DESKTOP)

    sign_in(page, live_server.url, "alice")
    approve_on_its_page(
        page, live_server.url, payout.reference, button="Give the first approval"
    )
    expect(page.locator(".messagelist")).to_have_text(
        "First approval recorded; a second finance user must approve."
    )
    expect(page.locator(".payout-decision .refusal")).to_contain_text(
        "The second approval must come from someone else."
    )
    page.screenshot(path=folder / "payout-page-first-approval.png", full_page=True)
    payout.refresh_from_db()
    assert payout.status == Payout.Status.AWAITING_SECOND_APPROVAL
    # Alice's queue no longer offers it: the second approval is someone else's.
    page.goto(f"{live_server.url}{QUEUE}")
    expect(page.locator("#changelist")).not_to_contain_text(payout.reference)

    sign_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}{QUEUE}?queue=second")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list tbody tr")).to_contain_text("waiting for you")
    approve_on_its_page(
        page, live_server.url, payout.reference, button="Give the second approval"
    )
    expect(page.locator(".messagelist")).to_have_text(
        "Approved and queued for payment."
    )

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert SandboxPayoutRecord.objects.get(reference=payout.reference).times_paid == 1
    page.goto(f"{live_server.url}{QUEUE}?queue=done")
    paid_row = page.locator("#result_list tbody tr", has_text=payout.reference)
    expect(paid_row).to_contain_text("Paid")
    page.screenshot(path=folder / "payout-queue-paid.png", full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_queue_shows_its_key_columns_at_1280_without_scrolling(
    live_server, browser_page, shots
):
    folder = shots
    scene = queue_scene()
    page = browser_page
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server.url, scene.bob.username)

    for queue in ("mine", "all"):
        page.goto(f"{live_server.url}{QUEUE}?queue={queue}")
        page.screenshot(path=folder / f"payout-queue-{queue}-desktop.png")
        fits(page)
        width = page.viewport_size["width"]
        for column in KEY_COLUMNS:
            box = page.locator(f"#result_list thead th.column-{column}").bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, column
        # Nor does the table scroll inside its own box.
        assert page.evaluate(
            "(() => { const r = document.querySelector('.results');"
            " return r.scrollWidth <= r.clientWidth; })()"
        )

    flagged = page.locator("#result_list tbody tr", has_text=scene.flagged.reference)
    # A long value is cut, the whole of it in the title; the risk cell one line.
    reference = flagged.locator("th.field-ref .cut")
    expect(reference).to_have_attribute("title", scene.flagged.reference)
    risk = flagged.locator("td.field-risk .cut-risk")
    assert "most earnings from one sender" in risk.get_attribute("title")
    line = float(risk.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
    assert risk.bounding_box()["height"] <= line * 1.5
    expect(flagged).to_contain_text("needs 2 approvals")

    # The selected rows are added up before anything is applied.
    flagged.locator("input.action-select").check()
    page.locator("#result_list tbody tr", has_text=scene.plain.reference).locator(
        "input.action-select"
    ).check()
    total = scene.flagged.net_amount + scene.plain.net_amount
    expect(page.locator("#payout-selected-total")).to_have_text(
        f"2 · net ${total:,.2f}"
    )
    page.screenshot(path=folder / "payout-queue-selected-desktop.png")
    page.select_option('select[name="action"]', "approve")
    page.click('button[name="index"]')
    expect(page.locator("#content")).to_contain_text(
        f"Approve 2 payout(s), in total net ${total:,.2f}"
    )
    page.screenshot(path=folder / "payout-bulk-approve-confirm-desktop.png")
    assert {
        p.status
        for p in Payout.objects.filter(id__in=[scene.flagged.id, scene.plain.id])
    } == {"requested"}

    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}{QUEUE}")
    fits(page)
    page.screenshot(path=folder / "payout-queue-phone.png", full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_payout_page_fits_and_says_what_is_wrong_beside_the_field(
    live_server, browser_page, shots, size
):
    folder = shots
    scene = queue_scene()
    page = browser_page
    page.set_viewport_size(DESKTOP if size == "desktop" else PHONE)
    sign_in(page, live_server.url, scene.bob.username)

    for name, payout in (
        ("flagged", scene.flagged),
        ("second", scene.half_approved),
        ("failed", scene.failed),
        ("regular", scene.regular),
    ):
        page.goto(f"{live_server.url}{QUEUE}{payout.id}/change/")
        fits(page)
        page.screenshot(path=folder / f"payout-page-{name}-{size}.png", full_page=True)

    page.goto(f"{live_server.url}{QUEUE}{scene.flagged.id}/change/")
    panel = page.locator(".payout-decision")
    for amount in ("300,000.5", "$1,500.00", "$15.25", "$1,484.75"):
        expect(panel.locator(".amounts")).to_contain_text(amount)
    expect(panel.locator(".risk-flags li")).to_have_count(4)
    page.get_by_role("button", name="Reject").click()
    expect(page.locator(".decision-reject .errorlist")).to_have_text(
        "Give the reason: the creator reads it."
    )
    fits(page)
    page.screenshot(
        path=folder / f"payout-page-reject-error-{size}.png", full_page=True
    )
    assert Payout.objects.get(id=scene.flagged.id).status == "requested"
