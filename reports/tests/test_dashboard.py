import json
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from gifting import services as gifting_services
from gifting.tests.factories import creator_create, funded_sender, rich_creator, rose
from payouts import services
from reports.selectors import money_dashboard
from wallets import services as wallet_services
from wallets.models import (
    DIAMOND_SCALE,
    LedgerAccount,
    ReconciliationRun,
    UnrecoveredStoreRefund,
)
from wallets.reconciliation import ledger_reconcile, ledger_reconcile_request
from wallets.tests.factories import (
    on_sale,
    price_create,
    region_create,
    staff_create,
    user_create,
)
from wallets.tests.test_refunds import purchase, spend

from .factories import sales_on_days

pytestmark = pytest.mark.django_db
URL = "/admin/reports/moneydashboard/"


def test_figures_agree_with_the_ledger():
    sender = funded_sender(100)  # one purchase of USD 9.99
    creator, gift = creator_create(), rose(coin_price=10)
    gifting_services.gift_send(
        sender=sender,
        creator=creator,
        gift=gift,
        quantity=3,
        placement="live",
        stream_id="s",
        region=None,
        idempotency_key="g",
    )
    rich = rich_creator(diamonds=30_000)
    payout = services.payout_request(
        creator=rich, diamond_units=20_000 * DIAMOND_SCALE, idempotency_key="p"
    ).payout
    ledger_reconcile()

    figures = money_dashboard()

    (usd,) = figures["coins_sold"]
    assert (usd.label, usd.total) == ("USD", Decimal("9.99"))
    assert figures["gifts_sent"].total == 30
    # 15 diamonds earned from the gift + the rich creator's 30,000 (20,000 on hold).
    assert figures["diamonds_outstanding"] == Decimal("30015")
    assert figures["diamonds_on_hold"] == Decimal("20000")
    # 150.075 rounds down, as a payout's gross does (docs/payouts.md).
    assert figures["cash_liability"] == Decimal("150.07")
    assert figures["payouts_waiting"] == (1, [Money(payout.net_amount, "USD")])
    assert figures["reconciliation"].is_clean


def test_finance_reads_the_dashboard_and_support_does_not(client):
    funded_sender(100)
    client.force_login(staff_create(FINANCE))
    page = client.get(URL)
    assert page.status_code == 200
    assert b"Coins sold per day, in USD" in page.content
    assert b'<canvas data-figures="chart-sales"' in page.content

    client.force_login(staff_create(SUPPORT))
    assert client.get(URL).status_code == 403


def _unrecovered_store_refund(bundle, region, txn) -> UnrecoveredStoreRefund:
    """A store refunds a purchase with 30 of its 100 coins spent: a shortfall."""
    buyer = user_create()
    purchase(buyer, bundle, region, txn=txn)
    spend(buyer, 30)
    result = wallet_services.store_refund_notification_handle(
        store="apple", transaction_id=txn
    )
    return result.shortfall


def test_open_unrecovered_store_refunds_are_counted_and_valued_per_currency(client):
    bundle, us = on_sale(coins=100, amount="4.99")
    jp = region_create("JP", currency="JPY")
    price_create(bundle, jp, "800")
    for n in range(2):
        _unrecovered_store_refund(bundle, us, f"us-{n}")
    _unrecovered_store_refund(bundle, jp, "jp-0")
    finance = staff_create(FINANCE)
    wallet_services.unrecovered_store_refund_resolve(
        record=_unrecovered_store_refund(bundle, us, "us-resolved"),
        actor=finance,
        note="Written off",
    )

    figures = money_dashboard()
    client.force_login(finance)
    page = client.get(URL).content.decode()

    # 30 of 100 paid coins: USD 4.99 x 0.3 = 1.497, 1.50 each; JPY 800 x 0.3 = 240.
    assert figures["unrecovered_store_refunds"] == [
        ("JPY", 1, Decimal("240.00")),
        ("USD", 2, Decimal("3.00")),
    ]
    assert figures["unrecovered_store_refunds_count"] == 3
    assert UnrecoveredStoreRefund.objects.get(
        purchase__store_transaction_id="jp-0"
    ).price == Money("800", "JPY")
    assert "Store refunds not fully recovered" in page
    assert "¥240 lost (1)" in page
    assert "$3.00 lost (2)" in page
    assert "/admin/wallets/unrecoveredstorerefund/?resolved=no" in page


def test_no_open_unrecovered_store_refunds_shows_none(client):
    client.force_login(staff_create(FINANCE))

    page = client.get(URL).content.decode()

    assert money_dashboard()["unrecovered_store_refunds"] == []
    assert "none open" in page


