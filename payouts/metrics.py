"""Payout requests and moves for Prometheus (core/metrics.py): counted once each
commits. How many wait in each state, and for how long, is read at scrape time
(reports/metrics.py)."""

from django.db import transaction
from prometheus_client import Counter

PAYOUT_REQUESTS = Counter(
    "giftshop_payout_requests",
    "Payouts requested, by currency and method.",
    ["currency", "method"],
)
PAYOUT_MOVES = Counter(
    "giftshop_payout_moves",
    "Payouts moved to a state (approved, processing, paid, failed...).",
    ["to_status"],
)


def payout_request_counted(*, currency: str, method: str) -> None:
    transaction.on_commit(lambda: PAYOUT_REQUESTS.labels(currency, method).inc())


def payout_move_counted(*, to_status: str) -> None:
    transaction.on_commit(lambda: PAYOUT_MOVES.labels(to_status).inc())
