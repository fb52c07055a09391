import datetime
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from wallets.models import (
    DIAMOND_SCALE,
    LedgerAccount,
    PendingCredit,
    Purchase,
    ReconciliationRun,
    UnrecoveredStoreRefund,
)
from wallets.selectors import system_balances, wallet_balances

from .models import (
    CreatorLevel,
    CreatorProfile,
    DiamondCashRate,
    GiftSend,
    Payout,
    PayoutMethodChange,
    PayoutRules,
    StreamGifter,
)


def stream_leaderboard(*, stream_id: str, limit: int):
    """Top gifters of a stream by coins; a tie goes to who reached the total first."""
    return (
        StreamGifter.objects.filter(stream_id=stream_id)
        .select_related("sender__creator")
        .order_by("-coins", "reached_at", "sender_id")[:limit]
    )


def diamonds(units: int) -> Decimal:
    return Decimal(units) / DIAMOND_SCALE


@dataclass(frozen=True)
class CreatorEarnings:
    diamond_units: int
    level: CreatorLevel
    next_level: CreatorLevel | None
    earned_30d_units: int
    earned_7d_units: int
    earned_today_units: int


def creator_earnings(*, creator: CreatorProfile, now: datetime.datetime | None = None):
    now = now or timezone.now()
    day_start = now.astimezone(datetime.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    sends = GiftSend.objects.filter(creator=creator)

    def earned_since(since):
        total = sends.filter(created_at__gte=since).aggregate(
            total=Sum("creator_diamond_units")
        )["total"]
        return total or 0

    return CreatorEarnings(
        diamond_units=wallet_balances(user=creator.user).diamonds,
        level=creator.level,
        next_level=CreatorLevel.objects.filter(number__gt=creator.level.number)
        .order_by("number")
        .first(),
        earned_30d_units=earned_since(now - datetime.timedelta(days=30)),
        earned_7d_units=earned_since(now - datetime.timedelta(days=7)),
        earned_today_units=earned_since(day_start),
    )


def payout_risk_flags(
    *,
    payout,
    earned_30: int,
    earned_7: int,
    top_sender_30: int,
    cooloff_days: int,
    manual_30: int = 0,
    method_change_pending: bool = False,
):
    """What a finance reviewer should look at twice before approving.

    `earned_30` and `earned_7` count diamonds credited by hand (`manual_30` of them
    in 30 days) like earned ones.
    """
    now = timezone.now()
    flags = []
    if (now - payout.creator.user.date_joined).days < 30:
        flags.append("new creator")
    if manual_30:
        flags.append(f"{diamonds(manual_30):,.4f} diamonds credited by hand in 30 days")
    # A spike: the last week's daily average over twice the month's.
    if earned_30 and earned_7 / 7 > 2 * earned_30 / 30:
        flags.append("earnings spike")
    if earned_30 and top_sender_30 * 2 > earned_30:
        flags.append("most earnings from one sender")
    changed = payout.creator.payout_method_changed_at
    if changed and now - changed < datetime.timedelta(days=cooloff_days):
        flags.append("payout method changed recently")
    if method_change_pending:
        flags.append("method change pending")
    return flags


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
    if creator.payout_method_changed_at is None:
        return None
    rules = payout_rules(currency=currency)
    days = rules.method_cooloff_days if rules else 0
    return creator.payout_method_changed_at + datetime.timedelta(days=days)


def payout_method_pending(*, creator_ids) -> dict[int, PayoutMethodChange]:
    """Each of these creators' change waiting for confirmation (one at most)."""
    return {
        change.creator_id: change
        for change in PayoutMethodChange.objects.filter(
            creator_id__in=list(creator_ids),
            status=PayoutMethodChange.Status.REQUESTED,
        )
    }


def daily_earnings(*, creator: CreatorProfile, days: int):
    """(day, gifts, diamond units) for each day with gifts, newest first."""
    since = timezone.now() - datetime.timedelta(days=days)
    return list(
        GiftSend.objects.filter(creator=creator, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(gifts=Count("id"), units=Sum("creator_diamond_units"))
        .order_by("-day")
        .values_list("day", "gifts", "units")
    )


@dataclass(frozen=True)
class DailySeries:
    label: str
    days: list[datetime.date]
    values: list[Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.values, Decimal("0"))

    @property
    def peak(self) -> Decimal:
        return max(self.values, default=Decimal("0"))


def _series(label, rows, days) -> DailySeries:
    by_day = {day: value for day, value in rows}
    return DailySeries(label, days, [Decimal(by_day.get(day) or 0) for day in days])


def money_dashboard(*, now: datetime.datetime | None = None) -> dict:
    """What finance reads at a glance, every figure from the ledger's own records."""
    now = now or timezone.now()
    today = now.astimezone(datetime.UTC).date()
    days = [today - datetime.timedelta(days=n) for n in range(29, -1, -1)]
    since = datetime.datetime.combine(days[0], datetime.time.min, tzinfo=datetime.UTC)

    sold = (
        Purchase.objects.filter(status=Purchase.Status.COMPLETED, created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=datetime.UTC))
        .values("price_currency", "day")
        .annotate(amount=Sum("price"))
        .order_by()
    )
    sold_by_currency: dict[str, list] = {}
    for row in sold:
        sold_by_currency.setdefault(row["price_currency"], []).append(
            (row["day"], row["amount"])
        )
    gifts = (
        GiftSend.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=datetime.UTC))
        .values("day")
        .annotate(coins=Sum("coins"))
        .order_by()
        .values_list("day", "coins")
    )

    held_by_creators = (
        LedgerAccount.objects.filter(kind=LedgerAccount.Kind.DIAMONDS).aggregate(
            total=Sum("balance")
        )["total"]
        or 0
    ) + (PendingCredit.objects.aggregate(total=Sum("amount"))["total"] or 0)
    on_hold = system_balances().get(LedgerAccount.Kind.PAYOUT_HOLD, 0)
    outstanding = held_by_creators + on_hold
    rate = (
        DiamondCashRate.objects.filter(currency="USD", effective_at__lte=now)
        .order_by("-effective_at")
        .first()
    )
    week_start = now - datetime.timedelta(days=7)
    status = Payout.Status
    waiting = Payout.objects.filter(
        status__in=[status.REQUESTED, status.AWAITING_SECOND_APPROVAL]
    )
    moving = Payout.objects.filter(status__in=[status.APPROVED, status.PROCESSING])
    paid = Payout.objects.filter(
        status=status.PAID, events__to_status=status.PAID, events__at__gte=week_start
    )

    # Few are open at a time; each one's value is rounded as its admin page shows it.
    open_shortfalls = (
        UnrecoveredStoreRefund.objects.filter(resolved_at__isnull=True)
        .select_related("purchase")
        .only("price", "price_currency", "paid_coins_spent", "purchase__coins")
        .order_by()
    )
    shortfall_counts: Counter[str] = Counter()
    shortfall_values: dict[str, Decimal] = defaultdict(Decimal)
    for shortfall in open_shortfalls.iterator():
        value = shortfall.paid_value_not_recovered
        shortfall_counts[value.currency.code] += 1
        shortfall_values[value.currency.code] += value.amount
    unrecovered_by_currency = [
        (currency, shortfall_counts[currency], shortfall_values[currency])
        for currency in sorted(shortfall_counts)
    ]

    def count_and_sum(queryset):
        figures = queryset.aggregate(
            count=Count("id", distinct=True), total=Sum("net_amount")
        )
        return figures["count"], figures["total"] or Decimal("0")

    return {
        "coins_sold": [
            _series(currency, rows, days)
            for currency, rows in sorted(sold_by_currency.items())
        ],
        "gifts_sent": _series("coins", list(gifts), days),
        "diamonds_outstanding": diamonds(outstanding),
        "diamonds_on_hold": diamonds(on_hold),
        "cash_liability": (
            (diamonds(outstanding) * rate.rate).quantize(Decimal("0.01"))
            if rate
            else None
        ),
        "cash_rate": rate,
        "payouts_waiting": count_and_sum(waiting),
        "payouts_approved": count_and_sum(moving),
        "payouts_paid_week": count_and_sum(paid),
        "reconciliation": ReconciliationRun.objects.order_by("-started_at").first(),
        # Open ones per currency: (currency, count, value of the paid coins spent).
        "unrecovered_store_refunds": unrecovered_by_currency,
        "unrecovered_store_refunds_count": sum(
            count for _, count, _ in unrecovered_by_currency
        ),
    }
