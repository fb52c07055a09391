"""The general-ledger journal (issue 17): the ledger's transfers as the daily entries
an accounting system imports.

One entry per UTC day and (debit account kind, credit account kind, transfer kind):
users' accounts are summed by kind, as an accounting system keeps one "creator
diamonds payable" account, not one per creator. Each entry is two lines, a debit
and a credit of the same amount, so it balances by construction. The journal is in
the ledger's own units (coins, diamonds), not cash: see docs/books.md, "Journal".

Sums are made by the database, grouped by day, a few days per query, so memory
grows with days and account pairs, never with transfers.
"""

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from wallets.models import AccountKind, LedgerAccount, Transfer, Unit
from wallets.units import diamonds_from_units


@dataclass(frozen=True)
class GLAccount:
    code: str
    name: str
    unit: str


# The chart of accounts the journal posts to: one GL account per ledger account
# kind (users' accounts summed by kind). The only place these codes live.
CHART: dict[str, GLAccount] = {
    AccountKind.COIN_ISSUANCE: GLAccount("1100", "Coins sold (clearing)", Unit.COIN),
    AccountKind.COIN_REFUNDS: GLAccount("1110", "Coins refunded", Unit.COIN),
    AccountKind.BONUS_ISSUANCE: GLAccount(
        "1200", "Bonus coins granted (promotions)", Unit.COIN
    ),
    AccountKind.BONUS_ADJUSTMENTS: GLAccount(
        "1210", "Bonus coin adjustments", Unit.COIN
    ),
    AccountKind.PAID_COINS: GLAccount(
        "2100", "Paid coins held by users (deferred revenue)", Unit.COIN
    ),
    AccountKind.BONUS_COINS: GLAccount("2110", "Bonus coins held by users", Unit.COIN),
    AccountKind.COINS_SPENT: GLAccount("4100", "Coins spent on gifts", Unit.COIN),
    AccountKind.DIAMONDS: GLAccount("2200", "Creator diamonds payable", Unit.DIAMOND),
    AccountKind.PAYOUT_HOLD: GLAccount(
        "2210", "Diamonds held for payouts", Unit.DIAMOND
    ),
    AccountKind.PAID_OUT: GLAccount("2290", "Diamonds paid out", Unit.DIAMOND),
    AccountKind.DIAMOND_ISSUANCE: GLAccount(
        "5100", "Diamonds issued (creator earnings cost)", Unit.DIAMOND
    ),
    AccountKind.PLATFORM_REVENUE: GLAccount(
        "4200", "Platform share of gifts", Unit.DIAMOND
    ),
    AccountKind.DIAMOND_ADJUSTMENTS: GLAccount(
        "5110", "Diamond adjustments", Unit.DIAMOND
    ),
    AccountKind.SPONSOR_FUNDING: GLAccount(
        "1300", "Coins funded by sponsors (clearing)", Unit.COIN
    ),
    AccountKind.SPONSOR_BUDGET: GLAccount(
        "2120", "Sponsor campaign budgets (prepaid by brands)", Unit.COIN
    ),
}

JOURNAL_COLUMNS = (
    "date",
    "reference",
    "account",
    "account_name",
    "unit",
    "debit",
    "credit",
    "description",
)
# Days summed per query: each query's rows are these days times the account pairs.
DAYS_PER_QUERY = 7


@dataclass(frozen=True)
class JournalEntry:
    """The transfers of one UTC day from one account kind to another, of one kind."""

    day: datetime.date
    debit_kind: str
    credit_kind: str
    transfer_kind: str
    unit: str
    # Integer units: coins, or diamonds in ten-thousandths.
    amount: int
    transfers: int

    @property
    def debit(self) -> GLAccount:
        return CHART[self.debit_kind]

    @property
    def credit(self) -> GLAccount:
        return CHART[self.credit_kind]

    @property
    def reference(self) -> str:
        """Unique per entry, the same in every export of the same day."""
        return (
            f"giftshop:{self.day.isoformat()}:{self.transfer_kind}:"
            f"{self.debit.code}-{self.credit.code}"
        )

    def lines(self) -> list[tuple]:
        """The entry's debit and credit lines, in JOURNAL_COLUMNS order."""
        amount = journal_amount(self.unit, self.amount)
        unit = "diamonds" if self.unit == Unit.DIAMOND else "coins"
        description = (
            f"{Transfer.Kind(self.transfer_kind).label}: {self.transfers} transfer(s)"
        )
        day, reference = self.day.isoformat(), self.reference
        return [
            # No credit on the debit line, no debit on the credit line: empty cells.
            (
                day,
                reference,
                self.debit.code,
                self.debit.name,
                unit,
                amount,
                None,
                description,
            ),
            (
                day,
                reference,
                self.credit.code,
                self.credit.name,
                unit,
                None,
                amount,
                description,
            ),
        ]


def journal_amount(unit: str, units: int) -> int | Decimal:
    """Coins as integers, diamonds with their four decimals: exact, never a float."""
    return diamonds_from_units(units) if unit == Unit.DIAMOND else int(units)


def journal_days(start: datetime.date, end: datetime.date) -> int:
    return (end - start).days + 1


def journal_entries(
    *,
    start: datetime.date,
    end: datetime.date,
    on_days_done: Callable[[int], None] | None = None,
) -> Iterator[JournalEntry]:
    """The journal of `start` to `end`, both days included (UTC), in day order.

    A query per DAYS_PER_QUERY days, each read whole (no server-side cursor: safe
    behind PgBouncer in transaction mode); `on_days_done(days)` is called after
    each, so progress is written between queries, never inside one's transaction.
    """
    if end < start:
        raise ValueError("The journal ends before it starts.")
    total = journal_days(start, end)
    done = 0
    while done < total:
        first = start + datetime.timedelta(days=done)
        days = min(DAYS_PER_QUERY, total - done)
        rows = _entries_of(first, first + datetime.timedelta(days=days))
        yield from rows
        done += days
        if on_days_done is not None:
            on_days_done(done)


def _entries_of(first: datetime.date, after: datetime.date) -> list[JournalEntry]:
    """The entries of the days from `first` up to, not including, `after`."""
    starts_at = datetime.datetime.combine(first, datetime.time.min, datetime.UTC)
    ends_at = datetime.datetime.combine(after, datetime.time.min, datetime.UTC)
    grouped = (
        Transfer.objects.filter(created_at__gte=starts_at, created_at__lt=ends_at)
        .annotate(day=TruncDate("created_at", tzinfo=datetime.UTC))
        .values("day", "debit_account__kind", "credit_account__kind", "kind", "unit")
        .annotate(amount=Sum("amount"), transfers=Count("id"))
        .order_by("day", "debit_account__kind", "credit_account__kind", "kind")
    )
    # One statement read whole: consistent by itself, and no server-side cursor
    # (none may outlive a transaction behind PgBouncer in transaction mode).
    return [
        JournalEntry(
            day=row["day"],
            debit_kind=row["debit_account__kind"],
            credit_kind=row["credit_account__kind"],
            transfer_kind=row["kind"],
            unit=row["unit"],
            amount=int(row["amount"]),
            transfers=row["transfers"],
        )
        for row in grouped
    ]


def chart_check() -> None:
    """Every ledger account kind has a GL account in its own unit (a test runs it)."""
    for kind in AccountKind.values:
        if CHART[kind].unit != LedgerAccount.unit_for(kind):
            raise ValueError(f"{kind} is kept in {LedgerAccount.unit_for(kind)}.")
