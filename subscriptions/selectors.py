"""Reads for the subscriptions' API and admin."""

import datetime

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncMonth

from gifting.holds import units_by_day
from gifting.models import CreatorProfile

from .models import (
    ChargeHoldRecovery,
    ChargeRefund,
    Subscription,
    SubscriptionCharge,
    Tier,
)


def tiers_offered(*, creator: CreatorProfile, day: datetime.date):
    """A creator's tiers open to new subscribers, by rank: none while the creator
    may not receive subscriptions, and none priced outside its rank's limits as
    staff set them now (those cannot be subscribed to)."""
    if creator.ineligibility_reason(day):
        return Tier.objects.none()
    return (
        Tier.objects.filter(
            creator=creator,
            is_active=True,
            coin_price__gte=F("limit__min_coins"),
            coin_price__lte=F("limit__max_coins"),
        )
        .select_related("limit")
        .order_by("limit__rank")
    )


def subscriber_counts(*, creator: CreatorProfile) -> dict[str, int]:
    """How many subscribe to `creator` now: active and in grace."""
    counts = Subscription.objects.filter(creator=creator).aggregate(
        active=Count("id", filter=Q(status=Subscription.Status.ACTIVE)),
        in_grace=Count("id", filter=Q(status=Subscription.Status.GRACE)),
    )
    return {**counts, "total": counts["active"] + counts["in_grace"]}


def revenue_by_month(*, creator_id: int | None = None) -> list[dict]:
    """Charges per calendar month (UTC), newest first: how many, the coins, the
    creators' and the platform's diamond units; and the refunds granted that month
    (by when granted): how many, the coins given back and the platform's share
    taken back, so the platform's net is its share less that."""
    charges = SubscriptionCharge.objects.all()
    refunds = ChargeRefund.objects.filter(status=ChargeRefund.Status.REFUNDED)
    if creator_id is not None:
        charges = charges.filter(creator_id=creator_id)
        refunds = refunds.filter(charge__creator_id=creator_id)
    months = {
        row["month"]: row
        for row in charges.annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(
            charges=Count("id"),
            coins=Sum("coins"),
            paid_coins=Sum("paid_coins"),
            creator_diamond_units=Sum("creator_diamond_units"),
            platform_diamond_units=Sum("platform_diamond_units"),
        )
        .order_by()
    }
    empty = dict.fromkeys(
        (
            "charges",
            "coins",
            "paid_coins",
            "creator_diamond_units",
            "platform_diamond_units",
        ),
        0,
    )
    for row in (
        refunds.annotate(month=TruncMonth("decided_at"))
        .values("month")
        .annotate(
            refunds=Count("id"),
            refunded_coins=Sum(F("bonus_coins") + F("paid_coins")),
            platform_units_back=Sum("platform_units"),
        )
        .order_by()
    ):
        months.setdefault(row["month"], {"month": row["month"], **empty}).update(row)
    rows = []
    for month in sorted(months, reverse=True):
        row = {"refunds": 0, "refunded_coins": 0, "platform_units_back": 0}
        row.update(months[month])
        row["platform_net_units"] = (
            row["platform_diamond_units"] - row["platform_units_back"]
        )
        rows.append(row)
    return rows


def charges_held(*, creator: CreatorProfile, where: Q) -> list[tuple]:
    """[(UTC day charged, creator's units)] of the creator's charges `where` (an
    earnings-hold segment's filter, still on hold), less what store refunds took
    back from them (negative rows), and none of a refunded charge (its diamonds
    went back with it): registered with the hold
    (`gifting.holds.held_source_register`, docs/holds.md)."""
    charges = SubscriptionCharge.objects.filter(where, creator=creator).exclude(
        refunds__status=ChargeRefund.Status.REFUNDED
    )
    taken = units_by_day(
        ChargeHoldRecovery.objects.filter(charge__in=charges),
        at="charge__created_at",
        units="diamond_units",
    )
    return [
        *units_by_day(charges, units="creator_diamond_units"),
        *((day, -units) for day, units in taken),
    ]
