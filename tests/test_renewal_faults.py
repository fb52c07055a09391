"""Due subscriptions renewed by a real Celery worker that is SIGKILLed mid-run and
restarted: each is charged exactly once for the period, and the ledger balances.

The suite runs a smoke size (`SUBSCRIPTION_SOAK_SIZE`, 500 by default);
`make soak-renewals` runs 10,000.
"""

import datetime
import os
import time

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from config.celery import app as celery_app
from gifting.tests.factories import creator_create
from subscriptions import services, tasks
from subscriptions.models import PERIOD, Subscription, SubscriptionCharge
from subscriptions.tests.factories import tier_create
from wallets import ledger
from wallets.models import AccountKind, LedgerAccount
from wallets.reconciliation import ledger_reconcile
from wallets.tests.factories import user_create

from .soak_helpers import REAL_STACK, Stack, database_url, wait_for

pytestmark = REAL_STACK
SIZE = int(os.environ.get("SUBSCRIPTION_SOAK_SIZE", "500"))
CREATORS = 10
PRICE = 100


def _due_subscriptions(size: int) -> list[int]:
    """`size` subscriptions whose second period is due now, to CREATORS creators,
    each subscriber holding bonus coins for exactly one renewal more."""
    started = timezone.now() - PERIOD - datetime.timedelta(minutes=1)
    tiers = [tier_create(creator_create(), coin_price=PRICE) for _ in range(CREATORS)]
    for n in range(size):
        viewer = user_create()
        with transaction.atomic():
            ledger.adjustment_post(
                account=ledger.user_account(viewer, AccountKind.BONUS_COINS),
                amount=2 * PRICE,
                actor_id=0,
                client_key=f"soak-{viewer.id}",
            )
        services.subscription_subscribe(
            subscriber=viewer,
            tier=tiers[n % CREATORS],
            coin_price=tiers[n % CREATORS].coin_price,
            idempotency_key="soak",
            now=started,
        )
    return services.subscriptions_due()


def test_renewals_charge_each_period_once_although_the_worker_is_killed(tmp_path):
    due = _due_subscriptions(SIZE)
    assert len(due) == SIZE
    celery_app.control.purge()
    stack = Stack(tmp_path, database_url())
    worker_env = {"SUBSCRIPTION_RENEWAL_BATCH": "20", "CELERY_VISIBILITY_TIMEOUT": "5"}

    def renewed() -> int:
        return SubscriptionCharge.objects.filter(period=2).count()

    try:
        stack.start_worker("renewals-1", concurrency=2, **worker_env)
        tasks.renew_due.delay()
        assert wait_for(lambda: renewed() >= SIZE // 10, 120, every=0.05), stack.log(
            "renewals-1.log"
        )
        stack.kill_worker("renewals-1")
        killed_at = renewed()
        assert killed_at < SIZE, "the worker finished before it could be killed"
        print(f"worker killed after {killed_at:,} of {SIZE:,} renewals")

        stack.start_worker("renewals-2", concurrency=2, **worker_env)
        done = False
        for _ in range(120):
            # As beat does every minute: queue what is still due.
            tasks.renew_due.delay()
            if wait_for(lambda: not services.subscriptions_due(), 5):
                done = True
                break
        # Let any redelivered batch of the killed worker run out too.
        time.sleep(6)
    finally:
        stack.stop_all()

    assert done, f"{len(services.subscriptions_due())} still due"
    per_subscription = (
        SubscriptionCharge.objects.values("subscription")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    assert set(per_subscription) == {2}
    assert renewed() == SIZE
    assert Subscription.objects.filter(period=2, status="active").count() == SIZE
    assert ledger_reconcile().is_clean
    # Each creator's diamonds are the sum of their charges' shares.
    earned = dict(
        SubscriptionCharge.objects.values("creator__user")
        .annotate(total=Sum("creator_diamond_units"))
        .values_list("creator__user", "total")
    )
    assert len(earned) == CREATORS
    for account in LedgerAccount.objects.filter(
        owner__in=earned, kind=AccountKind.DIAMONDS
    ):
        pending = account.pending_credits.aggregate(total=Sum("amount"))["total"]
        assert account.balance + (pending or 0) == earned[account.owner_id]
