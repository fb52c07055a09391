"""Renewals and subscribes at once: threads against PostgreSQL."""

import datetime
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


def _subscribed(viewer, now) -> Subscription:
    return services.subscription_subscribe(
        subscriber=viewer,
        tier=tier_create(coin_price=100),
        coin_price=100,
        idempotency_key="k",
        now=now,
    ).subscription


def test_renewals_of_one_subscription_at_once_charge_the_period_once():
    now = timezone.now()
    sub = _subscribed(funded_sender(1000), now)

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


@pytest.mark.parametrize("resume_before_end", [True, False])
def test_a_resume_racing_the_renewal_at_the_periods_end_has_one_outcome(
    resume_before_end,
):
    """One thread resumes a cancelled subscription, the others renew it at the
    period's end: either it was resumed (and is renewed, once) or the renewal ended
    it (and the resume is refused); an ended subscription is never charged."""
    viewer = funded_sender(1000)
    start = timezone.now()
    sub = _subscribed(viewer, start)
    services.subscription_cancel(subscription=sub, now=start)
    ends = start + PERIOD
    resume_at = ends - datetime.timedelta(seconds=1) if resume_before_end else ends

    def work(n):
        if n == 0:
            return services.subscription_resume(
                subscription=sub, subscriber=viewer, now=resume_at
            ).status
        return services.subscription_renew(subscription_id=sub.id, now=ends)

    outcomes = _at_once(work)
    # A renewal skipped while the resume held the row is the next run's.
    services.subscription_renew(subscription_id=sub.id, now=ends)

    sub.refresh_from_db()
    periods = list(sub.charges.values_list("period", flat=True).order_by("period"))
    # One renewal acted at most; the others found it locked or not due.
    assert len([o for o in outcomes if o in ("renewed", "ended")]) <= 1
    if "active" in outcomes:
        assert resume_before_end
        assert (sub.status, sub.cancelled_at, sub.period) == ("active", None, 2)
        assert periods == [1, 2]
    else:
        assert ("not_live" in outcomes) or ("period_over" in outcomes)
        assert (sub.status, sub.ended_at) == ("ended", ends)
        assert periods == [1]
    assert ledger_reconcile().is_clean
