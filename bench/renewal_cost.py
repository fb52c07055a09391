"""Renewals in one process: the time of each (its own transaction, as a worker runs
it) and one renewal's queries (README, *Benchmarks*, after issue 18's refunds).

Point it at a scratch database: it migrates it and adds `N` (300) subscribers, each
with two purchases, subscribed to ten creators a period ago.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch \\
        .venv/bin/python -m bench.renewal_cost
"""

import datetime
import os
import statistics
import time
from collections import Counter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("EARNINGS_HOLD_DAYS", "0")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from gifting.tests.factories import creator_create  # noqa: E402
from subscriptions import services  # noqa: E402
from subscriptions.models import PERIOD  # noqa: E402
from subscriptions.tests.factories import tier_create  # noqa: E402
from wallets.tests.factories import (  # noqa: E402
    bundle_create,
    price_create,
    purchase_buy,
    region_create,
    user_create,
)


def main() -> None:
    call_command("migrate", verbosity=0)
    size = int(os.environ.get("N", "300"))
    run = f"r{int(time.time())}"
    now = timezone.now()
    region = region_create()
    bundle = bundle_create(coins=1000, price="9.99")
    price_create(bundle, region, "9.99", effective_at=now - 3 * PERIOD)
    tiers = [tier_create(creator_create(), coin_price=100) for _ in range(10)]
    ids = []
    for n in range(size):
        viewer = user_create()
        for k in range(2):
            purchase_buy(
                viewer,
                bundle,
                region,
                key=f"{run}b{n}-{k}",
                when=now - 2 * PERIOD,
                txn=f"{run}t{n}-{k}",
            )
        ids.append(
            services.subscription_subscribe(
                subscriber=viewer,
                tier=tiers[n % len(tiers)],
                coin_price=100,
                idempotency_key=f"{run}s{n}",
                now=now - PERIOD - datetime.timedelta(minutes=1),
            ).subscription.id
        )
    connection.force_debug_cursor = True
    connection.queries_log.clear()
    outcomes = Counter([services.subscription_renew(subscription_id=ids[0], now=now)])
    queries = len(connection.queries)
    connection.force_debug_cursor = False
    times = []
    for subscription_id in ids[1:]:
        started = time.perf_counter()
        outcomes[
            services.subscription_renew(subscription_id=subscription_id, now=now)
        ] += 1
        times.append(time.perf_counter() - started)
    times.sort()
    print(
        f"{dict(outcomes)}; {queries} queries per renewal; median "
        f"{statistics.median(times) * 1000:.1f} ms, p90 "
        f"{times[int(len(times) * 0.9)] * 1000:.1f} ms; "
        f"{len(times) / sum(times):.0f} renewals/s"
    )


if __name__ == "__main__":
    main()
