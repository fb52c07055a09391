"""The books and the dashboard with the earnings hold on: what it took back is its
own line, and an unrecovered refund counts only what the hold did not recover."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money

from gifting.tests.factories import creator_create
from payouts.tests.test_holds import buyer_with, gift, store_refund
from reports.selectors import books_for, money_dashboard

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def hold_on(settings):
    settings.EARNINGS_HOLD_DAYS = 7


def test_the_books_show_what_the_hold_took_back_and_count_only_the_loss():
    now = timezone.now()
    creator = creator_create()
    partly, _ = buyer_with(100, at=now - 20 * DAY, txn="t-1", price="4.99")
    gift(partly, creator, 30, at=now - 10 * DAY, key="old")  # left the hold
    gift(partly, creator, 40, at=now - DAY, key="g-2")  # on hold: 20 diamonds
    whole, _ = buyer_with(100, at=now - 2 * DAY, txn="t-2", price="4.99")
    gift(whole, creator, 100, at=now - DAY, key="g-3")  # on hold: 50 diamonds
    store_refund("t-1", now=now)
    store_refund("t-2", now=now)
    today = now.astimezone(datetime.UTC).date()

    books = books_for(start=today, end=today)

    assert books.diamonds_taken_back_by_hold == 70 * 10_000
    (line,) = books.sales
    # Only t-1 lost anything: 30 coins, 4.99 × 30 / 100 = 1.497.
    assert (line.unrecovered, line.unrecovered_paid_coins) == (1, 30)
    assert line.unrecovered_value == Money(Decimal("1.50"), "USD")
    assert books.ties
    figures = money_dashboard(now=now, days=7)
    assert figures["hold_saved_units"] == 70 * 10_000
    assert figures["hold_saved_cash"] == Decimal("0.35")  # 70 diamonds at 0.005
    assert figures["unrecovered_store_refunds_count"] == 1
