"""Each role's main screens, as its people open them: at a 1280 x 800 laptop and a
390 x 844 phone every page answers, reads as the admin's own page (not a 403 or
404) and is never wider than the window. The screenshots are the artefacts people
look at (SCREENSHOT_DIR in CI): role-<role>-<screen>-<width>.png.
"""

import datetime

import pytest
from django.utils import timezone

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from catalog.models import Gift
from payouts.models import Payout
from reports.models import Incident
from wallets.tests.factories import staff_create

from .conftest import admin_login
from .test_browser_lists import LONG_GIFT, LONG_USERNAME, long_rows

SIZES = ((1280, 800), (390, 844))


def incidents_long():
    """A failed batch's incident naming ten references, open, and a closed one."""
    references = ", ".join(f"PO-{n:04d}-7F3KQ2M9XW" for n in range(10))
    Incident.objects.create(
        kind=Incident.Kind.PAYOUTS_FAILED,
        key="2026-12-07T12:30:00.123456+00:00",
        summary=f"12 payouts refused by the provider at 2026-12-07 12:30:00 UTC: "
        f"{references} and 2 more.",
    )
    Incident.objects.create(
        kind=Incident.Kind.RECONCILIATION,
        key="ledger",
        summary="Reconciliation run #41 of 2026-12-07 11:00 UTC found 3 problems.",
        opened_at=timezone.now() - datetime.timedelta(hours=3),
        closed_at=timezone.now() - datetime.timedelta(hours=1),
    )


def screens(role: str) -> dict[str, str]:
    """The pages a role opens first thing in the morning, by name."""
    if role == CATALOG_EDITORS:
        gift = Gift.objects.get(name=LONG_GIFT)
        return {
            "home": "/admin/",
            "gifts": "/admin/catalog/gift/",
            "gift": f"/admin/catalog/gift/{gift.id}/change/",
            "bundles": "/admin/catalog/coinbundle/",
            "bundle-prices": "/admin/catalog/bundleprice/",
            "price-grid": "/admin/catalog/bundleprice/grid/?region=ID&channel=app",
            "price-changes": "/admin/catalog/giftpricechange/",
        }
    if role == FINANCE:
        payout = Payout.objects.get()
        return {
            "home": "/admin/",
            "payout-queue": "/admin/payouts/payout/",
            "payout": f"/admin/payouts/payout/{payout.id}/change/",
            "dashboard": "/admin/reports/moneydashboard/",
            "books": "/admin/reports/books/",
            "reconciliation": "/admin/wallets/reconciliationrun/",
            "levels": "/admin/gifting/creatorlevel/",
            "incidents": "/admin/reports/incident/",
        }
    return {
        "home": "/admin/",
        "user-search": f"/admin/reports/userlookup/?q={LONG_USERNAME}",
        "purchases": "/admin/wallets/purchase/",
        "transfers": "/admin/wallets/transfer/",
        "gift-sends": "/admin/gifting/giftsend/",
    }


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(
    "role", [CATALOG_EDITORS, FINANCE, SUPPORT], ids=["catalog", "finance", "support"]
)
def test_each_roles_main_screens_answer_and_fit_laptop_and_phone(
    live_server, browser_page, shots, role
):
    long_rows()
    incidents_long()
    name = role.split()[0].lower()
    staff_create(role, username=f"{name}-person")
    page = browser_page
    admin_login(page, live_server.url, f"{name}-person", "pw")

    wrong = {}
    for screen, url in screens(role).items():
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            answer = page.goto(f"{live_server.url}{url}")
            page.screenshot(
                path=shots / f"role-{name}-{screen}-{width}.png", full_page=True
            )
            overflow = page.evaluate(
                "document.documentElement.scrollWidth"
                " - document.documentElement.clientWidth"
            )
            if answer.status != 200:
                wrong[f"{screen}@{width}"] = f"answered {answer.status}"
            elif page.locator("#user-tools").count() != 1:
                wrong[f"{screen}@{width}"] = "not the admin's page"
            elif overflow > 0:
                wrong[f"{screen}@{width}"] = f"{overflow}px wider than the window"
    assert not wrong, wrong
