"""Gift sends for Prometheus (core/metrics.py): counted once each send commits."""

from django.db import transaction
from prometheus_client import Counter

GIFT_SENDS = Counter(
    "giftshop_gift_sends",
    "Gift sends, by gift and the sender's home region.",
    ["gift", "region"],
)
GIFT_COINS = Counter(
    "giftshop_gift_coins",
    "Coins spent on gifts, by gift and the sender's home region.",
    ["gift", "region"],
)
# A sender whose home region is not known yet.
NO_REGION = "none"


def gift_send_counted(*, gift: str, region: str | None, coins: int) -> None:
    def count():
        GIFT_SENDS.labels(gift, region or NO_REGION).inc()
        GIFT_COINS.labels(gift, region or NO_REGION).inc(coins)

    transaction.on_commit(count)
