import datetime
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from djmoney.money import Money

from accounts.models import User
from core.fields import MONEY_DECIMAL_PLACES, from_minor_units
from gifting.models import CreatorProfile, GiftSend
from payouts.models import DiamondCashRate, Payout, PayoutMethodChange
from payouts.selectors import (
    cash_rate_current,
    payout_method_cooloff_ends,
    payout_method_pending,
)
from payouts.services import payout_gross
from wallets.models import (
    AccountKind,
    HomeRegion,
    LedgerAccount,
    PendingCredit,
    Purchase,
    ReconciliationRun,
    Transfer,
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

from .models import Export


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
        .only(
            "price",
            "price_currency",
            "paid_coins_spent",
            "paid_coins_recovered",
            "refunded_twice",
            "purchase__coins",
        )
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

    # What the earnings hold saved in these days: creators' diamonds store refunds
    # took back before they could be cashed out.
    saved_units = (
        UnrecoveredStoreRefund.objects.filter(received_at__gte=since).aggregate(
            total=Sum("diamond_units_recovered")
        )["total"]
        or 0
    )

    return {
        "dates": dates,
        "hold_saved_units": int(saved_units),
        "hold_saved_cash": (
            payout_gross(diamond_units=saved_units, rate=rate.rate) if rate else None
        ),
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


# --- Month-end books ----------------------------------------------------------------

# The longest range the books cover at once on screen (a year, leap day included).
BOOKS_MAX_DAYS = 366
# A download of the books up to a month long is made in the request; a longer one,
# and every journal, is an export job run by a worker (docs/books.md, "Exports").
EXPORT_AT_ONCE_MAX_DAYS = 31
EXPORTS_SHOWN = 20


def export_runs_at_once(
    *, what: str, first_day: datetime.date, last_day: datetime.date
) -> bool:
    """Whether this export is made in the request rather than queued as a job."""
    return (
        what == Export.What.BOOKS
        and (last_day - first_day).days + 1 <= EXPORT_AT_ONCE_MAX_DAYS
    )


def exports_recent():
    """The newest export jobs, whoever asked, for the Books page."""
    jobs = Export.objects.select_related("requested_by")
    return jobs.order_by("-created_at", "-id")[:EXPORTS_SHOWN]


@dataclass(frozen=True)
class SalesLine:
    """One currency and store's coin sales, refunds and unrecovered refunds."""

    currency: str
    store: str
    purchases: int
    paid_coins: int
    bonus_coins: int
    revenue: Money
    refunds: int
    refunded: Money
    paid_coins_taken_back: int
    bonus_coins_taken_back: int
    unrecovered: int
    unrecovered_paid_coins: int
    unrecovered_bonus_coins: int
    unrecovered_value: Money

    @property
    def store_label(self) -> str:
        return Purchase.Store(self.store).label


@dataclass(frozen=True)
class PayoutsLine:
    """Payouts paid in one currency: the diamonds that left and the cash they cost."""

    currency: str
    payouts: int
    diamond_units: int
    gross: Money
    fees: Money
    net: Money


@dataclass(frozen=True)
class TieOut:
    """One ledger account group over the range: opening + movements = closing?

    Opening and closing are the sums of the group's transfers before the start and
    before the end; the movements are the range's transfers by kind. They are
    three separate sums, so a transfer counted in none or two of them shows here.
    """

    unit: str
    kind: str
    opening: int
    movements: list[tuple[str, int]]
    closing: int

    @property
    def label(self) -> str:
        return LedgerAccount.Kind(self.kind).label

    @property
    def moved(self) -> int:
        return sum(amount for _, amount in self.movements)

    @property
    def difference(self) -> int:
        return self.closing - (self.opening + self.moved)

    @property
    def ties(self) -> bool:
        return self.difference == 0


@dataclass(frozen=True)
class Books:
    """The books of `first_day` to `last_day`, both included (UTC days)."""

    first_day: datetime.date
    last_day: datetime.date
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    sales: list[SalesLine]
    # Coins that left users' accounts for gifts, bonus and paid.
    gift_bonus_coins: int
    gift_paid_coins: int
    # Diamonds issued by gifts: the creators' share and the platform's.
    diamonds_to_creators: int
    diamonds_to_platform: int
    # Creators' diamonds store refunds took back from earnings still on hold.
    diamonds_taken_back_by_hold: int
    # Coin subscriptions: the coins their charges took, bonus and paid, and those
    # their refunds gave back; the diamonds the charges issued and the refunds took
    # back, the creators' and the platform's.
    subscription_bonus_coins: int
    subscription_paid_coins: int
    subscription_refunded_bonus_coins: int
    subscription_refunded_paid_coins: int
    subscription_diamonds_to_creators: int
    subscription_diamonds_to_platform: int
    subscription_diamonds_back_from_creators: int
    subscription_diamonds_back_from_platform: int
    # Users' paid coins at the start and the end: the coins the platform may owe.
    paid_coins_opening: int
    paid_coins_closing: int
    # Creators' diamonds plus those held for payouts, and their cash value.
    diamonds_outstanding_opening: int
    diamonds_outstanding_closing: int
    cash_rate_opening: DiamondCashRate | None
    cash_rate_closing: DiamondCashRate | None
    cash_liability_opening: Money | None
    cash_liability_closing: Money | None
    payouts: list[PayoutsLine]
    tie_outs: list[TieOut]
    # Per unit, the sum of every balance at the end: 0 under double entry.
    unit_totals: dict[str, int]

    @property
    def ties(self) -> bool:
        return all(line.ties for line in self.tie_outs) and not any(
            self.unit_totals.values()
        )


def books_default_range(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The last full calendar month before `today`'s."""
    last_day = today.replace(day=1) - datetime.timedelta(days=1)
    return last_day.replace(day=1), last_day


def _cash(units, currency: str) -> Money:
    # Cash columns hold integer minor units (core.fields); raw SQL reads them so.
    return Money(from_minor_units(units or 0, MONEY_DECIMAL_PLACES), currency)


def _rows(sql: str, params: list) -> list[tuple]:
    # Moments as the database stores them: SQLite compares them as text.
    params = [
        connection.ops.adapt_datetimefield_value(value)
        if isinstance(value, datetime.datetime)
        else value
        for value in params
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def books_for(*, start: datetime.date, end: datetime.date) -> Books:
    """The books from `start` to `end`, both days included, in UTC days.

    Coin and diamond figures are sums of ledger transfers; cash comes from the
    purchases and payouts those transfers name. A fixed number of queries,
    whatever the volume: every sum is made by the database.
    """
    if end < start:
        raise ValueError("The books end before they start.")
    starts_at = datetime.datetime.combine(start, datetime.time.min, datetime.UTC)
    ends_at = datetime.datetime.combine(
        end + datetime.timedelta(days=1), datetime.time.min, datetime.UTC
    )
    in_range = Q(created_at__gte=starts_at, created_at__lt=ends_at)

    # One statement, so opening, movements and closing see the same transfers.
    flows = (
        Transfer.objects.order_by()
        .values("debit_account__kind", "credit_account__kind", "kind", "unit")
        .annotate(
            before_start=Sum("amount", filter=Q(created_at__lt=starts_at)),
            during=Sum("amount", filter=in_range),
            before_end=Sum("amount", filter=Q(created_at__lt=ends_at)),
        )
    )
    opening: dict[str, int] = defaultdict(int)
    closing: dict[str, int] = defaultdict(int)
    moved: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    unit_of: dict[str, str] = {}
    gift_coins: dict[str, int] = defaultdict(int)
    subscription_coins: dict[str, int] = defaultdict(int)
    subscription_refunded: dict[str, int] = defaultdict(int)
    returned: dict[str, int] = defaultdict(int)
    issued: dict[str, int] = defaultdict(int)
    taken_back_by_hold = 0
    for row in flows:
        debit, credit, kind = (
            row["debit_account__kind"],
            row["credit_account__kind"],
            row["kind"],
        )
        before_start = int(row["before_start"] or 0)
        during = int(row["during"] or 0)
        before_end = int(row["before_end"] or 0)
        for account_kind, sign in ((credit, 1), (debit, -1)):
            unit_of[account_kind] = row["unit"]
            opening[account_kind] += sign * before_start
            closing[account_kind] += sign * before_end
            moved[account_kind][kind] += sign * during
        if credit == AccountKind.COINS_SPENT and kind == Transfer.Kind.GIFT:
            gift_coins[debit] += during
        if credit == AccountKind.COINS_SPENT and kind == Transfer.Kind.SUBSCRIPTION:
            subscription_coins[debit] += during
        if kind == Transfer.Kind.SUBSCRIPTION_REFUND:
            subscription_refunded[credit] += during
        if debit == AccountKind.DIAMOND_ISSUANCE:
            issued[kind] += during
        if credit == AccountKind.DIAMOND_ISSUANCE:
            returned[kind] += during
        if kind == Transfer.Kind.HOLD_TAKE_BACK:
            taken_back_by_hold += during

    tie_outs = [
        TieOut(
            unit=unit_of[kind],
            kind=kind,
            opening=opening[kind],
            movements=sorted(
                (Transfer.Kind(transfer_kind).label, amount)
                for transfer_kind, amount in moved[kind].items()
                if amount
            ),
            closing=closing[kind],
        )
        for kind in AccountKind.values
        if kind in unit_of
    ]
    unit_totals: dict[str, int] = defaultdict(int)
    for line in tie_outs:
        unit_totals[line.unit] += line.closing

    transfers = Transfer._meta.db_table
    purchases = Purchase._meta.db_table
    payouts = Payout._meta.db_table
    shortfalls = UnrecoveredStoreRefund._meta.db_table
    kinds = Transfer.Kind
    # A purchase's transfers name it by reference, `purchase:<id>` (wallets.ledger).
    sales = _rows(
        f"SELECT p.price_currency, p.store, t.kind, COUNT(*), SUM(t.amount), "
        f"SUM(p.price) FROM {transfers} t JOIN {purchases} p "
        "ON t.reference = 'purchase:' || CAST(p.id AS TEXT) "
        "WHERE t.created_at >= %s AND t.created_at < %s AND t.kind IN (%s, %s, %s, %s) "
        "GROUP BY p.price_currency, p.store, t.kind",
        [
            starts_at,
            ends_at,
            kinds.PURCHASE,
            kinds.PURCHASE_BONUS,
            kinds.REFUND,
            kinds.BONUS_CLAWBACK,
        ],
    )
    refunds = (
        Purchase.objects.filter(refunded_at__gte=starts_at, refunded_at__lt=ends_at)
        .values("price_currency", "store")
        .annotate(count=Count("id"), total=Sum("price"))
        .order_by()
    )
    # Each one valued as its admin page values it: price x spent and not
    # recovered by the earnings hold / coins, to the cent, half up; in integer
    # cents, exact on every database. One the hold recovered in full lost nothing;
    # one refunded by the platform and then by the store lost the whole price.
    lost = "(s.paid_coins_spent - s.paid_coins_recovered)"
    unrecovered = _rows(
        f"SELECT s.price_currency, s.store, COUNT(*), SUM({lost}), "
        "SUM(s.bonus_coins_missing), "
        "SUM(CASE WHEN s.refunded_twice THEN s.price "
        f"ELSE (2 * s.price * {lost} + p.coins) / (2 * p.coins) END) "
        f"FROM {shortfalls} s JOIN {purchases} p ON p.id = s.purchase_id "
        "WHERE s.received_at >= %s AND s.received_at < %s "
        f"AND ({lost} > 0 OR s.bonus_coins_missing > 0 OR s.refunded_twice) "
        "GROUP BY s.price_currency, s.store",
        [starts_at, ends_at],
    )
    paid_out = _rows(
        "SELECT o.currency, COUNT(*), SUM(t.amount), SUM(o.gross_amount), "
        f"SUM(o.fee_amount), SUM(o.net_amount) FROM {transfers} t JOIN {payouts} o "
        "ON t.reference = 'payout:' || CAST(o.id AS TEXT) "
        "WHERE t.created_at >= %s AND t.created_at < %s AND t.kind = %s "
        "GROUP BY o.currency ORDER BY o.currency",
        [starts_at, ends_at, kinds.PAYOUT],
    )

    lines: dict[tuple[str, str], dict] = defaultdict(lambda: defaultdict(int))
    for currency, store, kind, count, coins, price in sales:
        line = lines[currency, store]
        line[kind] += int(coins)
        if kind == kinds.PURCHASE:
            line["purchases"] += count
            line["revenue"] += int(price)
    for row in refunds:
        line = lines[row["price_currency"], row["store"]]
        line["refunds"] += row["count"]
        line["refunded"] += row["total"]
    for currency, store, count, paid, bonus, value in unrecovered:
        line = lines[currency, store]
        line["unrecovered"] += count
        line["unrecovered_paid"] += int(paid)
        line["unrecovered_bonus"] += int(bonus)
        line["unrecovered_value"] += int(value)
    sales_lines = [
        SalesLine(
            currency=currency,
            store=store,
            purchases=line["purchases"],
            paid_coins=line[kinds.PURCHASE],
            bonus_coins=line[kinds.PURCHASE_BONUS],
            revenue=_cash(line["revenue"], currency),
            refunds=line["refunds"],
            refunded=Money(line["refunded"] or Decimal("0.00"), currency),
            paid_coins_taken_back=line[kinds.REFUND],
            bonus_coins_taken_back=line[kinds.BONUS_CLAWBACK],
            unrecovered=line["unrecovered"],
            unrecovered_paid_coins=line["unrecovered_paid"],
            unrecovered_bonus_coins=line["unrecovered_bonus"],
            unrecovered_value=_cash(line["unrecovered_value"], currency),
        )
        for (currency, store), line in sorted(lines.items())
    ]

    def outstanding(balances) -> int:
        return balances[AccountKind.DIAMONDS] + balances[AccountKind.PAYOUT_HOLD]

    rates = [
        cash_rate_current(currency="USD", when=when) for when in (starts_at, ends_at)
    ]
    liabilities = [
        Money(payout_gross(diamond_units=units, rate=rate.rate), rate.currency)
        if rate
        else None
        for units, rate in zip(
            (outstanding(opening), outstanding(closing)), rates, strict=True
        )
    ]
    return Books(
        first_day=start,
        last_day=end,
        starts_at=starts_at,
        ends_at=ends_at,
        sales=sales_lines,
        gift_bonus_coins=gift_coins[AccountKind.BONUS_COINS],
        gift_paid_coins=gift_coins[AccountKind.PAID_COINS],
        diamonds_to_creators=issued[kinds.GIFT_EARNING],
        diamonds_to_platform=issued[kinds.GIFT_PLATFORM_SHARE],
        diamonds_taken_back_by_hold=taken_back_by_hold,
        subscription_bonus_coins=subscription_coins[AccountKind.BONUS_COINS],
        subscription_paid_coins=subscription_coins[AccountKind.PAID_COINS],
        subscription_refunded_bonus_coins=subscription_refunded[
            AccountKind.BONUS_COINS
        ],
        subscription_refunded_paid_coins=subscription_refunded[AccountKind.PAID_COINS],
        subscription_diamonds_to_creators=issued[kinds.SUBSCRIPTION_EARNING],
        subscription_diamonds_to_platform=issued[kinds.SUBSCRIPTION_PLATFORM_SHARE],
        subscription_diamonds_back_from_creators=returned[
            kinds.SUBSCRIPTION_EARNING_BACK
        ],
        subscription_diamonds_back_from_platform=returned[
            kinds.SUBSCRIPTION_PLATFORM_BACK
        ],
        paid_coins_opening=opening[AccountKind.PAID_COINS],
        paid_coins_closing=closing[AccountKind.PAID_COINS],
        diamonds_outstanding_opening=outstanding(opening),
        diamonds_outstanding_closing=outstanding(closing),
        cash_rate_opening=rates[0],
        cash_rate_closing=rates[1],
        cash_liability_opening=liabilities[0],
        cash_liability_closing=liabilities[1],
        payouts=[
            PayoutsLine(
                currency=currency,
                payouts=count,
                diamond_units=int(units),
                gross=_cash(gross, currency),
                fees=_cash(fees, currency),
                net=_cash(net, currency),
            )
            for currency, count, units, gross, fees, net in paid_out
        ],
        tie_outs=tie_outs,
        unit_totals=dict(unit_totals),
    )
