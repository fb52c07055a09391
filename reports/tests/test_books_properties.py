"""The books tie out for any history: Hypothesis plays random purchases (two
currencies, two stores, random prices and bonuses), gifts, granted refunds and store
refunds, then reads the books of a random range around today, on SQLite and
PostgreSQL alike. Each example runs in a savepoint rolled back after it."""

import contextlib
import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ServiceError
from reports.selectors import books_for
from wallets import services as wallet_services
from wallets.models import AccountKind, LedgerAccount, Purchase
from wallets.selectors import wallet_balances
from wallets.tests.factories import (
    bundle_create,
    price_create,
    purchase_buy,
    region_create,
    user_create,
)
from wallets.tests.test_refunds import spend

from .test_books import today, web_purchase

pytestmark = pytest.mark.django_db
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DAY = datetime.timedelta(days=1)


@contextlib.contextmanager
def _example():
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


purchases = st.tuples(
    st.just("buy"),
    st.sampled_from(["US", "JP"]),
    st.sampled_from(["apple", "web"]),
    st.integers(1, 5_000),  # coins
    st.integers(0, 500),  # bonus coins
    st.integers(1, 99_999),  # price in cents
)
gifts = st.tuples(st.just("gift"), st.sampled_from(["US", "JP"]), st.integers(1, 3_000))
refunds = st.tuples(st.sampled_from(["refund", "store_refund"]), st.integers(0, 1_000))


@EXAMPLES
@given(
    steps=st.lists(st.one_of(purchases, gifts, refunds), min_size=1, max_size=12),
    start_offset=st.integers(-3, 1),
    days=st.integers(1, 5),
)
def test_the_books_always_tie_out(steps, start_offset, days):
    with _example():
        regions = {"US": region_create("US"), "JP": region_create("JP", "JPY")}
        # A buyer per region: a user buys only in their home region.
        buyers = {code: user_create() for code in regions}
        bought: list[Purchase] = []
        for n, step in enumerate(steps):
            if step[0] == "buy":
                _, code, store, coins, bonus, cents = step
                region, buyer = regions[code], buyers[code]
                amount = str(Decimal(cents).scaleb(-2))
                bundle = bundle_create(coins=coins, price=amount, bonus_coins=bonus)
                if store == "web":
                    price_create(bundle, region, amount, channel="web")
                    bought.append(web_purchase(buyer, bundle, region, f"w{n}"))
                else:
                    price_create(bundle, region, amount)
                    bought.append(
                        purchase_buy(buyer, bundle, region, key=f"a{n}").purchase
                    )
            elif step[0] == "gift":
                buyer = buyers[step[1]]
                held = wallet_balances(user=buyer).coins
                if held:
                    spend(buyer, min(step[2], held))
            elif bought:
                purchase = bought[step[1] % len(bought)]
                purchase.refresh_from_db()
                if step[0] == "refund":
                    with contextlib.suppress(ServiceError):
                        wallet_services.purchase_refund(
                            purchase=purchase, actor=None, reason="r", source="finance"
                        )
                else:
                    wallet_services.store_refund_notification_handle(
                        store=purchase.store,
                        transaction_id=purchase.store_transaction_id,
                    )

        start = today() + start_offset * DAY
        books = books_for(start=start, end=start + (days - 1) * DAY)

        assert all(line.ties for line in books.tie_outs), books.tie_outs
        assert books.unit_totals in ({}, {"coin": 0}, {"coin": 0, "diamond": 0})
        covers_today = start <= today() <= books.last_day
        sold = sum(line.paid_coins for line in books.sales)
        revenue: dict[str, Decimal] = {}
        for line in books.sales:
            revenue[line.currency] = revenue.get(line.currency, 0) + line.revenue.amount
        held = (
            LedgerAccount.objects.filter(kind=AccountKind.PAID_COINS).aggregate(
                total=Sum("balance")
            )["total"]
            or 0
        )
        if covers_today:
            assert sold == sum(p.coins for p in bought)
            expected: dict[str, Decimal] = {}
            for p in bought:
                code = p.price.currency.code
                expected[code] = expected.get(code, 0) + p.price.amount
            assert revenue == expected
            assert books.paid_coins_opening == 0
            assert books.paid_coins_closing == held
        elif start > today():
            assert sold == 0
            assert books.paid_coins_opening == books.paid_coins_closing == held
        else:
            assert sold == 0 and books.paid_coins_closing == 0
