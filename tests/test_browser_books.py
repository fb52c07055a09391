"""Finance's Books page in a real browser: its tables fit a 1280 x 800 laptop beside
the admin's navigation and a 390 x 844 phone (rows become "label: value" cards),
a bad range is named beside its field, and the XLSX download opens.

Screenshots land in SCREENSHOT_DIR (else the test's tmp_path) for people to look at.
"""

import datetime
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from accounts.models import User
from accounts.roles import FINANCE
from reports.models import BooksExport, Export, ExportEvent
from reports.tests.test_books import scene
from wallets.tests.factories import staff_create

from .conftest import admin_login

URL = "/admin/reports/books/"
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
# The right edge of every table and cell: none may pass the window's.
WIDEST = (
    "Math.max(...[...document.querySelectorAll('#content table.books, "
    "#content table.books td')].map(e => e.getBoundingClientRect().right))"
)


def _today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


@pytest.fixture
def finance_page(live_server, browser_page):
    scene()
    staff_create(FINANCE, username="finance")
    admin_login(browser_page, live_server.url, "finance", "pw")
    return browser_page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_books_fit_a_laptop_and_a_phone(live_server, finance_page, shots):
    page = finance_page
    day = _today()
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}{URL}?start={day}&end={day}")
        page.screenshot(path=shots / f"books-{width}.png", full_page=True)

        assert "Every ledger group ties out" in page.inner_text("#verdict")
        assert page.evaluate(OVERFLOW) <= 0, width
        widest = page.evaluate(WIDEST)
        assert widest <= width, (width, widest)
        sales = page.inner_text("#sales")
        assert "USD · App Store" in sales and "$9.98" in sales
        assert "$98.75" in page.inner_text("#payouts")
        if width < 768:
            # A card per row: the labels show beside the figures.
            label = page.evaluate(
                "getComputedStyle(document.querySelector('#payouts td.figure'),"
                " '::before').content"
            )
            assert label == '"Payouts"', label


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_bad_range_is_named_and_the_xlsx_downloads(live_server, finance_page, shots):
    page = finance_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}{URL}?start=2026-03-10&end=2026-03-01")
    page.screenshot(path=shots / "books-bad-range.png")
    assert "The last day comes before the first." in page.inner_text("form.range")
    assert page.locator("#verdict").count() == 0

    day = _today()
    page.fill("#id_start", day)
    page.fill("#id_end", day)
    page.click("form.range button[type=submit]")
    page.wait_for_selector("#verdict")
    with page.expect_download() as download:
        page.click("form.books-export button[value=xlsx]")
    assert download.value.suggested_filename == f"books-{day}-to-{day}.xlsx"
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("section", "line", "currency", "store", "unit", "value")
    assert ("Sales", "Paid coins sold", "USD", "Web store", "coins", 500) in rows
    assert BooksExport.objects.get().format == "xlsx"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_export_jobs_show_with_progress_and_download(
    live_server, finance_page, shots, settings, tmp_path, eager_celery
):
    settings.EXPORTS_ROOT = tmp_path / "exports"
    page = finance_page
    day = _today()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}{URL}?start={day}&end={day}")
    page.click("form.journal-export button[value=csv]")
    page.wait_for_selector("#exports button.download")
    assert "ready to download below" in page.inner_text(".messagelist")
    # One still running, as a worker shows it between two chunks of days.
    finance = User.objects.get(username="finance")
    Export.objects.create(
        what="journal",
        first_day=datetime.date(2026, 1, 1),
        last_day=datetime.date(2026, 12, 31),
        format="xlsx",
        requested_by=finance,
        status="running",
        progress=40,
    )
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}{URL}?start={day}&end={day}")
        page.locator("#exports").scroll_into_view_if_needed()
        page.screenshot(path=shots / f"books-exports-{width}.png", full_page=True)
        assert page.evaluate(OVERFLOW) <= 0, width
        widest = page.evaluate(WIDEST)
        assert widest <= width, (width, widest)
        exports = page.inner_text("#exports")
        assert "General-ledger journal · CSV" in exports and "40 %" in exports
        assert page.locator("#exports progress").count() == 1

    with page.expect_download() as download:
        page.click("#exports button.download")
    assert download.value.suggested_filename == f"journal-{day}-to-{day}.csv"
    text = Path(download.value.path()).read_text()
    assert text.startswith("date,reference,account,account_name,unit,debit,credit")
    assert list(
        ExportEvent.objects.values_list("action", flat=True).order_by("id")
    ) == [
        "asked",
        "downloaded",
    ]
