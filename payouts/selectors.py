import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Max, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from gifting.models import CreatorProfile
from gifting.selectors import creators_recent_earnings
from wallets.selectors import manual_diamond_credits
from wallets.units import diamonds_display

from .models import (
    APPROVE_PERMISSION,
    DiamondCashRate,
    Payout,
    PayoutEvent,
    PayoutMethodChange,
    PayoutRules,
    ProviderTimeoutRecord,
)


@dataclass(frozen=True)
class RiskFlag:
    """A reason to look twice at a payout (`label`) and what raised it (`why`)."""

    label: str
    why: str

    def __str__(self):
        return self.label


def payout_risk_flags(
    *,
    payout,
    earned_30_units: int,
    earned_7_units: int,
    top_sender_30_units: int,
    cooloff_days: int,
    manual_30_units: int = 0,
    method_change: PayoutMethodChange | None = None,
) -> list[RiskFlag]:
    """What a finance reviewer should look at twice before approving, each flag with
    the figures that raised it.

    `earned_30_units` and `earned_7_units` count diamonds credited by hand
    (`manual_30_units` of them in 30 days) like earned ones.
    """
    now = timezone.now()
    flags = []
    joined = payout.creator.user.date_joined
    if (now - joined).days < 30:
        flags.append(
            RiskFlag(
                "new creator",
                f"Account opened {joined:%Y-%m-%d}, {(now - joined).days} days ago "
                "(under 30).",
            )
        )
    if manual_30_units:
        flags.append(
            RiskFlag(
                f"{diamonds_display(manual_30_units)} diamonds credited by hand "
                "in 30 days",
                "Approved manual credits to this creator in the last 30 days.",
            )
        )
    # A spike: the last week's daily average over twice the month's.
    if earned_30_units and earned_7_units / 7 > 2 * earned_30_units / 30:
        flags.append(
            RiskFlag(
                "earnings spike",
                f"{diamonds_display(earned_7_units, places=0)} diamonds in 7 days "
                f"({diamonds_display(earned_7_units // 7, places=0)} a day) against "
                f"{diamonds_display(earned_30_units, places=0)} in 30 days "
                f"({diamonds_display(earned_30_units // 30, places=0)} a day): "
                "over twice the month's daily average.",
            )
        )
    if earned_30_units and top_sender_30_units * 2 > earned_30_units:
        flags.append(
            RiskFlag(
                "most earnings from one sender",
                f"One sender gave {diamonds_display(top_sender_30_units, places=0)} "
                f"of {diamonds_display(earned_30_units, places=0)} diamonds in 30 "
                f"days ({top_sender_30_units * 100 // earned_30_units} %).",
            )
        )
    changed = payout.creator.payout_method_changed_at
    if changed and now - changed < datetime.timedelta(days=cooloff_days):
        ends = changed + datetime.timedelta(days=cooloff_days)
        flags.append(
            RiskFlag(
                "payout method changed recently",
                f"Changed {changed:%Y-%m-%d %H:%M} UTC; the {cooloff_days}-day "
                f"cool-off ends {ends:%Y-%m-%d %H:%M} UTC.",
            )
        )
    if method_change is not None:
        flags.append(
            RiskFlag(
                "method change pending",
                f"A change to {method_change.get_payout_method_display()}, asked "
                f"{method_change.requested_at:%Y-%m-%d %H:%M} UTC by "
                f"{method_change.requested_by}, waits for confirmation.",
            )
        )
    return flags


def payout_flags(payout) -> list[RiskFlag]:
    """`payout_risk_flags` of a payout `payouts_risk_attach` has read for."""
    return payout_risk_flags(
        payout=payout,
        earned_30_units=payout.earned_30_units or 0,
        earned_7_units=payout.earned_7_units or 0,
        top_sender_30_units=payout.top_sender_30_units or 0,
        manual_30_units=payout.manual_30_units or 0,
        cooloff_days=payout.cooloff_days or 0,
        method_change=payout.method_change,
    )


def payout_held_until(
    *, method_changed_at, cooloff_days: int | None
) -> datetime.datetime | None:
    """When an approved payout may be sent: the end of the cool-off after its
    destination changed (None: it never changed)."""
    if method_changed_at is None:
        return None
    return method_changed_at + datetime.timedelta(days=cooloff_days or 0)


