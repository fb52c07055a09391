"""The money dashboard in a real browser: its charts draw (Chart.js, vendored) and
fit a 1280 x 800 laptop beside the admin's navigation and a 390 x 844 phone; the
range and currency selectors change what they show; finance runs a reconciliation.

Screenshots land in SCREENSHOT_DIR (else the test's tmp_path) for people to look at.
"""

import pytest

from accounts.roles import FINANCE
from gifting.services import gift_send
from gifting.tests.factories import creator_create, funded_sender, rose
from reports.tests.factories import sales_on_days
from wallets.models import ReconciliationRun
from wallets.tests.factories import region_create, staff_create

from .conftest import admin_login

URL = "/admin/reports/moneydashboard/"
# Each chart: drawn by Chart.js, its canvas's size, what its axes say.
CHARTS = """() => [...document.querySelectorAll('canvas[data-figures]')].map(canvas => {
    const chart = Chart.getChart(canvas);
    const box = canvas.getBoundingClientRect();
    return {
        key: canvas.dataset.figures,
        drawn: chart !== undefined,
        width: box.width,
        height: box.height,
        right: box.right,
        bars: chart ? chart.data.labels.length : 0,
        xLabels: chart ? chart.scales.x.ticks.map(t => t.label) : [],
        yLabels: chart ? chart.scales.y.ticks.map(t => t.label) : [],
    };
})"""
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture
def finance_page(live_server, browser_page):
    sales_on_days([0, 0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 80], amount="1249.99")
    sales_on_days([0, 4], region=region_create("JP", currency="JPY"), amount="150000")
    sender = funded_sender(5_000)
    creator, gift = creator_create(), rose(coin_price=50)
    for n, quantity in enumerate((3, 40, 7)):
        gift_send(
            sender=sender,
            creator=creator,
            gift=gift,
            quantity=quantity,
            placement="live",
            stream_id="s",
            region=None,
            idempotency_key=f"gift-{n}",
        )
    staff_create(FINANCE, username="finance")
    admin_login(browser_page, live_server.url, "finance", "pw")
    return browser_page


def charts_drawn(page) -> list[dict]:
    page.wait_for_function(
        "() => window.Chart && [...document.querySelectorAll('canvas[data-figures]')]"
        ".every(canvas => Chart.getChart(canvas))"
    )
    return page.evaluate(CHARTS)


