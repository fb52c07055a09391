"""Renewals in batches, for the beat task and its workers."""

import datetime
import logging
from collections import Counter

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.logs import money_event

from ..models import Subscription
from .subscriptions import subscription_renew

logger = logging.getLogger(__name__)
RENEWAL_ERROR = "error"


def _due(now: datetime.datetime):
    return Subscription.objects.filter(
        status__in=Subscription.LIVE, next_charge_at__lte=now
    ).order_by("next_charge_at", "id")


def subscriptions_due(
    *, now: datetime.datetime | None = None, limit: int = 10_000
) -> list[int]:
    """Ids of live subscriptions whose next charge is due, oldest due first."""
    now = now or timezone.now()
    return list(_due(now).values_list("id", flat=True)[:limit])


def subscriptions_queue_due(
    *, now: datetime.datetime | None = None, limit: int = 10_000
) -> list[int]:
    """Ids of due subscriptions to queue for renewal, oldest due first, each marked
    queued now (one UPDATE). One queued within SUBSCRIPTION_RENEWAL_REQUEUE_AFTER
    is left out, so a backlog that takes longer than a beat interval to renew is
    not queued every run; past it, it is queued again (its batch may be lost)."""
    now = now or timezone.now()
    queued_before = now - settings.SUBSCRIPTION_RENEWAL_REQUEUE_AFTER
    with transaction.atomic():
        # Skip locked: a row another run is marking, or a renewal holds, needs
        # no queueing by this run.
        ids = list(
            _due(now)
            .filter(
                Q(renewal_queued_at__isnull=True)
                | Q(renewal_queued_at__lte=queued_before)
            )
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        Subscription.objects.filter(id__in=ids).update(renewal_queued_at=now)
    return ids


def subscriptions_renew(
    *, subscription_ids: list[int], now: datetime.datetime | None = None
) -> dict[str, int]:
    """Renew each due subscription in its own transaction; returns how many had
    each outcome. One that is not due (any more) is left as it is, so a batch
    delivered twice, or two batches naming the same subscription, charge once. One
    that raises is logged and counted as "error", and the batch goes on."""
    now = now or timezone.now()
    outcomes = Counter()
    for subscription_id in subscription_ids:
        try:
            outcome = subscription_renew(subscription_id=subscription_id, now=now)
        except Exception:
            # One renewal that raises (its transaction rolled back, nothing moved)
            # must not block the rest of its batch run after run: logged, counted,
            # retried by the next run.
            logger.exception("Renewal of subscription %s failed", subscription_id)
            money_event(
                "subscription_renewal_failed",
                level=logging.ERROR,
                subscription_id=subscription_id,
            )
            outcome = RENEWAL_ERROR
        outcomes[outcome] += 1
    return dict(outcomes)
