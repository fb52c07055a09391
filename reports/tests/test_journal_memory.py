"""The journal export's memory does not grow with the number of transfers: its
peak (tracemalloc, Python's own allocations) for 20,000 transfers stays within a
small factor of that for 2,000 over the same days, since the database sums them
by day and Python sees days times account pairs. bench/journal_export.py measures
the same at millions of transfers on PostgreSQL."""

import datetime
import tracemalloc

import pytest

from accounts.roles import FINANCE
from reports import services
from reports.models import Export
from wallets.models import AccountKind, Transfer
from wallets.tests.factories import staff_create

from .factories import transfers_bulk

pytestmark = pytest.mark.django_db
START = datetime.date(2026, 10, 1)
DAYS = 30
PAIRS = [
    (AccountKind.COIN_ISSUANCE, AccountKind.PAID_COINS, Transfer.Kind.PURCHASE),
    (AccountKind.PAID_COINS, AccountKind.COINS_SPENT, Transfer.Kind.GIFT),
    (AccountKind.DIAMOND_ISSUANCE, AccountKind.DIAMONDS, Transfer.Kind.GIFT_EARNING),
]


def _transfers(count: int, offset: int) -> None:
    first = datetime.datetime.combine(START, datetime.time.min, datetime.UTC)
    step = datetime.timedelta(days=DAYS) / count
    transfers_bulk(
        [
            (*PAIRS[n % len(PAIRS)], 1 + n % 97, first + step * n + offset * step / 2)
            for n in range(count)
        ]
    )


def _export_peak(actor, file_format: str) -> tuple[int, int]:
    export = Export.objects.create(
        what="journal",
        first_day=START,
        last_day=START + datetime.timedelta(days=DAYS - 1),
        format=file_format,
        requested_by=actor,
    )
    tracemalloc.start()
    try:
        done = services.export_run(export_id=export.pk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert done.status == "done"
    return peak, done.rows


def test_the_journal_export_peak_does_not_grow_with_transfers():
    actor = staff_create(FINANCE)
    _transfers(2_000, 0)
    _export_peak(actor, "csv")  # warms caches: imports, query compilation
    small = {fmt: _export_peak(actor, fmt) for fmt in ("csv", "xlsx")}

    _transfers(18_000, 1)
    large = {fmt: _export_peak(actor, fmt) for fmt in ("csv", "xlsx")}

    for fmt in ("csv", "xlsx"):
        (small_peak, rows), (large_peak, same_rows) = small[fmt], large[fmt]
        # The same entries (days x pairs), ten times the transfers behind them.
        assert rows == same_rows == DAYS * len(PAIRS) * 2
        assert large_peak < 1.5 * small_peak, (fmt, small_peak, large_peak)
