import datetime
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from djmoney.money import Money

from accounts.models import User
from gifting.models import CreatorProfile, GiftSend
from payouts.models import Payout, PayoutMethodChange
from payouts.selectors import (
    cash_rate_current,
    payout_method_cooloff_ends,
    payout_method_pending,
)
from payouts.services import payout_gross
from wallets.models import (
    HomeRegion,
    LedgerAccount,
    PendingCredit,
    Purchase,
    ReconciliationRun,
    UnrecoveredStoreRefund,
)
from wallets.selectors import (
    SpendingLimits,
    WalletBalances,
    spending_limits,
    system_balances,
    transfers_for_user,
    wallet_balances,
)
from wallets.units import diamonds_from_units


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


# The ranges the dashboard's charts offer, in days; each costs the same queries.
DASHBOARD_DAYS = (7, 30, 90)
DASHBOARD_DAYS_DEFAULT = 30


def money_dashboard(
    *, now: datetime.datetime | None = None, days: int = DASHBOARD_DAYS_DEFAULT
) -> dict:
    """What finance reads at a glance, every figure from the ledger's own records;
    the daily series cover the last `days` UTC days, today included."""
    if days not in DASHBOARD_DAYS:
        raise ValueError(f"The dashboard shows {DASHBOARD_DAYS} days, not {days}.")
    now = now or timezone.now()
    today = now.astimezone(datetime.UTC).date()
    dates = [today - datetime.timedelta(days=n) for n in range(days - 1, -1, -1)]
    since = datetime.datetime.combine(dates[0], datetime.time.min, tzinfo=datetime.UTC)

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

    held_by_creators_units = (
        LedgerAccount.objects.filter(kind=LedgerAccount.Kind.DIAMONDS).aggregate(
            total=Sum("balance")
        )["total"]
        or 0
    ) + (PendingCredit.objects.aggregate(total=Sum("amount"))["total"] or 0)
    on_hold_units = system_balances().get(LedgerAccount.Kind.PAYOUT_HOLD, 0)
    outstanding_units = held_by_creators_units + on_hold_units
    rate = cash_rate_current(currency="USD", when=now)
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
        """How many, and their net cash per currency: never one sum of two."""
        totals = (
            queryset.order_by()
            .values("currency")
            .annotate(count=Count("id", distinct=True), total=Sum("net_amount"))
            .order_by("currency")
        )
        return (
            sum(row["count"] for row in totals),
            [Money(row["total"], row["currency"]) for row in totals],
        )

    return {
        "dates": dates,
        "coins_sold": [
            _series(currency, rows, dates)
            for currency, rows in sorted(sold_by_currency.items())
        ],
        "gifts_sent": _series("coins", list(gifts), dates),
        "diamonds_outstanding": diamonds_from_units(outstanding_units),
        "diamonds_on_hold": diamonds_from_units(on_hold_units),
        "diamonds_outstanding_units": int(outstanding_units),
        "diamonds_on_hold_units": int(on_hold_units),
        # Rounded down as a payout's gross: see docs/payouts.md, "Cash value".
        "cash_liability": (
            payout_gross(diamond_units=outstanding_units, rate=rate.rate)
            if rate
            else None
        ),
        "cash_rate": rate,
        "payouts_waiting": count_and_sum(waiting),
        "payouts_approved": count_and_sum(moving),
        "payouts_paid_week": count_and_sum(paid),
        "reconciliation": reconciliation_latest(),
        # Open ones per currency: (currency, count, value of the paid coins spent).
        "unrecovered_store_refunds": unrecovered_by_currency,
        "unrecovered_store_refunds_count": sum(
            count for _, count, _ in unrecovered_by_currency
        ),
    }


def reconciliation_latest(
    *, since: datetime.datetime | None = None
) -> ReconciliationRun | None:
    """The newest reconciliation run, or None; with `since`, only one started then
    or later (the run a "run now" just made, when the task ran in-process)."""
    runs = ReconciliationRun.objects.order_by("-started_at", "-id")
    if since is not None:
        runs = runs.filter(started_at__gte=since)
    return runs.first()


