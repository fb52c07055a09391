"""What is measured: the scenarios wrk runs, the floors that bound their targets,
and the issue's targets the report checks."""

from dataclasses import dataclass

GIFT_BODY = (
    '{"gift": "rose", "creator": {creator}, "quantity": 1, "placement": "live", '
    '"stream_id": "bench-stream-{creator}", "region": "US"}'
)
HORDAK_BODY = '{"coins": 1}'
PURCHASE_BODY = (
    '{"bundle": "coins_100", "region": "US", "channel": "app", "store": "apple", '
    '"receipt": "{receipt}"}'
)


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    method: str
    path: str
    users: str  # whose tokens: "senders" or "buyers"
    expect: int  # the one status that counts as success; any other is an error
    body: str = ""
    idempotent: bool = False  # sends a unique Idempotency-Key per request
    creators: str = ""  # "all" or "hot": which creators the gifts go to
    conditional: bool = False  # sends If-None-Match with the current ETag
    target: float | None = None  # the target ratio to bare


SCENARIOS = [
    Scenario(
        "bare", "token auth + one indexed read", "GET", "/bench/bare/", "senders", 200
    ),
    Scenario(
        "catalog",
        "GET /api/v1/gifts/?region=US",
        "GET",
        "/api/v1/gifts/?region=US",
        "senders",
        200,
        target=0.9,
    ),
    Scenario(
        "catalog_304",
        "same, If-None-Match: ETag -> 304",
        "GET",
        "/api/v1/gifts/?region=US",
        "senders",
        304,
        conditional=True,
        target=1.0,
    ),
    Scenario(
        "wallet",
        "GET /api/v1/wallet/",
        "GET",
        "/api/v1/wallet/",
        "senders",
        200,
        target=0.8,
    ),
    Scenario(
        "purchase",
        "POST /api/v1/purchases/ (coins_100)",
        "POST",
        "/api/v1/purchases/",
        "buyers",
        201,
        body=PURCHASE_BODY,
        idempotent=True,
        target=0.5,
    ),
    Scenario(
        "gifts_spread",
        "POST /api/v1/gift-sends/, 1,000 creators",
        "POST",
        "/api/v1/gift-sends/",
        "senders",
        201,
        body=GIFT_BODY,
        idempotent=True,
        creators="all",
        target=0.6,
    ),
    Scenario(
        "gifts_hot",
        "POST /api/v1/gift-sends/, one creator",
        "POST",
        "/api/v1/gift-sends/",
        "senders",
        201,
        body=GIFT_BODY,
        idempotent=True,
        creators="hot",
        target=0.5,
    ),
    # The peer: the coins of a gift leaving the sender, posted through django-hordak
    # (bench/peer.py). A gift does more, so this is a reference, not a target.
    Scenario(
        "hordak_transfer",
        "POST /bench/hordak-transfer/, 1 coin, django-hordak",
        "POST",
        "/bench/hordak-transfer/",
        "senders",
        201,
        body=HORDAK_BODY,
    ),
]
# What an endpoint making as many round trips to the database as a gift send (2 on
# PostgreSQL; gifting/tests/test_api.py pins the count) or a purchase (7 on
# PostgreSQL; wallets/tests/test_api.py pins it) can reach at best on this stack:
# the bare request with as many one-row reads in a transaction. Their ratio to bare
# bounds the gift and purchase targets. The token lookup is kept per process in
# the floor and in the endpoints alike, so it is not one of them.
GIFT_STATEMENTS, PURCHASE_STATEMENTS = 2, 7
SCENARIOS += [
    Scenario(
        "floor_gift",
        f"{GIFT_STATEMENTS} reads: a gift's round trips, nothing else",
        "GET",
        f"/bench/floor/?statements={GIFT_STATEMENTS}",
        "senders",
        200,
    ),
    Scenario(
        "floor_purchase",
        f"{PURCHASE_STATEMENTS} reads: a purchase's round trips, nothing else",
        "GET",
        f"/bench/floor/?statements={PURCHASE_STATEMENTS}",
        "senders",
        200,
    ),
]
# Measured again at the end: how far the machine drifted during the run.
BARE_AGAIN = Scenario(
    "bare_end", "bare again, after everything", "GET", "/bench/bare/", "senders", 200
)
# The growth runs repeat these after topping the ledger up (BENCH_GROWTH).
GROWTH_SCENARIOS = ("bare", "wallet", "gifts_spread", "gifts_hot")
# Latency (p50) of these at the largest growth size over the smallest.
GROWTH_LATENCY_SCENARIOS = ("wallet", "gifts_spread", "gifts_hot")
GROWTH_LATENCY_TARGET = 1.2
HOT_OVER_SPREAD_TARGET = 0.85
WORKER_RSS_TARGET_MB = 150
ADMIN_PAGE_TARGET_MS = 300
CELERY_RATE_TARGET = 0.5  # payouts paid per second over no-op tasks per second
CELERY_RSS_TARGET_MB = 200
