"""Subscription renewals racing a payout request, on PostgreSQL: the payout takes
only the free diamonds, every renewal's charge stays in the creator's account on
hold, and no balance goes below zero (docs/holds.md)."""

import pytest
from django.conf import settings
from django.utils import timezone

from gifting.tests.factories import funded_sender, rich_creator
from payouts import services as payout_services
from subscriptions import services as subscription_services
from subscriptions.models import PERIOD, SubscriptionCharge
from subscriptions.tests.factories import tier_create
from wallets.models import LedgerAccount
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.test_concurrency import run_in_threads

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="concurrency needs PostgreSQL (set DATABASE_URL)",
    ),
]
FREE = 30_000  # whole diamonds from long ago: over the payout minimum
DIAMOND = 10_000
UNITS_PER_COIN = 5_000  # level 1's 50 %


@pytest.fixture(autouse=True)
def hold_on(settings):
    settings.EARNINGS_HOLD_DAYS = 7


def test_a_payout_racing_renewals_takes_only_the_free_diamonds():
    now = timezone.now()
    creator = rich_creator(diamonds=FREE)
    tier = tier_create(creator, coin_price=100)
    # First periods a period ago: out of the hold, free to cash out.
    subscriptions = [
        subscription_services.subscription_subscribe(
            subscriber=funded_sender(1000),
            tier=tier,
            coin_price=tier.coin_price,
            idempotency_key=f"s-{n}",
            now=now - PERIOD,
        ).subscription
        for n in range(6)
    ]
    free = FREE * DIAMOND + 6 * 100 * UNITS_PER_COIN

    def work(thread):
        if thread == len(subscriptions):
            return payout_services.payout_request(
                creator=creator, diamond_units=None, idempotency_key="p-1"
            ).payout.diamond_units
        return subscription_services.subscription_renew(
            subscription_id=subscriptions[thread].id
        )

    answers = run_in_threads(len(subscriptions) + 1, work)

    # Every renewal is held: the payout took exactly the diamonds free before.
    assert answers[-1] == free
    assert answers[:-1] == ["renewed"] * 6
    assert SubscriptionCharge.objects.filter(period=2).count() == 6
    left = wallet_balances(user=creator.user).diamond_units
    assert left == 6 * 100 * UNITS_PER_COIN
    assert not LedgerAccount.objects.filter(owner__isnull=False, balance__lt=0).exists()
    assert ledger_reconcile().is_clean
