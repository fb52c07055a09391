import datetime

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from gifting.tests.factories import funded_sender
from subscriptions import services, tasks
from subscriptions.models import PERIOD, SubscriptionCharge

from .factories import tier_create

pytestmark = pytest.mark.django_db


def test_the_renewal_is_scheduled_by_beat():
    task = PeriodicTask.objects.get(task="subscriptions.renew_due")
    assert task.enabled and task.interval.every == 1


def test_the_beat_task_renews_what_is_due_in_batches_once(
    settings, eager_celery, django_capture_on_commit_callbacks
):
    settings.SUBSCRIPTION_RENEWAL_BATCH = 2
    start = timezone.now() - PERIOD - datetime.timedelta(minutes=1)
    tier = tier_create()
    for n in range(3):
        services.subscription_subscribe(
            subscriber=funded_sender(1000),
            tier=tier,
            coin_price=tier.coin_price,
            idempotency_key=f"k{n}",
            now=start,
        )

    with django_capture_on_commit_callbacks(execute=True) as batches:
        assert tasks.renew_due() == 3
    assert sum("renew_due" in str(callback) for callback in batches) == 2
    assert tasks.renew_due() == 0
    assert SubscriptionCharge.objects.filter(period=2).count() == 3
