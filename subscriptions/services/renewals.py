"""Renewals in batches, for the beat task and its workers."""

import datetime
from collections import Counter

from django.utils import timezone

from ..models import Subscription
from .subscriptions import subscription_renew


def subscriptions_due(
    *, now: datetime.datetime | None = None, limit: int = 10_000
) -> list[int]:
    """Ids of live subscriptions whose next charge is due, oldest due first."""
    now = now or timezone.now()
    return list(
        Subscription.objects.filter(
            status__in=Subscription.LIVE, next_charge_at__lte=now
        )
        .order_by("next_charge_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def subscriptions_renew(
    *, subscription_ids: list[int], now: datetime.datetime | None = None
) -> dict[str, int]:
    """Renew each due subscription in its own transaction; returns how many had
    each outcome. One that is not due (any more) is left as it is, so a batch
    delivered twice, or two batches naming the same subscription, charge once."""
    now = now or timezone.now()
    return dict(
        Counter(
            subscription_renew(subscription_id=subscription_id, now=now)
            for subscription_id in subscription_ids
        )
    )