def hover_busiest_bar(page, key: str) -> None:
    """Point at the tallest bar of chart `key`: its tooltip shows the figure."""
    x, y = page.evaluate(
        """(key) => {
            const canvas = document.querySelector(`canvas[data-figures="${key}"]`);
            const chart = Chart.getChart(canvas);
            const values = chart.data.datasets[0].data;
            const busiest = values.indexOf(Math.max(...values));
            const bar = chart.getDatasetMeta(0).data[busiest];
            const box = canvas.getBoundingClientRect();
            return [box.left + bar.x, box.top + (bar.y + bar.base) / 2];
        }""",
        key,
    )
    page.mouse.move(x, y)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_charts_draw_and_fit_a_laptop_and_a_phone(live_server, finance_page, shots):
    page = finance_page

    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}{URL}")
        charts = charts_drawn(page)
        page.locator("#chart-sales-figure").scroll_into_view_if_needed()
        hover_busiest_bar(page, "chart-sales")
        page.screenshot(
            path=shots / f"money_dashboard-charts-{width}.png", full_page=True
        )

        assert [chart["key"] for chart in charts] == ["chart-sales", "chart-gifts"]
        for chart in charts:
            assert chart["drawn"], chart
            assert chart["width"] > 200 and chart["height"] > 150, chart
            assert chart["right"] <= width, (width, chart)
            assert chart["bars"] == 30
        assert page.evaluate(OVERFLOW) <= 0, width
        sales, gifts = charts
        # Values on the y axis as the page writes money and coins; dates on the x.
        assert any(label.startswith("$") for label in sales["yLabels"]), sales
        assert any("," in label for label in sales["yLabels"]), sales
        assert not any("$" in label for label in gifts["yLabels"]), gifts
        assert sales["xLabels"][0][:3] in {
            "Jan",
            "Feb",
            "Mar",
            "Apr",
            "May",
            "Jun",
            "Jul",
            "Aug",
            "Sep",
            "Oct",
            "Nov",
            "Dec",
        }
        tooltip = page.evaluate(
            "() => Chart.getChart(document.querySelector("
            "'canvas[data-figures=\"chart-sales\"]')).tooltip.body"
            ".map(b => b.lines.join(' '))"
        )
        # Today: two sales of $1,249.99 and the sender's $9.99.
        assert tooltip == ["$2,509.97"], tooltip
        # 22,000 diamonds held for payouts is another test's; the cards fit too.
        widest = page.evaluate(
            "Math.max(...[...document.querySelectorAll('#content .card')]"
            ".map(e => e.getBoundingClientRect().right))"
        )
        assert widest <= width, (width, widest)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_range_and_currency_change_what_the_charts_show(
    live_server, finance_page, shots
):
    page = finance_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}{URL}")

    page.select_option("#id_days", "7")
    page.select_option("#id_currency", "JPY")
    page.click("form.range button[type=submit]")
    page.wait_for_url("**currency=JPY**")
    sales, gifts = charts_drawn(page)
    page.locator("#chart-sales-figure").scroll_into_view_if_needed()
    hover_busiest_bar(page, "chart-sales")
    page.screenshot(path=shots / "money_dashboard-7-days-JPY.png", full_page=True)

    assert (sales["bars"], gifts["bars"]) == (7, 7)
    assert any(label.startswith("¥") for label in sales["yLabels"]), sales
    assert "Coins sold per day, in JPY" in page.inner_text("#chart-sales-figure")
    assert "¥300,000 in all" in page.inner_text("#chart-sales-figure")

    page.select_option("#id_days", "90")
    page.click("form.range button[type=submit]")
    page.wait_for_url("**days=90**")
    sales, _ = charts_drawn(page)
    assert sales["bars"] == 90
    assert page.evaluate(OVERFLOW) <= 0

    # A value no list offers: named on the page, the default shown instead.
    page.goto(f"{live_server.url}{URL}?days=365&currency=XYZ")
    sales, _ = charts_drawn(page)
    page.screenshot(path=shots / "money_dashboard-bad-range.png")
    assert sales["bars"] == 30
    assert "Select a valid choice" in page.inner_text("form.range")
    assert "Showing 30 days in USD instead" in page.inner_text("#content")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_finance_runs_reconciliation_from_the_dashboard(
    live_server, finance_page, shots, eager_celery
):
    page = finance_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}{URL}")
    assert "Not run yet" in page.inner_text("#reconciliation")

    page.click("text=Run reconciliation now")
    page.wait_for_selector(".messagelist")
    page.screenshot(path=shots / "money_dashboard-reconciliation-run.png")

    run = ReconciliationRun.objects.get()
    assert "Reconciliation ran: the ledger is clean" in page.inner_text(".messagelist")
    assert "Clean" in page.inner_text("#reconciliation")
    page.click("#reconciliation .figure a")
    page.wait_for_url(f"**/wallets/reconciliationrun/{run.pk}/change/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_without_script_the_figures_read_as_text_and_tables(
    live_server, finance_page, shots
):
    browser = finance_page.context.browser
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    admin_login(page, live_server.url, "finance", "pw")
    page.goto(f"{live_server.url}{URL}?days=7")
    for summary in page.locator(".chart details summary").all():
        summary.click()
    page.screenshot(path=shots / "money_dashboard-no-script-390.png", full_page=True)

    sales = page.locator("#chart-sales-figure")
    assert "7 days: $7,509.93 in all" in sales.inner_text()
    assert "$2,509.97 on " in sales.inner_text()
    assert sales.locator("tbody tr").count() == 7
    assert not page.locator(".chart-box").first.is_visible()
    assert page.evaluate(OVERFLOW) <= 0
    context.close()
