"""The gift import in a real browser: a file with bad rows lists each one on the
page, and a preview lists each change old -> new, both within a 1280 x 800 laptop
(the preview once made the page 1,761 px wide) and usable at a phone's 390 x 844.

Screenshots land in SCREENSHOT_DIR (else the test's tmp_path) for people to look at.
"""

import pytest

from accounts.roles import CATALOG_EDITORS
from catalog.imports import rules
from catalog.tests.factories import gift_create, region_create
from wallets.tests.factories import staff_create

from .conftest import admin_login

LONG_NAME = "Lion Dance Extravaganza (Lunar New Year sponsored edition)"
LONG_DESCRIPTION = (
    "A full-screen lion dance with drums, cymbals and a shower of red envelopes "
    "that runs for twelve seconds across the whole stream, sponsored this season"
)
OVERFLOW = """() => {
    const doc = document.documentElement;
    const table = document.querySelector('table.import-table');
    return {
        page: doc.scrollWidth - doc.clientWidth,
        tableRight: table.getBoundingClientRect().right,
        viewport: doc.clientWidth,
        rows: table.tBodies[0].rows.length,
    };
}"""


def gift_file(rows: list[dict]) -> bytes:
    header = ",".join(rules.GIFT_COLUMNS)
    lines = [
        ",".join(f'"{row.get(column, "")}"' for column in rules.GIFT_COLUMNS)
        for row in rows
    ]
    return "\n".join([header, *lines, ""]).encode()


def row(n: int, **fields) -> dict:
    return {
        "slug": f"gift-{n}",
        "name": f"{LONG_NAME} {n}",
        "coin_price": str(n * 10),
        "category": "popular",
        "placement": "live",
        "description": LONG_DESCRIPTION,
        "sort_order": str(n),
        "is_active": "1",
        "regions": "US|JP",
        **fields,
    }


BAD_FILE = gift_file(
    [
        row(1),
        row(2, coin_price="0"),  # line 3
        row(3, category="gold"),  # line 4
        row(4, regions="US|XX|" + "|".join(f"Z{n}" for n in range(10))),  # line 5
        row(5, coin_price="ten"),  # line 6
        row(6, available_from="next week"),  # line 7
    ]
)


@pytest.fixture
def editor_page(live_server, browser_page):
    region_create("US"), region_create("JP", currency="JPY")
    editor = staff_create(CATALOG_EDITORS, username="editor")
    editor.set_password("pw-editor")
    editor.save()
    admin_login(browser_page, live_server.url, "editor", "pw-editor")
    return browser_page


def upload(page, base_url: str, content: bytes) -> None:
    page.goto(f"{base_url}/admin/catalog/gift/import/")
    page.set_input_files(
        "#id_import_file",
        files=[{"name": "gifts.csv", "mimeType": "text/csv", "buffer": content}],
    )
    page.click('input[type="submit"]')
    page.wait_for_selector("table.import-table")


def measure(page) -> dict:
    return page.evaluate(OVERFLOW)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_import_errors_are_listed_per_row_on_a_laptop_and_a_phone(
    live_server, editor_page, shots
):
    page = editor_page

    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        upload(page, live_server.url, BAD_FILE)
        page.locator("table.bad-rows").scroll_into_view_if_needed()
        page.screenshot(path=shots / f"import_errors-{width}.png", full_page=True)
        measured = measure(page)
        assert measured["page"] <= 0, (width, measured)
        assert measured["tableRight"] <= measured["viewport"], (width, measured)
        lines = page.locator("table.bad-rows td.line").all_inner_texts()
        assert lines == ["3", "4", "5", "6", "7"], width
        # Every message is on the page, in view of its row, without a hover.
        assert page.locator("table.bad-rows td.message").first.is_visible()
        assert page.locator(".validation-error-count").count() == 0


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_import_preview_fits_a_laptop_and_a_phone(live_server, editor_page, shots):
    gift_create(slug="gift-1", name=f"{LONG_NAME} 1", coin_price=5, sort_order=1)
    page = editor_page
    content = gift_file([row(n) for n in range(1, 8)])

    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        upload(page, live_server.url, content)
        page.screenshot(path=shots / f"import_preview-{width}.png", full_page=True)
        measured = measure(page)
        assert measured["page"] <= 0, (width, measured)
        assert measured["tableRight"] <= measured["viewport"], (width, measured)
        first = page.locator("tr.import-row").first
        assert "coin_price: 5 -> 10" in " ".join(first.inner_text().split())


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_gift_history_reads_as_the_screens_do(live_server, editor_page, shots):
    """Labels, not field names; a dash, not None; a reason on each entry."""
    gift = gift_create(slug="gift-1", name=f"{LONG_NAME} 1", coin_price=5)
    page = editor_page
    upload(page, live_server.url, gift_file([row(1)]))
    page.click('input[name="confirm"]')
    page.wait_for_selector(".messagelist")

    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}/admin/catalog/gift/{gift.id}/history/")
        page.screenshot(path=shots / f"gift_history-{width}.png", full_page=True)
        table = page.locator("#change-history").inner_text()
        assert "Coin price" in table and "coin_price" not in table, width
        assert "None" not in table, width
        assert "Import of gifts.csv" in table, width
        overflow = page.evaluate(
            "document.documentElement.scrollWidth"
            " - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (width, overflow)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_large_import_lists_the_same_lines_on_its_job_page(
    live_server, editor_page, shots, eager_celery
):
    page = editor_page
    page.goto(f"{live_server.url}/admin/catalog/importjob/upload/?kind=gifts")
    page.set_input_files(
        "#id_file",
        files=[{"name": "gifts.csv", "mimeType": "text/csv", "buffer": BAD_FILE}],
    )
    page.click('input[type="submit"]')
    page.wait_for_selector("table.bad-rows")

    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.reload()
        page.locator("table.bad-rows").scroll_into_view_if_needed()
        page.screenshot(path=shots / f"import_job_errors-{width}.png", full_page=True)
        measured = measure(page)
        assert measured["page"] <= 0, (width, measured)
        lines = page.locator("table.bad-rows td.line").all_inner_texts()
        assert lines == ["3", "4", "5", "6", "7"], width
