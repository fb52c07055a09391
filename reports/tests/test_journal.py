"""The general-ledger journal (issue 17): every entry balances, the journal of a
built scene holds the hand-computed entries, its totals per account equal the
books' movements, UTC days cut at midnight exactly, and random transfers over
several days (Hypothesis, on both databases) always give the entries an exact
oracle computes."""

import contextlib
import datetime
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports.journal import (
    CHART,
    DAYS_PER_QUERY,
    chart_check,
    journal_entries,
)
from reports.selectors import books_for
from wallets.models import AccountKind, LedgerAccount, Transfer

from .factories import transfers_bulk
from .test_books import scene, today

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
DAY = datetime.timedelta(days=1)


def _balanced(entries) -> dict[str, list]:
    """Each entry's lines by reference: debits equal credits, one of each."""
    by_reference: dict[str, list] = defaultdict(list)
    for entry in entries:
        by_reference[entry.reference].extend(entry.lines())
    for reference, lines in by_reference.items():
        debits = sum(line[5] for line in lines if line[5] is not None)
        credits = sum(line[6] for line in lines if line[6] is not None)
        assert debits == credits and debits > 0, reference
    return by_reference


def _net_by_kind(entries) -> dict[str, int]:
    """Per ledger account kind: credits less debits, in integer units."""
    net: dict[str, int] = defaultdict(int)
    for entry in entries:
        net[entry.credit_kind] += entry.amount
        net[entry.debit_kind] -= entry.amount
    return net


def _ties_to_books(entries, start, end) -> None:
    books = books_for(start=start, end=end)
    net = _net_by_kind(entries)
    moved = {line.kind: line.moved for line in books.tie_outs}
    assert {k: v for k, v in net.items() if v} == {k: v for k, v in moved.items() if v}


def test_every_account_kind_has_a_gl_account_in_its_own_unit():
    chart_check()
    assert set(CHART) == set(AccountKind.values)
    codes = [account.code for account in CHART.values()]
    assert len(set(codes)) == len(codes)


def test_the_journal_of_a_scene_holds_the_hand_computed_entries():
    scene()
    day = today()

    entries = list(journal_entries(start=day, end=day))

    lines = _balanced(entries)
    figures = {
        reference: (lines[0][2], lines[1][2], lines[0][5])
        for reference, lines in lines.items()
    }
    at = f"giftshop:{day.isoformat()}"
    assert figures == {
        # 100 + 100 (USD, App Store) + 500 (web) + 100 (JPY): 800 paid coins sold.
        f"{at}:purchase:1100-2100": ("1100", "2100", 800),
        f"{at}:purchase_bonus:1200-2110": ("1200", "2110", 20),
        # The second USD purchase refunded whole, 70 JPY coins by the store.
        f"{at}:refund:2100-1110": ("2100", "1110", 170),
        f"{at}:bonus_clawback:2110-1200": ("2110", "1200", 10),
        f"{at}:gift:2110-4100": ("2110", "4100", 10),
        f"{at}:gift:2100-4100": ("2100", "4100", 50),
        # Two rich creators' 30,000 each, and half of the 60 coins gifted.
        f"{at}:gift_earning:5100-2200": ("5100", "2200", Decimal("60030.0000")),
        f"{at}:gift_platform_share:5100-4200": ("5100", "4200", Decimal("30.0000")),
        f"{at}:payout_hold:2200-2210": ("2200", "2210", Decimal("45000.0000")),
        f"{at}:payout:2210-2290": ("2210", "2290", Decimal("20000.0000")),
    }
    # Diamonds exact to their four decimals, as text too.
    assert str(figures[f"{at}:payout:2210-2290"][2]) == "20000.0000"
    _ties_to_books(entries, day, day)


def test_a_transfer_at_midnight_belongs_to_the_day_that_starts_then():
    day = datetime.date(2026, 11, 3)
    midnight = datetime.datetime.combine(day, datetime.time.min, UTC)
    pair = (AccountKind.COIN_ISSUANCE, AccountKind.PAID_COINS, Transfer.Kind.PURCHASE)
    transfers_bulk(
        [
            (*pair, 1, midnight - datetime.timedelta(microseconds=1)),
            (*pair, 10, midnight),
            (*pair, 100, midnight + DAY - datetime.timedelta(microseconds=1)),
            (*pair, 1000, midnight + DAY),
        ]
    )

    def amounts(start, end):
        return [(e.day, e.amount) for e in journal_entries(start=start, end=end)]

    assert amounts(day, day) == [(day, 110)]
    assert amounts(day - DAY, day + DAY) == [
        (day - DAY, 1),
        (day, 110),
        (day + DAY, 1000),
    ]
    _ties_to_books(list(journal_entries(start=day, end=day)), day, day)


