import datetime

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from gifting.tests.factories import funded_sender
from subscriptions import services, tasks
from subscriptions.models import PERIOD, Subscription, SubscriptionCharge

from .factories import tier_create

pytestmark = pytest.mark.django_db


def _due_subscriptions(count: int) -> list[int]:
    start = timezone.now() - PERIOD - datetime.timedelta(minutes=1)
    tier = tier_create()
    return [
        services.subscription_subscribe(
            subscriber=funded_sender(1000),
            tier=tier,
            coin_price=tier.coin_price,
            idempotency_key=f"k{n}",
            now=start,
        ).subscription.id
        for n in range(count)
    ]


def test_the_renewal_is_scheduled_by_beat():
    task = PeriodicTask.objects.get(task="subscriptions.renew_due")
    assert task.enabled and task.interval.every == 1


def test_the_beat_task_renews_what_is_due_in_batches_once(
    settings, eager_celery, django_capture_on_commit_callbacks
):
    settings.SUBSCRIPTION_RENEWAL_BATCH = 2
    _due_subscriptions(3)

    with django_capture_on_commit_callbacks(execute=True) as batches:
        assert tasks.renew_due() == 3
    assert sum("renew_due" in str(callback) for callback in batches) == 2
    assert tasks.renew_due() == 0
    assert SubscriptionCharge.objects.filter(period=2).count() == 3


def test_a_backlog_still_renewing_is_not_queued_again_within_the_window(
    settings, django_capture_on_commit_callbacks
):
    settings.SUBSCRIPTION_RENEWAL_REQUEUE_AFTER = datetime.timedelta(minutes=10)
    ids = _due_subscriptions(3)

    # The batches are queued but not run yet (slow workers).
    with django_capture_on_commit_callbacks(execute=False) as first:
        assert tasks.renew_due() == 3
    with django_capture_on_commit_callbacks(execute=False) as second:
        assert tasks.renew_due() == 0

    assert len(first) == 1 and second == []
    queued = Subscription.objects.filter(id__in=ids)
    assert queued.filter(renewal_queued_at__isnull=True).count() == 0
    assert services.subscriptions_due() == ids
    assert not SubscriptionCharge.objects.filter(period=2).exists()


def test_a_subscription_queued_before_the_window_is_queued_again(settings):
    settings.SUBSCRIPTION_RENEWAL_REQUEUE_AFTER = datetime.timedelta(minutes=10)
    ids = _due_subscriptions(2)
    now = timezone.now()
    assert services.subscriptions_queue_due(now=now) == ids

    within = now + datetime.timedelta(minutes=9, seconds=59)
    after = now + datetime.timedelta(minutes=10)
    assert services.subscriptions_queue_due(now=within) == []
    # The batch was lost: queued again, once, and marked anew.
    assert services.subscriptions_queue_due(now=after) == ids
    assert services.subscriptions_queue_due(now=after) == []
    assert set(
        Subscription.objects.filter(id__in=ids).values_list(
            "renewal_queued_at", flat=True
        )
    ) == {after}
