"""Purchases, refunds and adjustments for Prometheus (core/metrics.py): counted
once each commits. Revenue is counted in minor units, whole numbers, so the sum
stays exact (a sample is a float, exact for whole numbers up to 2**53)."""

from decimal import Decimal

from django.db import transaction
from prometheus_client import Counter

from core.fields import MONEY_DECIMAL_PLACES, to_minor_units

PURCHASES = Counter(
    "giftshop_purchases",
    "Coin purchases recorded, by currency and store.",
    ["currency", "store"],
)
PURCHASE_REVENUE = Counter(
    "giftshop_purchase_revenue_minor_units",
    "Price of the purchases recorded, by currency and store, in hundredths of "
    "the currency's unit (the project's one precision for cash).",
    ["currency", "store"],
)
PURCHASE_COINS = Counter(
    "giftshop_purchase_coins",
    "Coins sold, paid and bonus, by store.",
    ["kind", "store"],
)
REFUNDS = Counter(
    "giftshop_refunds",
    "Purchases refunded, by store, source (store, finance) and whether the coins "
    "were all still there to take back.",
    ["store", "source", "recovered"],
)
ADJUSTMENTS = Counter(
    "giftshop_adjustments",
    "Balance adjustments by status reached (requested, approved, rejected).",
    ["status"],
)


def purchase_counted(
    *, currency: str, store: str, price: Decimal, paid_coins: int, bonus_coins: int
) -> None:
    def count():
        PURCHASES.labels(currency, store).inc()
        PURCHASE_REVENUE.labels(currency, store).inc(
            to_minor_units(price, MONEY_DECIMAL_PLACES)
        )
        PURCHASE_COINS.labels("paid", store).inc(paid_coins)
        if bonus_coins:
            PURCHASE_COINS.labels("bonus", store).inc(bonus_coins)

    transaction.on_commit(count)


def refund_counted(*, store: str, source: str, recovered: bool) -> None:
    transaction.on_commit(
        lambda: REFUNDS.labels(store, source, "yes" if recovered else "no").inc()
    )


def adjustment_counted(*, status: str) -> None:
    transaction.on_commit(lambda: ADJUSTMENTS.labels(status).inc())
