"""Catalog editors' gifter levels in a real browser: the 50 levels fit a 1280 x 800
laptop (a phone's 390 x 844 scrolls the list in its box, never the page), their coin
thresholds right-aligned so the digits line up, and a threshold out of order is
refused beside its field.

Screenshots land in SCREENSHOT_DIR (else the test's tmp_path) for people to look at.
"""

import pytest

from accounts.roles import CATALOG_EDITORS
from gifting.models import GifterLevel
from wallets.tests.factories import staff_create

from .conftest import admin_login
from .test_browser_lists import MEASURE

URL = "/admin/gifting/gifterlevel/"
# The coin column's alignment, and where each cell's figure ends: one edge when the
# figures line up.
COIN_COLUMN = """() => {
  const cells = [...document.querySelectorAll('#result_list td.field-needs')];
  const edge = (cell) => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    return Math.round(range.getBoundingClientRect().right);
  };
  return {
    align: [...new Set(cells.map((cell) => getComputedStyle(cell).textAlign))],
    header: getComputedStyle(
      document.querySelector('#result_list th.column-needs')).textAlign,
    rightEdges: [...new Set(cells.map(edge))],
  };
}"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_gifter_levels_fit_and_a_wrong_threshold_is_refused_beside_it(
    live_server, browser_page, shots
):
    staff_create(CATALOG_EDITORS, username="catalog")
    page = browser_page
    admin_login(page, live_server.url, "catalog", "pw")
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}{URL}")
        page.screenshot(path=shots / f"gifter-levels-{width}.png", full_page=True)
        measured = page.evaluate(MEASURE)
        assert measured["page"] <= 0, (width, measured)
        if width >= 1280:
            assert measured["tableRight"] <= measured["viewport"], measured
        assert "4,117,715" in page.inner_text("#result_list")
        coins = page.evaluate(COIN_COLUMN)
        assert coins["align"] == ["right"] and coins["header"] == "right", coins
        assert len(coins["rightEdges"]) == 1, coins

    level = GifterLevel.objects.get(number=5)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}{URL}{level.id}/change/")
    page.fill("#id_coins_needed", "1")
    page.click('input[name="_save"]')
    page.screenshot(path=shots / "gifter-level-refused-1280.png", full_page=True)
    assert "Must be more than level 4" in page.inner_text(".field-coins_needed")
    assert GifterLevel.objects.get(number=5).coins_needed == level.coins_needed
