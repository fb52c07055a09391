"""A real browser edits a gift price in the admin and the public API serves it.

The Django test client skips what only a browser does: the login form, the CSRF
cookie round trip, the changelist's list-editable formset and its Save button. This
test drives headless Chromium through that flow against a live server.
"""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from accounts.models import User
from accounts.roles import CATALOG_EDITORS
from catalog.tests.factories import gift_create

EDITOR_USERNAME = "browser-editor"
EDITOR_PASSWORD = "editor-password"
NEW_PRICE = 25


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_catalog_editor_changes_price_in_admin_changelist(
    live_server, browser_page, shots
):
    editor = User.objects.create_user(
        username=EDITOR_USERNAME, password=EDITOR_PASSWORD, is_staff=True
    )
    editor.groups.add(Group.objects.get(name=CATALOG_EDITORS))
    rose = gift_create(name="Rose", slug="rose", coin_price=1)
    page = browser_page

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", EDITOR_USERNAME)
    page.fill("#id_password", EDITOR_PASSWORD)
    page.click('input[type="submit"]')
    expect(page.locator("#user-tools")).to_contain_text(EDITOR_USERNAME)

    page.goto(f"{live_server.url}/admin/catalog/gift/")
    rose_row = page.locator("#result_list tbody tr", has_text="Rose")
    rose_row.locator('input[name$="-coin_price"]').fill(str(NEW_PRICE))
    page.click('input[name="_save"]')

    expect(page.locator(".messagelist .success")).to_contain_text(
        "was changed successfully"
    )
    page.screenshot(path=shots / "gift_changelist_after_save.png", full_page=True)

    response = page.request.get(f"{live_server.url}/api/v1/gifts/")
    assert response.ok, response.status
    prices_by_slug = {gift["slug"]: gift["coin_price"] for gift in response.json()}
    assert prices_by_slug["rose"] == NEW_PRICE

    rose.refresh_from_db()
    assert rose.coin_price == NEW_PRICE
    assert rose.history.filter(coin_price=NEW_PRICE, history_user=editor).exists()
