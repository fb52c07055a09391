"""Renewals and subscribes at once: threads against PostgreSQL."""

import threading

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from core.errors import ServiceError
from gifting.tests.factories import funded_sender
from subscriptions import services
from subscriptions.models import PERIOD, Subscription, SubscriptionCharge
from wallets.reconciliation import ledger_reconcile

from .factories import tier_create

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="concurrency needs PostgreSQL (set DATABASE_URL)",
    ),
]
THREADS = 6


def _at_once(work):
    start = threading.Barrier(THREADS)
    outcomes = []

    def run(n):
        try:
            start.wait()
            outcomes.append(work(n))
        except ServiceError as refusal:
            outcomes.append(refusal.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_renewals_of_one_subscription_at_once_charge_the_period_once():
    viewer = funded_sender(1000)
    now = timezone.now()
    sub = services.subscription_subscribe(
        subscriber=viewer,
        tier=tier_create(coin_price=100),
        coin_price=100,
        idempotency_key="k",
        now=now,
    ).subscription

    outcomes = _at_once(
        lambda n: services.subscription_renew(subscription_id=sub.id, now=now + PERIOD)
    )

    assert sorted(outcomes) == ["not_due"] * (THREADS - 1) + ["renewed"]
    assert list(sub.charges.values_list("period", flat=True).order_by("period")) == [
        1,
        2,
    ]
    assert ledger_reconcile().is_clean


def test_subscribes_at_once_make_one_subscription():
    viewer = funded_sender(1000)
    tier = tier_create(coin_price=100)

    outcomes = _at_once(
        lambda n: (
            services.subscription_subscribe(
                subscriber=viewer,
                tier=tier,
                coin_price=tier.coin_price,
                idempotency_key=f"k{n}",
            ).created
        )
    )

    assert sorted(outcomes, key=str) == sorted(
        [True] + ["already_subscribed"] * (THREADS - 1), key=str
    )
    assert Subscription.objects.count() == 1
    assert SubscriptionCharge.objects.count() == 1
    assert ledger_reconcile().is_clean


def test_the_same_key_at_once_subscribes_once():
    viewer = funded_sender(1000)
    tier = tier_create(coin_price=100)

    outcomes = _at_once(
        lambda n: (
            services.subscription_subscribe(
                subscriber=viewer,
                tier=tier,
                coin_price=tier.coin_price,
                idempotency_key="same",
            ).subscription.id
        )
    )

    assert len(set(outcomes)) == 1
    assert SubscriptionCharge.objects.count() == 1


def test_a_price_raised_while_viewers_subscribe_is_never_charged_to_them():
    """Half the threads raise the price, half subscribe at the price shown: each
    subscriber pays the price shown or is refused with price_changed."""
    tier = tier_create(coin_price=100)
    viewers = [funded_sender(1000) for _ in range(THREADS)]

    def work(n):
        if n % 2:
            return services.tier_update(tier=tier, coin_price=100 + n).coin_price
        return services.subscription_subscribe(
            subscriber=viewers[n], tier=tier, coin_price=100, idempotency_key="k"
        ).created

    outcomes = _at_once(work)

    subscribed = outcomes.count(True)
    assert subscribed + outcomes.count("price_changed") == THREADS // 2
    assert set(SubscriptionCharge.objects.values_list("coins", flat=True)) <= {100}
    assert SubscriptionCharge.objects.count() == subscribed
    assert set(Subscription.objects.values_list("coin_price", flat=True)) <= {100}
    assert ledger_reconcile().is_clean