def test_a_long_range_is_read_a_few_days_at_a_time_with_progress():
    start = datetime.date(2026, 1, 1)
    end = start + datetime.timedelta(days=DAYS_PER_QUERY * 2 + 2)
    moments = [
        datetime.datetime.combine(start + n * DAY, datetime.time(12), UTC)
        for n in range(0, (end - start).days + 1, 3)
    ]
    transfers_bulk(
        [
            (
                AccountKind.DIAMOND_ISSUANCE,
                AccountKind.DIAMONDS,
                "gift_earning",
                5,
                when,
            )
            for when in moments
        ]
    )
    done: list[int] = []

    entries = list(journal_entries(start=start, end=end, on_days_done=done.append))

    total = (end - start).days + 1
    assert done == [DAYS_PER_QUERY, 2 * DAYS_PER_QUERY, total]
    assert [entry.day for entry in entries] == [when.date() for when in moments]


def test_an_end_before_the_start_is_refused():
    with pytest.raises(ValueError):
        list(journal_entries(start=today(), end=today() - DAY))


@contextlib.contextmanager
def _example():
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


# Pairs the ledger posts (docs/ledger.md), with their transfer kinds.
PAIRS = [
    (AccountKind.COIN_ISSUANCE, AccountKind.PAID_COINS, "purchase"),
    (AccountKind.BONUS_ISSUANCE, AccountKind.BONUS_COINS, "purchase_bonus"),
    (AccountKind.PAID_COINS, AccountKind.COIN_REFUNDS, "refund"),
    (AccountKind.PAID_COINS, AccountKind.COINS_SPENT, "gift"),
    (AccountKind.BONUS_COINS, AccountKind.COINS_SPENT, "gift"),
    (AccountKind.DIAMOND_ISSUANCE, AccountKind.DIAMONDS, "gift_earning"),
    (AccountKind.DIAMOND_ISSUANCE, AccountKind.PLATFORM_REVENUE, "gift_platform_share"),
    (AccountKind.DIAMONDS, AccountKind.PAYOUT_HOLD, "payout_hold"),
    (AccountKind.PAYOUT_HOLD, AccountKind.PAID_OUT, "payout"),
    (AccountKind.DIAMOND_ADJUSTMENTS, AccountKind.DIAMONDS, "adjustment"),
]
BASE = datetime.datetime(2026, 11, 10, tzinfo=UTC)
transfer = st.tuples(
    st.sampled_from(PAIRS),
    st.integers(1, 10**12),
    # Up to three days either side of BASE, to the microsecond: midnights included.
    st.integers(-3 * 86_400_000_000, 3 * 86_400_000_000 - 1),
    st.booleans(),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    transfers=st.lists(transfer, min_size=1, max_size=30),
    first=st.integers(-4, 2),
    days=st.integers(1, 5),
)
def test_the_journal_is_always_balanced_exact_and_ties_to_the_books(
    transfers, first, days
):
    with _example():
        rows = []
        for (debit, credit, kind), amount, offset, on_midnight in transfers:
            when = BASE + datetime.timedelta(microseconds=offset)
            if on_midnight:
                when = when.replace(hour=0, minute=0, second=0, microsecond=0)
            rows.append((debit, credit, kind, amount, when))
        transfers_bulk(rows)
        start = BASE.date() + datetime.timedelta(days=first)
        end = start + datetime.timedelta(days=days - 1)

        entries = list(journal_entries(start=start, end=end))

        _balanced(entries)
        expected: dict[tuple, int] = defaultdict(int)
        for debit, credit, kind, amount, when in rows:
            if start <= when.astimezone(UTC).date() <= end:
                expected[when.date(), debit, credit, kind] += amount
        assert {
            (e.day, e.debit_kind, e.credit_kind, e.transfer_kind): e.amount
            for e in entries
        } == expected
        for entry in entries:
            assert entry.unit == LedgerAccount.unit_for(entry.debit_kind)
        _ties_to_books(entries, start, end)
