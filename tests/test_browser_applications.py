"""Support's creator review queue in a real browser: the waiting applications and
why they wait fit a 1280 x 800 laptop (a phone's 390 x 844 scrolls the list in its
box, never the page); a reviewer refuses one with a reason and it leaves the queue,
and refuses another on its own page with the buttons there.

Screenshots land in SCREENSHOT_DIR (else the test's tmp_path) for people to look at.
"""

import datetime

import pytest
from django.utils import timezone

from accounts.roles import SUPPORT
from gifting.models import CreatorApplication
from gifting.services.applications import (
    FactsReport,
    account_facts_report,
    creator_application_submit,
)
from wallets.tests.factories import staff_create, user_create

from .conftest import admin_login
from .test_browser_lists import MEASURE

URL = "/admin/gifting/creatorapplication/"
# How far the page is wider than the window (0 or less: it fits).
PAGE_OVERFLOW = (
    "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
)


def submit(page, button: str, shot) -> str:
    """Click `button`, keep a screenshot of the answer, return its messages."""
    page.click(button)
    page.wait_for_selector(".messagelist")
    page.screenshot(path=shot, full_page=True)
    return page.inner_text(".messagelist")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_review_queue_fits_and_a_refusal_leaves_it(
    live_server, browser_page, shots
):
    staff_create(SUPPORT, username="reviewer")
    now = timezone.now()
    names = ("Maria Fernanda Gonçalves da Silva", "Bo", "Kenji Watanabe Live")
    for n, name in enumerate(names):
        user = user_create(username=f"applicant{n}")
        if n:  # the first has no facts at all; the others' are stale
            account_facts_report(
                reports=[
                    FactsReport(
                        user.pk,
                        12_000 * n,
                        datetime.date(1990, 1, 1),
                        False,
                        now - datetime.timedelta(days=40 + n),
                    )
                ]
            )
        creator_application_submit(user=user, display_name=name)
    page = browser_page
    admin_login(page, live_server.url, "reviewer", "pw")
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}{URL}")
        page.screenshot(path=shots / f"review-queue-{width}.png", full_page=True)

        measured = page.evaluate(MEASURE)
        assert measured["rows"] == 3
        assert measured["page"] <= 0, (width, measured)
        if width >= 1280:
            assert measured["results"] <= 0, measured
            assert measured["tableRight"] <= measured["viewport"], measured
        listing = page.inner_text("#result_list")
        assert "days old" in listing and "reported no facts" in listing

    page.set_viewport_size({"width": 1280, "height": 800})
    first = CreatorApplication.objects.get(user__username="applicant1")
    page.goto(f"{live_server.url}{URL}{first.pk}/change/")
    page.screenshot(path=shots / "review-application-1280.png", full_page=True)
    assert "12,000" in page.inner_text("#content")

    page.goto(f"{live_server.url}{URL}")
    page.check(f'input[name="_selected_action"][value="{first.pk}"]')
    page.select_option('select[name="action"]', "refuse")
    page.click('button[name="index"]')
    page.fill("#id_reason", "The account was bought.")
    page.screenshot(path=shots / "review-refuse-1280.png", full_page=True)
    said = submit(page, 'input[type="submit"]', shots / "review-after-refuse-1280.png")
    assert "Refused 1 application(s)." in said
    assert page.locator("#result_list tbody tr").count() == 2
    first.refresh_from_db()
    assert first.decision_note == "The account was bought."

    # One application's page decides it too: its buttons fit both sizes.
    other = CreatorApplication.objects.get(user__username="applicant2")
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}{URL}{other.pk}/change/")
        page.screenshot(path=shots / f"review-decide-page-{width}.png", full_page=True)
        assert page.evaluate(PAGE_OVERFLOW) <= 0, width
        for button in ('input[name="_approve"]', 'input[name="_refuse"]'):
            box = page.locator(button).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (
                width,
                button,
                box,
            )
    page.fill("#id_reason", "Followers bought in bulk.")
    said = submit(page, 'input[name="_refuse"]', shots / "review-on-page-390.png")
    assert "Refused 1 application(s)." in said
    assert page.locator('input[name="_refuse"]').count() == 0
    other.refresh_from_db()
    assert (other.status, other.decision_note) == (
        CreatorApplication.Status.REFUSED,
        "Followers bought in bulk.",
    )