def payouts_for_export(queryset: QuerySet) -> QuerySet:
    """Payouts with who asked and decided, and `approved_at` (the first approval
    in full: a retry after a failure is not one) and `paid_at` from their events,
    in the rows' own statement."""

    def moment(status: str) -> Subquery:
        events = PayoutEvent.objects.filter(payout=OuterRef("pk"), to_status=status)
        return Subquery(events.order_by("at", "id").values("at")[:1])

    return queryset.select_related(
        "creator__user", "first_approver", "second_approver"
    ).annotate(
        approved_at=moment(Payout.Status.APPROVED), paid_at=moment(Payout.Status.PAID)
    )


def destination_masked(value: str) -> str:
    """An e-mail or IBAN enough to recognise, not to use: j***@example.com,
    DE89 **** **** 3000."""
    if not value:
        return "—"
    if "@" in value:
        name, _, domain = value.rpartition("@")
        return f"{name[:1]}***@{domain}"
    return f"{value[:4]} **** **** {value[-4:]}" if len(value) > 8 else "****"


def payout_rules(*, currency: str) -> PayoutRules | None:
    return PayoutRules.objects.filter(currency=currency).first()


def payout_method_cooloff_ends(
    *, creator: CreatorProfile, currency: str = "USD"
) -> datetime.datetime | None:
    """When payouts may go to the creator's current method; None: never changed."""
    rules = payout_rules(currency=currency)
    return payout_held_until(
        method_changed_at=creator.payout_method_changed_at,
        cooloff_days=rules.method_cooloff_days if rules else 0,
    )


def payout_hold_ends(payout: Payout) -> datetime.datetime | None:
    """When `payout` may be sent, while its destination's cool-off still holds it
    (None: nothing holds it now)."""
    rules = payout_rules(currency=payout.currency)
    ends = payout_held_until(
        method_changed_at=payout.method_changed_at,
        cooloff_days=rules.method_cooloff_days if rules else 0,
    )
    return ends if ends is not None and ends > timezone.now() else None


def payout_method_pending(*, creator_ids) -> dict[int, PayoutMethodChange]:
    """Each of these creators' change waiting for confirmation (one at most)."""
    return {
        change.creator_id: change
        for change in PayoutMethodChange.objects.filter(
            creator_id__in=list(creator_ids),
            status=PayoutMethodChange.Status.REQUESTED,
        ).select_related("requested_by")
    }


def cash_rate_current(*, currency: str, when) -> DiamondCashRate | None:
    """The rate in force at `when`: the latest effective by then (of two set for
    the same moment, the later added)."""
    return (
        DiamondCashRate.objects.filter(currency=currency, effective_at__lte=when)
        .order_by("-effective_at", "-id")
        .first()
    )


def payouts_risk_attach(payouts) -> None:
    """Set earned_30_units, earned_7_units, top_sender_30_units, manual_30_units,
    cooloff_days and method_change (pending, or None) on each payout, in five
    queries however many payouts (what `payout_risk_flags` reads, for a page of the
    approval queue)."""
    payouts = list(payouts)
    if not payouts:
        return
    now = timezone.now()
    creators = {payout.creator_id for payout in payouts}
    earnings = creators_recent_earnings(creator_ids=creators, now=now)
    # Diamonds credited by hand count like earned ones, finance as one more sender.
    user_ids = {payout.creator.user_id for payout in payouts}
    manual_30_units = manual_diamond_credits(
        user_ids=user_ids, since=now - datetime.timedelta(days=30)
    )
    manual_7_units = manual_diamond_credits(
        user_ids=user_ids, since=now - datetime.timedelta(days=7)
    )
    cooloff = dict(PayoutRules.objects.values_list("currency", "method_cooloff_days"))
    pending = payout_method_pending(creator_ids=creators)
    for payout in payouts:
        payout.method_change = pending.get(payout.creator_id)
        gifts_30, gifts_7, top_sender = earnings.get(payout.creator_id, (0, 0, 0))
        payout.manual_30_units = manual_30_units.get(payout.creator.user_id, 0)
        payout.earned_30_units = gifts_30 + payout.manual_30_units
        payout.earned_7_units = gifts_7 + manual_7_units.get(payout.creator.user_id, 0)
        payout.top_sender_30_units = max(top_sender, payout.manual_30_units)
        payout.cooloff_days = cooloff.get(payout.currency)


_S = Payout.Status