# --- Support's page of a user -----------------------------------------------------

# Rows per section of the user page, newest first; each links to the full list.
ROWS_SHOWN = 20
TRANSFERS_SHOWN = 50
# Users a search lists at most; a longer list says to narrow the search.
MATCHES_SHOWN = 50


@dataclass(frozen=True)
class Recent:
    """The newest rows of a list, and whether there are more than these."""

    rows: list
    more: bool


def _recent(queryset, limit: int = ROWS_SHOWN) -> Recent:
    # One row beyond the limit says whether there are more: no COUNT(*).
    rows = list(queryset[: limit + 1])
    return Recent(rows=rows[:limit], more=len(rows) > limit)


@dataclass(frozen=True)
class UserMatches:
    users: list[User]
    # Matched by id, username or e-mail exactly (any case), not by a part of them.
    exact: bool
    more: bool


def users_matching(*, query: str) -> UserMatches:
    """The users a support search names: by id, username or e-mail exactly (any
    case); when none is exact, those whose username or e-mail contains the text."""
    query = query.strip()
    if not query:
        return UserMatches(users=[], exact=False, more=False)
    exact = Q(username__iexact=query) | Q(email__iexact=query)
    if query.isascii() and query.isdigit() and int(query) < 2**63:
        exact |= Q(pk=int(query))
    for condition, is_exact in (
        (exact, True),
        (Q(username__icontains=query) | Q(email__icontains=query), False),
    ):
        found = _recent(
            User.objects.filter(condition).order_by("username", "pk"), MATCHES_SHOWN
        )
        if found.rows:
            return UserMatches(users=found.rows, exact=is_exact, more=found.more)
    return UserMatches(users=[], exact=False, more=False)


@dataclass(frozen=True)
class UserOverview:
    """Everything support reads about one user, each list newest first."""

    user: User
    home: HomeRegion | None
    balances: WalletBalances
    limits: SpendingLimits
    purchases: Recent
    gifts_sent: Recent
    transfers: Recent
    # A creator's side; None for a user who is no creator.
    creator: CreatorProfile | None
    gifts_received: Recent | None
    payouts: Recent | None
    method_change: PayoutMethodChange | None
    cooloff_ends: datetime.datetime | None


def user_overview(
    *, user_id: int, now: datetime.datetime | None = None
) -> UserOverview | None:
    """One user's page, in a fixed number of queries however long their history;
    None when there is no such user."""
    now = now or timezone.now()
    user = (
        # The creator, if any, comes with its `user` set to this one.
        User.objects.select_related("home_region__region", "creator__level")
        .filter(pk=user_id)
        .first()
    )
    if user is None:
        return None
    home = getattr(user, "home_region", None)
    creator = getattr(user, "creator", None)
    creator_side = {
        "gifts_received": None,
        "payouts": None,
        "method_change": None,
        "cooloff_ends": None,
    }
    if creator is not None:
        creator_side = {
            "gifts_received": _recent(
                GiftSend.objects.filter(creator=creator)
                .select_related("gift", "sender")
                .order_by("-created_at", "-id")
            ),
            "payouts": _recent(
                Payout.objects.filter(creator=creator).order_by("-requested_at", "-id")
            ),
            "method_change": payout_method_pending(creator_ids=[creator.pk]).get(
                creator.pk
            ),
            "cooloff_ends": payout_method_cooloff_ends(creator=creator),
        }
    return UserOverview(
        user=user,
        home=home,
        balances=wallet_balances(user=user),
        limits=spending_limits(
            user=user, home_region_id=home.region_id if home else None, now=now
        ),
        purchases=_recent(
            Purchase.objects.filter(user=user)
            .select_related("bundle", "region")
            .order_by("-created_at", "-id")
        ),
        gifts_sent=_recent(
            GiftSend.objects.filter(sender=user)
            .select_related("gift", "creator")
            .order_by("-created_at", "-id")
        ),
        transfers=_recent(transfers_for_user(user=user), TRANSFERS_SHOWN),
        creator=creator,
        **creator_side,
    )
