"""Support finds a user from one search box and reads their page in a real browser,
at desktop and phone widths; a role without it meets the admin's 403, and a wrong
address its 404, each with a way back."""


import pytest
from playwright.sync_api import expect

from accounts.roles import CATALOG_EDITORS, SUPPORT
from reports.tests.test_user_lookup import history_create
from wallets.tests.factories import staff_create

from .conftest import admin_login
from .test_browser_adjustments import SIZES, fits

SEARCH = "/admin/reports/userlookup/"


def signed_in(page, live_server, size: str, role: str, username: str) -> dict:
    """A user's history made, and a person of `role` signed in at `size`."""
    history = history_create()
    user = staff_create(role, username=username)
    user.set_password("pw-" + username)
    user.save()
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))
    admin_login(page, live_server.url, username, "pw-" + username)
    return history


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("size", SIZES)
def test_support_finds_a_user_and_reads_their_page_without_sideways_scrolling(
    live_server, browser_page, shots, size
):
    folder, page = shots, browser_page
    history = signed_in(page, live_server, size, SUPPORT, "sam")

    page.goto(f"{live_server.url}{SEARCH}")
    fits(page)
    page.fill("#lookup-q", "mia.rossi@example.com")
    page.keyboard.press("Enter")

    expect(page.locator("h1")).to_have_text("mia")
    expect(page.locator("#wallet")).to_contain_text("997 coins")
    expect(page.locator("#transfers")).to_contain_text(f"gift:{history['sends'][1].pk}")
    fits(page)
    page.screenshot(path=folder / f"user_lookup_viewer_{size}.png", full_page=True)

    # From a gift sent to the creator's page, and its payout's masked destination.
    page.locator("#gifts-sent a", has_text="Creator").first.click()
    expect(page.locator("h1")).to_have_text("jo_streams")
    expect(page.locator("#creator")).to_contain_text("j***@example.com")
    expect(page.locator("#payouts")).to_contain_text(history["payout"].reference)
    fits(page)
    page.screenshot(path=folder / f"user_lookup_creator_{size}.png", full_page=True)

    # A transfer's reference opens what it names.
    page.locator("#transfers a", has_text=f"payout:{history['payout'].pk}").click()
    expect(page.locator("#content")).to_contain_text(history["payout"].reference)

    page.goto(f"{live_server.url}{SEARCH}?q=o")  # a part: who contains it
    expect(page.locator("#lookup-matches tbody tr")).to_have_count(2)
    fits(page)
    page.screenshot(path=folder / f"user_lookup_matches_{size}.png", full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("size", SIZES)
def test_the_403_and_404_pages_look_like_the_admin_and_lead_back(
    live_server, browser_page, shots, size
):
    folder, page = shots, browser_page
    history = signed_in(page, live_server, size, CATALOG_EDITORS, "cathy")

    # A link from the gift list to a page this role may not open.
    gifts = f"{live_server.url}/admin/catalog/gift/"
    response = page.goto(
        f"{live_server.url}{SEARCH}{history['viewer'].pk}/change/", referer=gifts
    )
    assert response.status == 403
    expect(page.locator("#site-name")).to_contain_text("Gift economy back-office")
    expect(page.locator("#content")).to_contain_text("signed in as cathy")
    expect(page.locator("#content")).not_to_contain_text("mia")
    fits(page)
    page.screenshot(path=folder / f"error_403_{size}.png", full_page=True)
    page.click("#go-back")
    expect(page).to_have_url(gifts)
    page.goto(f"{live_server.url}/admin/accounts/user/", referer=gifts)
    page.click("#go-home")
    expect(page.locator("h1")).to_have_text("Back-office")

    response = page.goto(f"{live_server.url}/admin/catalog/no-such-screen/")
    assert response.status == 404
    expect(page.locator("#content")).to_contain_text("/admin/catalog/no-such-screen/")
    fits(page)
    page.screenshot(path=folder / f"error_404_{size}.png", full_page=True)

    icon = page.request.get(f"{live_server.url}/favicon.ico")
    assert icon.ok and icon.headers["content-type"] in (
        "image/x-icon",
        "image/vnd.microsoft.icon",
    )