def payouts_waiting_for(queryset: QuerySet, *, user) -> QuerySet:
    """What waits for `user`'s decision: requested payouts, and those awaiting a
    second approval `user` did not give first; never `user`'s own."""
    return queryset.filter(
        Q(status=_S.REQUESTED)
        | (Q(status=_S.AWAITING_SECOND_APPROVAL) & ~Q(first_approver=user))
    ).exclude(requester=user)


def payouts_second_approval_for(queryset: QuerySet, *, user) -> QuerySet:
    """Approvals another finance user started that `user` may finish: awaiting a
    second approval, neither approved first nor asked for by `user`."""
    if not user.has_perm(APPROVE_PERMISSION):
        # Empty in SQL, not .none(): the queue's paginator EXPLAINs the query.
        return queryset.filter(pk__isnull=True)
    return (
        queryset.filter(status=_S.AWAITING_SECOND_APPROVAL)
        .exclude(first_approver=user)
        .exclude(requester=user)
    )


@dataclass(frozen=True)
class PayoutTotal:
    """How many payouts in one currency, and their amounts added up."""

    currency: str
    count: int
    gross: Decimal
    fee: Decimal
    net: Decimal


def payouts_totals(payouts) -> list[PayoutTotal]:
    """Totals per currency of payouts already loaded (a changelist's page)."""
    sums: dict[str, list] = {}
    for payout in payouts:
        total = sums.setdefault(payout.currency, [0, *[Decimal(0)] * 3])
        total[0] += 1
        total[1] += payout.gross_amount
        total[2] += payout.fee_amount
        total[3] += payout.net_amount
    return [PayoutTotal(currency, *sums[currency]) for currency in sorted(sums)]


def payouts_totals_of(queryset: QuerySet) -> list[PayoutTotal]:
    """Totals per currency of a queryset of payouts, in one query."""
    rows = (
        queryset.order_by()
        .values("currency")
        .annotate(
            count=Count("id"),
            gross=Sum("gross_amount"),
            fee=Sum("fee_amount"),
            net=Sum("net_amount"),
        )
        .order_by("currency")
    )
    return [PayoutTotal(**row) for row in rows]


def _rejections():
    return PayoutEvent.objects.filter(to_status=_S.REJECTED).order_by("-at", "-id")


def payout_rejection_reason(payout: Payout) -> str | None:
    """The reason finance gave when rejecting `payout` (what the creator reads)."""
    return _rejections().filter(payout=payout).values_list("note", flat=True).first()


def payouts_with_rejection_reason(queryset: QuerySet) -> QuerySet:
    """`queryset` with each payout's `rejection_reason` read in the same query."""
    return queryset.annotate(
        rejection_reason=Subquery(
            _rejections().filter(payout=OuterRef("pk")).values("note")[:1]
        )
    )


def payouts_stuck(*, since: datetime.datetime) -> list[Payout]:
    """Payouts in processing that have not moved since `since`, oldest first."""
    return list(
        Payout.objects.filter(status=Payout.Status.PROCESSING, updated_at__lt=since)
        .order_by("updated_at", "id")
        .only("id", "reference", "updated_at")
    )


def payouts_failed_by_batch() -> dict[datetime.datetime, list[str]]:
    """References of payouts the provider refused that finance has not yet retried
    or returned, by the moment their failure was recorded: one answer of the
    provider (a batch, or a callback) records all of its payouts at one moment."""
    failed = (
        Payout.objects.filter(status=Payout.Status.FAILED)
        .annotate(
            failed_at=Max(
                "events__at", filter=Q(events__to_status=Payout.Status.FAILED)
            )
        )
        .order_by("failed_at", "reference")
        .values_list("failed_at", "reference")
    )
    batches: dict[datetime.datetime, list[str]] = {}
    for failed_at, reference in failed:
        batches.setdefault(failed_at, []).append(reference)
    return batches


def provider_timeouts_count(*, since: datetime.datetime) -> int:
    return ProviderTimeoutRecord.objects.filter(at__gte=since).count()


@dataclass(frozen=True)
class PayoutsWaiting:
    """The open payouts in one state: how many, and since when the oldest waits."""

    status: str
    count: int
    oldest_requested_at: datetime.datetime


def payouts_waiting() -> list[PayoutsWaiting]:
    """Open payouts by state (the queue's index answers it); states with none are
    left out."""
    rows = (
        Payout.objects.filter(status__in=Payout.OPEN)
        .order_by()
        .values("status")
        .annotate(count=Count("id"), oldest=Min("requested_at"))
    )
    return [PayoutsWaiting(row["status"], row["count"], row["oldest"]) for row in rows]
