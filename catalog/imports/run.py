"""One import, all or nothing: read and check every row, find repeats, then read
again and write, in one transaction, only a file without a bad row."""

import logging
from typing import BinaryIO

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from accounts.models import User

from .files import CHUNK_ROWS, Stop, chunks, records
from .repeats import SeenKeys, duplicates_find
from .report import BAD_ROWS_KEPT, Counts, ImportResult, Report
from .rows import BundlePrices, Gifts, Kind

logger = logging.getLogger(__name__)


class _Rollback(Exception):
    pass


def _read(file, kind: Kind, report: Report, *, now, write: bool, seen=None):
    counts = Counts()
    for chunk in chunks(records(file, kind, report), CHUNK_ROWS):
        counts.rows += len(chunk)
        if seen is not None:
            for _, row in chunk:
                seen.add(kind.key(row)[1])
        ops = kind.check(chunk, report, now=now, counts=counts)
        if write and not report.total:
            kind.write(ops, now=now, counts=counts)
    return counts


def _import(file: BinaryIO, kind: Kind, *, dry_run: bool, keep: int) -> ImportResult:
    report = Report(keep)
    seen = SeenKeys()
    counts = Counts()
    try:
        counts = _read(file, kind, report, now=timezone.now(), write=False, seen=seen)
        if seen.maybe or seen.overflow:
            duplicates_find(file, kind, report, seen)
    except Stop:
        pass
    if not report.total and not dry_run:
        rows = counts.rows
        try:
            with transaction.atomic():
                now = timezone.now()
                kind.before_write(now=now)
                counts = _read(file, kind, report, now=now, write=True)
                if report.total:
                    raise _Rollback
        except (_Rollback, Stop):
            counts.rows = rows
        except (IntegrityError, DataError) as error:
            # The catalog changed between the two reads; nothing was written.
            logger.warning("Import refused by the database: %s", error)
            report.add(0, "", f"The database refused the rows: {error}")
    return ImportResult(
        rows=counts.rows,
        created=counts.created if not report.total else 0,
        updated=counts.updated if not report.total else 0,
        skipped=counts.skipped if not report.total else 0,
        errors=report.total,
        bad_rows=sorted(report.kept, key=lambda bad: bad.line),
        dry_run=dry_run,
    )


def gifts_import(
    *,
    file: BinaryIO,
    actor: User | None,
    source: str = "a file",
    dry_run: bool = False,
    keep: int = BAD_ROWS_KEPT,
) -> ImportResult:
    """Add and update gifts from a CSV file with the export's columns; all or nothing.

    `file` is binary and seekable: it is read once to check and once to write.
    Each gift written gets a history row by `actor` with the reason "Import of
    `source`" (the file's name). A file with bad rows writes nothing; the result
    lists up to `keep`.
    """
    kind = Gifts(actor=actor, source=source)
    return _import(file, kind, dry_run=dry_run, keep=keep)


def bundle_prices_import(
    *,
    file: BinaryIO,
    actor: User | None,
    source: str = "a file",
    dry_run: bool = False,
    keep: int = BAD_ROWS_KEPT,
) -> ImportResult:
    """Add hand-set bundle prices from a CSV file with the export's columns; all or
    nothing. Rows are added, never edited (prices are append-only), created by
    `actor`. A file with bad rows writes nothing; the result lists up to `keep`."""
    kind = BundlePrices(actor=actor, source=source)
    return _import(file, kind, dry_run=dry_run, keep=keep)
