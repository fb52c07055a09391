"""Finance's export buttons on the payout, purchase, gift send and transfer lists in
a real browser: in view beside the list's tools at 1280 x 800 and 390 x 844, and
a click downloads the list as filtered.

Screenshots land in SCREENSHOT_DIR (else the test's tmp_path) for people to look at.
"""

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from accounts.roles import FINANCE
from core.models import ListExport
from wallets.tests.factories import staff_create

from .conftest import admin_login
from .test_browser_lists import LONG_CREATOR, LONG_GIFT, long_rows

LISTS = {
    "payouts": "/admin/payouts/payout/?queue=all",
    "purchases": "/admin/wallets/purchase/",
    "gift_sends": "/admin/gifting/giftsend/",
    "transfers": "/admin/wallets/transfer/",
}
TOOLS = """() => {
    const doc = document.documentElement;
    const buttons = [...document.querySelectorAll('.object-tools .list-export button')];
    return {
        page: doc.scrollWidth - doc.clientWidth,
        labels: buttons.map(b => b.textContent.trim()),
        right: Math.max(...buttons.map(b => b.getBoundingClientRect().right)),
        left: Math.min(...buttons.map(b => b.getBoundingClientRect().left)),
    };
}"""


@pytest.fixture
def finance_page(live_server, browser_page):
    long_rows()
    staff_create(FINANCE, username="finance")
    admin_login(browser_page, live_server.url, "finance", "pw")
    return browser_page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_export_buttons_fit_a_laptop_and_a_phone(live_server, finance_page, shots):
    page = finance_page
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for name, url in LISTS.items():
            page.goto(f"{live_server.url}{url}")
            page.screenshot(path=shots / f"export_{name}-{width}.png")
            tools = page.evaluate(TOOLS)
            assert tools["labels"] == ["Export CSV", "Export XLSX"], name
            assert tools["page"] <= 0, (name, width, tools)
            assert 0 <= tools["left"] and tools["right"] <= width, (name, width, tools)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_click_downloads_the_list_as_filtered(live_server, finance_page, shots):
    page = finance_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/gifting/giftsend/")
    page.click(f"#changelist-filter a:text('{LONG_GIFT}')")
    page.wait_for_url("**gift__id__exact=*")
    assert page.locator("#result_list tbody tr").count() == 1

    with page.expect_download() as download:
        page.click(".list-export button[value=csv]")
    assert download.value.suggested_filename.startswith("gift-sends-")
    text = Path(download.value.path()).read_text()
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert (row["gift"], row["quantity"], row["coins"]) == (LONG_GIFT, "99", "198000")
    assert row["creator"] == LONG_CREATOR

    page.goto(f"{live_server.url}/admin/payouts/payout/?queue=all")
    with page.expect_download() as download:
        page.click(".list-export button[value=xlsx]")
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    header, row = list(sheet.iter_rows(values_only=True))
    values = dict(zip(header, row, strict=True))
    assert values["diamonds"] == 22_000
    assert values["status"] == "Requested"
    exports = list(ListExport.objects.order_by("id").values_list("list_label", "rows"))
    assert exports == [("gifting.GiftSend", 1), ("payouts.Payout", 1)]