def test_the_dashboard_values_diamonds_at_the_rate_a_payout_would_use():
    """The rate in force now, not a later one already entered: one rule for both."""

    from payouts.models import DiamondCashRate
    from payouts.selectors import cash_rate_current

    rich_creator(diamonds=10_000)
    now = timezone.now()
    DiamondCashRate.objects.create(
        currency="USD", rate="0.004", effective_at=now - timezone.timedelta(days=2)
    )
    in_force = DiamondCashRate.objects.create(
        currency="USD", rate="0.006", effective_at=now - timezone.timedelta(days=1)
    )
    DiamondCashRate.objects.create(
        currency="USD", rate="0.009", effective_at=now + timezone.timedelta(days=1)
    )

    figures = money_dashboard()
    assert cash_rate_current(currency="USD", when=timezone.now()) == in_force
    assert figures["cash_rate"] == in_force
    assert figures["cash_liability"] == (
        figures["diamonds_outstanding"] * Decimal("0.006")
    ).quantize(Decimal("0.01"))


# --- Charts, their range and currency ------------------------------------------


def _figures(page, key: str) -> dict:
    """What a chart's script draws: the page's json_script element `chart-<key>`."""
    html = page.content.decode()
    start = html.index(f'<script id="chart-{key}" type="application/json">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def test_charts_show_the_chosen_days_and_currency_as_the_page_writes_figures(client):
    sales_on_days([0, 0, 3])
    sales_on_days([1], region=region_create("JP", currency="JPY"), amount="1500")
    client.force_login(staff_create(FINANCE))

    page = client.get(URL, {"days": "7", "currency": "JPY"})

    sales = _figures(page, "sales")
    assert (sales["currency"], sales["digits"], len(sales["labels"])) == ("JPY", 0, 7)
    assert Decimal(sales["values"][-2]) == 1500
    assert sales["shown"][-2] == "¥1,500"
    assert sales["title"] == "Coins sold per day, in JPY"
    gifts = _figures(page, "gifts")
    assert (gifts["currency"], len(gifts["values"])) == (None, 7)
    text = page.content.decode()
    # The readable fallback: the sentence and the table of every day.
    assert "Coins sold per day, in JPY, 7 days: ¥1,500 in all" in text
    assert '<td class="figure-cell">¥1,500</td>' in text
    # Every currency's total, the others a link to their chart.
    assert "<strong>¥1,500</strong>" in text
    assert '<a href="?days=7&amp;currency=USD">$14.97</a>' in text

    usd = _figures(client.get(URL, {"days": "90"}), "sales")
    assert (usd["currency"], len(usd["values"])) == ("USD", 90)
    assert usd["shown"][-1] == "$9.98"
    assert usd["shown"][-4] == "$4.99"


def test_a_currency_without_sales_shows_an_empty_chart(client):
    client.force_login(staff_create(FINANCE))

    page = client.get(URL, {"currency": "EUR"})

    sales = _figures(page, "sales")
    assert sales["currency"] == "EUR"
    assert set(sales["shown"]) == {"€0.00"}
    assert "No sales in these 30 days." in page.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {"days": "5"},
        {"days": "abc"},
        {"days": "9" * 40},
        {"currency": "XXX"},
        {"currency": "<script>alert(1)</script>"},
        {"days": "-30", "currency": "usd"},
    ],
)
def test_a_bad_range_or_currency_is_named_and_falls_back(client, query):
    sales_on_days([0])
    client.force_login(staff_create(FINANCE))

    page = client.get(URL, query)

    assert page.status_code == 200
    text = page.content.decode()
    assert "Select a valid choice." in text
    assert "Showing 30 days in USD instead" in text
    assert "<script>alert(1)</script>" not in text
    sales = _figures(page, "sales")
    assert (sales["currency"], len(sales["values"])) == ("USD", 30)


def test_the_dashboard_reads_in_the_same_queries_whatever_the_range_or_data(
    client,
):
    finance = staff_create(FINANCE)
    client.force_login(finance)
    client.get(URL)  # the session and permissions, read once and kept

    with CaptureQueriesContext(connection) as few:
        assert client.get(URL, {"days": "7"}).status_code == 200

    sales_on_days([0, 1, 2, 5, 20, 45, 80])
    sales_on_days([3, 60], region=region_create("JP", currency="JPY"), amount="1500")
    sales_on_days([4], region=region_create("ID", currency="IDR"), amount="78800")
    funded_sender(100)
    ledger_reconcile()

    with CaptureQueriesContext(connection) as many:
        page = client.get(URL, {"days": "90", "currency": "JPY"})
    assert page.status_code == 200
    assert len(_figures(page, "sales")["values"]) == 90
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


