from decimal import Decimal

import pytest
from djmoney.money import Money

from accounts.roles import FINANCE, SUPPORT
from gifting import services as gifting_services
from gifting.tests.factories import creator_create, funded_sender, rich_creator, rose
from payouts import services
from reports.selectors import money_dashboard
from wallets import services as wallet_services
from wallets.models import DIAMOND_SCALE, UnrecoveredStoreRefund
from wallets.reconciliation import ledger_reconcile
from wallets.tests.factories import (
    on_sale,
    price_create,
    region_create,
    staff_create,
    user_create,
)
from wallets.tests.test_refunds import purchase, spend

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
    assert b"Coins sold per day, USD" in page.content
    assert b"<rect" in page.content

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
    assert "¥240 of paid coins spent (1)" in page
    assert "$3.00 of paid coins spent (2)" in page
    assert "/admin/wallets/unrecoveredstorerefund/?resolved=no" in page


def test_no_open_unrecovered_store_refunds_shows_none(client):
    client.force_login(staff_create(FINANCE))

    page = client.get(URL).content.decode()

    assert money_dashboard()["unrecovered_store_refunds"] == []
    assert "none open" in page


def test_the_dashboard_values_diamonds_at_the_rate_a_payout_would_use():
    """The rate in force now, not a later one already entered: one rule for both."""
    from django.utils import timezone

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
