"""Purchases, refunds and adjustments for Prometheus (core/metrics.py): counted
once each commits. Revenue is for watching, in the currency's major units as a
float; the ledger and the month's books are the exact figures."""

from decimal import Decimal

from django.db import transaction
from prometheus_client import Counter

PURCHASES = Counter(
    "giftshop_purchases",
    "Coin purchases recorded, by currency and store.",
    ["currency", "store"],
)
PURCHASE_REVENUE = Counter(
    "giftshop_purchase_revenue",
    "Price of the purchases recorded, by currency (major units) and store.",
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
        PURCHASE_REVENUE.labels(currency, store).inc(float(price))
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