# --- Reconciliation, run now ------------------------------------------------------

RUN_NOW = "/admin/reports/moneydashboard/run-reconciliation/"


def test_the_card_links_to_the_latest_run_and_the_runs(client):
    client.force_login(staff_create(FINANCE))
    assert "Not run yet" in client.get(URL).content.decode()

    run = ledger_reconcile()
    text = client.get(URL).content.decode()

    assert f'href="/admin/wallets/reconciliationrun/{run.pk}/change/"' in text
    assert 'href="/admin/wallets/reconciliationrun/">all runs</a>' in text
    assert "Run reconciliation now" in text
    assert f'action="{RUN_NOW}"' in text


def test_finance_runs_reconciliation_now_once_a_minute(
    client, eager_celery, django_capture_on_commit_callbacks
):
    client.force_login(staff_create(FINANCE))

    with django_capture_on_commit_callbacks(execute=True) as queued:
        answer = client.post(RUN_NOW)
    assert answer.status_code == 302
    assert answer.url == URL
    assert len(queued) == 1
    assert ReconciliationRun.objects.get().is_clean

    with django_capture_on_commit_callbacks(execute=True) as queued_again:
        page = client.post(RUN_NOW, follow=True)
    assert queued_again == []
    assert ReconciliationRun.objects.count() == 1
    assert "asked for less than a minute ago, so none was queued" in (
        page.content.decode()
    )


@pytest.mark.parametrize("role", [SUPPORT, CATALOG_EDITORS])
def test_support_and_catalog_editors_cannot_run_reconciliation(
    client, role, django_capture_on_commit_callbacks
):
    client.force_login(staff_create(role))

    with django_capture_on_commit_callbacks(execute=True) as queued:
        answer = client.post(RUN_NOW)

    assert answer.status_code == 403
    assert queued == []
    assert not ReconciliationRun.objects.exists()


def test_support_cannot_run_reconciliation_through_the_service():
    with pytest.raises(PermissionDenied):
        ledger_reconcile_request(actor=staff_create(SUPPORT))
    assert not ReconciliationRun.objects.exists()


def test_a_get_or_a_post_without_csrf_runs_nothing(
    django_capture_on_commit_callbacks,
):
    finance = staff_create(FINANCE)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(finance)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert browser.get(RUN_NOW).status_code == 405
        assert browser.post(RUN_NOW).status_code == 403
        assert Client().post(RUN_NOW).status_code == 302  # to the login page

    assert queued == []
    assert not ReconciliationRun.objects.exists()


def test_run_now_with_a_worker_says_it_was_queued(
    client, django_capture_on_commit_callbacks, monkeypatch
):
    """With a broker the run happens later, on a worker: the message says so."""
    from wallets import tasks

    sent = []
    monkeypatch.setattr(tasks.reconcile_ledger, "delay", lambda: sent.append(1))
    client.force_login(staff_create(FINANCE))

    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(RUN_NOW, follow=True)

    assert sent == [1]
    assert "Reconciliation queued: a worker runs it now." in page.content.decode()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_finance_reads_what_the_run_found(client, eager_celery):
    """Committed for real, as in the admin: the run is there when the message is."""
    funded_sender(100)
    client.force_login(staff_create(FINANCE))

    text = client.post(RUN_NOW, follow=True).content.decode()

    run = ReconciliationRun.objects.get()
    assert "Reconciliation ran: the ledger is clean; 1 transfers" in text
    assert f"/admin/wallets/reconciliationrun/{run.pk}/change/" in text

    cache.clear()  # past the minute between two runs
    account = LedgerAccount.objects.filter(owner__isnull=False).first()
    LedgerAccount.objects.filter(pk=account.pk).update(balance=F("balance") + 1)
    text = client.post(RUN_NOW, follow=True).content.decode()

    assert "Reconciliation ran and found 2 problem(s)" in text
    assert "Read them in the run" in text


def test_with_no_sales_in_the_base_currency_the_first_selling_one_is_shown(client):
    sales_on_days([2], region=region_create("JP", currency="JPY"), amount="1500")
    client.force_login(staff_create(FINANCE))

    assert _figures(client.get(URL), "sales")["currency"] == "JPY"
    # Asked for, the base currency is shown even with nothing sold in it.
    assert _figures(client.get(URL, {"currency": "USD"}), "sales")["currency"] == "USD"
