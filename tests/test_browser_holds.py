"""Finance's earnings hold screen in a real browser: the rules list fits a 1280 x 800
laptop beside the navigation and filters (a phone's 390 x 844 scrolls the list in
its box, never the page), and a backdated rule is refused beside its field.

Screenshots land in SCREENSHOT_DIR (else the test's tmp_path) for people to look at.
"""

import datetime

import pytest
from django.utils import timezone

from accounts.roles import FINANCE
from gifting.models import EarningsHold
from wallets.tests.factories import region_create, staff_create

from .conftest import admin_login
from .test_browser_lists import MEASURE

URL = "/admin/gifting/earningshold/"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_hold_rules_fit_a_laptop_and_a_phone(live_server, browser_page, shots):
    finance = staff_create(FINANCE, username="finance")
    now = timezone.now()
    for n, (code, days) in enumerate((("US", 7), ("GB", 14), ("IN", 0))):
        EarningsHold.objects.create(
            region=region_create(code) if code != "US" else None,
            days=days,
            effective_from=now - datetime.timedelta(days=10 - n),
            set_at=now - datetime.timedelta(days=10 - n),
            set_by=finance,
            reason="Chargebacks from new buyers in the first week after a "
            "promotion, as the risk review of November asked",
        )
    page = browser_page
    admin_login(page, live_server.url, "finance", "pw")
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}{URL}")
        page.screenshot(path=shots / f"earnings-hold-{width}.png", full_page=True)

        measured = page.evaluate(MEASURE)
        assert measured["rows"] == 3
        assert measured["page"] <= 0, (width, measured)
        if width >= 1280:
            assert measured["results"] <= 0, measured
            assert measured["tableRight"] <= measured["viewport"], measured
        listing = page.inner_text("#result_list")
        assert "All regions" in listing and "14 days" in listing and "Off" in listing

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}{URL}add/")
    page.fill("#id_days", "10")
    page.fill("#id_effective_from_0", "2020-01-01")
    page.fill("#id_effective_from_1", "00:00:00")
    page.fill("#id_reason", "Backdated on purpose")
    page.click('input[name="_save"]')
    page.screenshot(path=shots / "earnings-hold-add-refused-1280.png", full_page=True)
    assert "gifts already sent keep the hold" in page.inner_text(
        ".field-effective_from"
    )
    assert EarningsHold.objects.count() == 3
