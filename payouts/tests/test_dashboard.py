from decimal import Decimal

import pytest

from accounts.roles import FINANCE, SUPPORT
from payouts import services
from payouts.selectors import money_dashboard
from wallets.models import DIAMOND_SCALE
from wallets.reconciliation import ledger_reconcile
from wallets.tests.factories import staff_create

from .factories import creator_create, funded_sender, rich_creator, rose

pytestmark = pytest.mark.django_db
URL = "/admin/payouts/moneydashboard/"


def test_figures_agree_with_the_ledger():
    sender = funded_sender(100)  # one purchase of USD 9.99
    creator, gift = creator_create(), rose(coin_price=10)
    services.gift_send(
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
    assert figures["cash_liability"] == Decimal("150.08")
    assert figures["payouts_waiting"] == (1, payout.net_amount)
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
