"""Catalog staff write a gift in every language on its page, at a laptop's 1280 x 800
and a phone's 390 x 844, and the list says which languages are still missing.

Screenshots land in SCREENSHOT_DIR (else the test's tmp_path) for people to look at.
"""

import pytest

from catalog import languages
from catalog.models import Gift
from catalog.tests.factories import gift_create

from .conftest import admin_login

PAGE_OVERFLOW = "() => document.documentElement.scrollWidth - innerWidth"
FIELD_RIGHT = """(name) => {
    const box = document.querySelector(`[name="${name}"]`).getBoundingClientRect();
    return box.right;
}"""


@pytest.fixture
def editor_page(live_server, browser_page, catalog_editor):
    gift_create(
        slug="lion-dance",
        name="Lion Dance",
        description="A lion dances across the screen for the Lunar New Year.",
        name_de="Löwentanz",
        description_de="Ein Löwe tanzt zum Mondneujahr über den Bildschirm.",
        name_ja="獅子舞",
    )
    admin_login(browser_page, live_server.url, "cat-editor", "pw")
    return browser_page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_staff_write_every_language_of_a_gift(
    live_server, editor_page, shots, width, height
):
    page = editor_page
    page.set_viewport_size({"width": width, "height": height})
    gift = Gift.objects.get(slug="lion-dance")

    page.goto(f"{live_server.url}/admin/catalog/gift/{gift.pk}/change/")
    page.locator("fieldset", has_text="Other languages").scroll_into_view_if_needed()
    page.screenshot(path=shots / f"gift_languages-{width}.png", full_page=True)

    assert page.evaluate(PAGE_OVERFLOW) <= 0
    for code in languages.codes():
        for field in languages.TRANSLATED:
            name = languages.column(field, code)
            assert page.evaluate(FIELD_RIGHT, name) <= width, name
    page.fill('[name="name_fr"]', "Danse du lion")
    page.fill('[name="description_fr"]', "Un lion danse pour le Nouvel An lunaire.")
    page.click('input[name="_save"]')
    page.wait_for_selector("#result_list")
    page.screenshot(path=shots / f"gift_languages_list-{width}.png", full_page=True)

    gift.refresh_from_db()
    assert (gift.name_fr, gift.name_de, gift.name_en) == (
        "Danse du lion",
        "Löwentanz",
        "Lion Dance",
    )
    missing = page.locator("#result_list td.field-missing_languages").inner_text()
    # Japanese lacks its description; the rest lack everything.
    assert missing == "es, pt-br +5"
    assert page.evaluate(PAGE_OVERFLOW) <= 0
