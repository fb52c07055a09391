"""Streaming CSV imports of gifts and bundle prices, for files too big for the
admin's import-export preview (which holds every row and its diff in memory).

A file is read twice, a chunk of rows at a time. The first read validates every row
with the models' own rules and collects the bad ones (line, column, message); only
a file without one is read again and written in bulk, in one transaction. Memory
stays flat whatever the size: no list of rows, foreign keys looked up in small dicts
loaded once, duplicates found with a fixed-size filter. docs/imports.md has more.
"""

import codecs
import csv
import datetime
import functools
import io
import itertools
import logging
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import BinaryIO

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import DataError, IntegrityError, connections, router, transaction
from django.utils import timezone
from djmoney.money import Money
from import_export.widgets import BooleanWidget, DateTimeWidget
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import User

from . import pricing, selectors, services
from .models import (
    BundlePrice,
    CoinBundle,
    Gift,
    ImportJob,
    Region,
    new_price_moment,
)
from .resources import GiftResource

logger = logging.getLogger(__name__)

CHUNK_ROWS = 1000
BAD_ROWS_KEPT = 1000
MAX_LINE_BYTES = 1 << 20

# Who may import what: the same permissions as changing those records by hand.
IMPORT_PERMISSIONS = {
    ImportJob.Kind.GIFTS: ("catalog.add_gift", "catalog.change_gift"),
    ImportJob.Kind.BUNDLE_PRICES: ("catalog.add_bundleprice",),
}

NOT_CSV = "This is not a CSV file in UTF-8: save the sheet as “CSV UTF-8”."
NOT_UTF8 = "Not UTF-8 text: save the file as “CSV UTF-8”."


@dataclass(frozen=True)
class BadRow:
    line: int
    column: str
    message: str


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def summary(self, name: str) -> str:
        if not self.ok:
            return (
                f"Refused {name}: {self.errors} error(s) in {self.rows} row(s); "
                "nothing was imported."
            )
        counts = (
            f"{self.rows} row(s): {self.created} new, {self.updated} changed, "
            f"{self.skipped} unchanged"
        )
        if self.dry_run:
            return f"Checked {name}, no errors; importing would write {counts}."
        return f"Imported {name}: {counts}."


def bad_rows_csv(result: ImportResult) -> bytes:
    """The bad-row report: one line per error, with the count of those not listed."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "column", "message"])
    for bad in result.bad_rows:
        writer.writerow([bad.line or "", bad.column, bad.message])
    unlisted = result.errors - len(result.bad_rows)
    if unlisted:
        writer.writerow(["", "", f"... and {unlisted} more error(s) not listed."])
    return out.getvalue().encode("utf-8")


class _Stop(Exception):
    """Reading cannot go on (no header, a broken line); the error is reported."""


class _Rollback(Exception):
    pass


class _Report:
    def __init__(self, keep: int):
        self.keep = keep
        self.kept: list[BadRow] = []
        self.total = 0

    def add(self, line: int, column: str, message: str) -> None:
        self.total += 1
        if len(self.kept) < self.keep:
            self.kept.append(BadRow(line, column, message))

    def add_validation(self, line: int, error: ValidationError, columns) -> None:
        for name, messages in error.message_dict.items():
            column = "" if name == NON_FIELD_ERRORS else columns.get(name, name)
            for message in messages:
                self.add(line, column, message)


class _SeenKeys:
    """Which row keys came before, in fixed memory.

    A Bloom filter (2**24 bits, 2 MiB) answers "maybe" or "no"; the maybes are
    checked exactly by reading the file once more, so a false "maybe" costs a read,
    never a false error. Past `MAYBE_MAX` maybes the file is too big to check.
    """

    BITS = 1 << 24
    MAYBE_MAX = 50_000

    def __init__(self):
        self.bits = bytearray(self.BITS // 8)
        self.maybe: set[Hashable] = set()
        self.overflow = False

    def add(self, key: Hashable) -> None:
        # Four positions from one 64-bit hash (Kirsch-Mitzenmacher double hashing);
        # str hashes are salted per process, and both reads run in this one.
        number = hash(key)
        step = (number >> 32) | 1
        seen = True
        for i in range(4):
            position = (number + i * step) & (self.BITS - 1)
            byte, bit = position >> 3, 1 << (position & 7)
            if not self.bits[byte] & bit:
                seen = False
                self.bits[byte] |= bit
        if seen:
            if len(self.maybe) < self.MAYBE_MAX:
                self.maybe.add(key)
            else:
                self.overflow = True


class _Lines:
    """The file's lines as text, numbered. A line that is not UTF-8 is decoded with
    replacement characters and flagged, so its row is refused, not misread."""

    def __init__(self, file: BinaryIO, report: _Report):
        self.file = file
        self.report = report
        self.number = 0
        # Whether the row being read has a line that is not UTF-8 or has a NUL.
        self.undecodable = self.nul = False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        raw = self.file.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if len(raw) > MAX_LINE_BYTES:
            self.report.add(self.number, "", "The line is longer than 1 MiB.")
            raise _Stop
        if self.number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.undecodable = True
            text = raw.decode("utf-8", "replace")
        if "\x00" in text:
            self.nul = True
        return text


def _records(
    file: BinaryIO, kind: "_Kind", report: _Report
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, {column: stripped text}) for each row that could be read as text.

    Header problems (no header, missing or unknown columns) stop the import; a row
    with the wrong number of values, bytes that are not UTF-8 or a NUL character is
    reported and left out.
    """
    file.seek(0)
    lines = _Lines(file, report)
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        report.add(1, "", "The file is empty: its first line must name the columns.")
        raise _Stop from None
    except csv.Error:
        report.add(1, "", NOT_CSV)
        raise _Stop from None
    if lines.undecodable or lines.nul:
        report.add(1, "", NOT_CSV)
        raise _Stop
    header = [name.strip().lower() for name in header]
    _header_check(header, kind, report)
    while True:
        line = reader.line_num + 1
        lines.undecodable = lines.nul = False
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            report.add(line, "", f"Not readable as CSV: {error}.")
            raise _Stop from None
        if not cells or not (cells[0].strip() or "".join(cells).strip()):
            continue
        if len(cells) != len(header):
            report.add(
                line,
                "",
                f"This line has {len(cells)} values; the header names "
                f"{len(header)} columns.",
            )
            continue
        row = dict(zip(header, map(str.strip, cells), strict=True))
        if lines.undecodable or lines.nul:
            _unreadable_report(line, row, report, undecodable=lines.undecodable)
        else:
            yield line, row


def _unreadable_report(
    line: int, row: dict[str, str], report: _Report, *, undecodable: bool
) -> None:
    before = report.total
    for column, value in row.items():
        if undecodable and "\ufffd" in value:
            report.add(line, column, NOT_UTF8)
        elif "\x00" in value:
            report.add(line, column, "Null characters are not allowed.")
    if report.total == before:
        report.add(line, "", NOT_UTF8)


def _header_check(header: list[str], kind: "_Kind", report: _Report) -> None:
    problems = [
        (name, "Missing column.") for name in kind.required if name not in header
    ]
    known = set(kind.required) | set(kind.optional)
    problems += [
        (name or "(empty)", "Unknown column.") for name in header if name not in known
    ]
    problems += [
        (name, "The column appears twice.")
        for name in sorted({name for name in header if header.count(name) > 1})
    ]
    for column, message in problems:
        report.add(1, column, message)
    if problems:
        raise _Stop
    kind.header = header


def _chunks(rows: Iterable, size: int) -> Iterator[list]:
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


_DATETIME = DateTimeWidget()
_BOOLEAN = BooleanWidget()


def _datetime(value: str) -> datetime.datetime | None:
    """A moment as the export writes it (the import-export widget's formats)."""
    try:
        return _DATETIME.clean(value)
    except ValueError:
        raise ValueError("Enter a date and time, e.g. 2030-01-31 18:00:00.") from None


def _integer(value: str) -> int | None:
    if not value:
        return None
    if len(value) > 20 or not value.lstrip("+-").isdigit():
        raise ValueError("Enter a whole number.")
    return int(value)


def _boolean(value: str) -> bool:
    if value in _BOOLEAN.TRUE_VALUES:
        return True
    if value in _BOOLEAN.FALSE_VALUES:
        return False
    raise ValueError("Enter 1 or 0.")


@dataclass
class _Counts:
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0


class _Kind:
    """What one kind of file holds and how its rows are checked and written."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    # Model field -> file column, for the model's validation errors.
    columns: dict[str, str] = {}

    def __init__(self, *, actor: User | None, source: str):
        self.actor = actor
        self.reason = f"Imported from {source}"[:100]
        self.header: list[str] = []

    def key(self, row: dict[str, str]) -> tuple[str, Hashable]:
        """(column, key) naming the record a row sets; two rows may not share it."""
        raise NotImplementedError

    def check(self, chunk, report: _Report, *, now, counts: _Counts) -> list:
        """Validate a chunk; report bad rows, return what the good ones would write."""
        raise NotImplementedError

    def write(self, ops: list, *, now, counts: _Counts) -> None:
        raise NotImplementedError

    def before_write(self, *, now) -> None:
        pass


# The export's columns, so an exported file imports again.
GIFT_COLUMNS = GiftResource.Meta.fields
_GIFT_PARSERS = {
    "coin_price": _integer,
    "sort_order": _integer,
    "is_active": _boolean,
    "available_from": _datetime,
    "available_until": _datetime,
    "sponsor_starts_at": _datetime,
    "sponsor_ends_at": _datetime,
}


@dataclass
class _GiftOp:
    gift: Gift
    # Only the difference is written: the audit then records the links that moved.
    regions_added: set[int]
    links_removed: list[int]


class _Gifts(_Kind):
    """Gifts matched on `slug`: a new slug adds a gift, a known one updates it;
    columns left out of the file keep their values."""

    required = ("slug", "name", "coin_price")
    optional = GIFT_COLUMNS[3:]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.region_ids = dict(Region.objects.values_list("code", "id"))
        self.through = Gift.regions.through

    def key(self, row):
        return "slug", row["slug"]

    def _fields(self) -> list[str]:
        """The gift fields the file sets; the others keep their values."""
        return [n for n in GIFT_COLUMNS if n in self.header and n != "regions"]

    def check(self, chunk, report, *, now, counts):
        fields = self._fields()
        existing = {
            gift.slug: gift
            for gift in Gift.objects.filter(slug__in=[row["slug"] for _, row in chunk])
        }
        links_now = defaultdict(dict)  # gift id -> {region id: link id}
        for link_id, gift_id, region_id in self.through.objects.filter(
            gift_id__in=[gift.id for gift in existing.values()]
        ).values_list("id", "gift_id", "region_id"):
            links_now[gift_id][region_id] = link_id
        ops = []
        for line, row in chunk:
            gift = existing.get(row["slug"]) or Gift()
            before = {name: getattr(gift, name) for name in fields}
            errors = {}
            for name in fields:
                try:
                    setattr(gift, name, _GIFT_PARSERS.get(name, str)(row[name]))
                except ValueError as error:
                    errors[name] = [str(error)]
            region_ids = None
            if "regions" in row:
                try:
                    region_ids = self._regions(row["regions"])
                except ValueError as error:
                    errors["regions"] = [str(error)]
            try:
                gift.full_clean(
                    exclude=list(errors),
                    validate_unique=False,
                    validate_constraints=False,
                )
            except ValidationError as error:
                errors = error.update_error_dict(errors)
            if errors:
                report.add_validation(line, ValidationError(errors), {})
                continue
            if gift.pk is None:
                counts.created += 1
                ops.append(_GiftOp(gift, region_ids or set(), []))
                continue
            links = links_now[gift.id]
            added = set() if region_ids is None else region_ids - links.keys()
            removed = (
                []
                if region_ids is None
                else [links[r] for r in links.keys() - region_ids]
            )
            changed = any(getattr(gift, name) != before[name] for name in fields)
            if changed or added or removed:
                counts.updated += 1
                ops.append(_GiftOp(gift, added, removed))
            else:
                counts.skipped += 1
        return ops

    def _regions(self, value: str) -> set[int]:
        # As the admin import reads them: codes split by "|", an unknown one an error.
        codes = {code.strip().upper() for code in value.split("|") if code.strip()}
        unknown = codes - self.region_ids.keys()
        if unknown:
            raise ValueError(f"Unknown region code(s): {', '.join(sorted(unknown))}.")
        return {self.region_ids[code] for code in codes}

    def write(self, ops, *, now, counts):
        new = [op for op in ops if op.gift.pk is None]
        changed = [op for op in ops if op.gift.pk is not None]
        bulk_create_with_history(
            [op.gift for op in new],
            Gift,
            batch_size=CHUNK_ROWS,
            default_user=self.actor,
            default_change_reason=self.reason,
        )
        if changed:
            for op in changed:
                op.gift.updated_at = now
            bulk_update_with_history(
                [op.gift for op in changed],
                Gift,
                [*self._fields(), "updated_at"],
                batch_size=CHUNK_ROWS,
                default_user=self.actor,
                default_change_reason=self.reason,
            )
        self.through.objects.filter(
            id__in=[link for op in changed for link in op.links_removed]
        ).delete()
        self.through.objects.bulk_create(
            [
                self.through(gift_id=op.gift.id, region_id=region_id)
                for op in ops
                for region_id in op.regions_added
            ],
            batch_size=CHUNK_ROWS,
        )


PRICE_COLUMNS = ("sku", "region", "channel", "price", "currency", "effective_at")


class _BundlePrices(_Kind):
    """Hand-set price rows, as the admin's price import adds them: never an edit;
    an empty `effective_at` means now; a row equal to what is there is skipped."""

    required = ("sku", "region", "channel", "price", "currency")
    # `source` is in the export; an import always adds hand-set rows.
    optional = ("effective_at", "source")
    columns = {"bundle": "sku"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bundle_ids = dict(CoinBundle.objects.values_list("sku", "id"))
        self.regions = {region.code: region for region in Region.objects.all()}

    def key(self, row):
        moment = row.get("effective_at", "")
        try:
            moment = _datetime(moment).isoformat() if moment else ""
        except ValueError:
            pass
        cell = (row["sku"], row["region"].upper(), row["channel"], moment)
        return "effective_at" if moment else "channel", cell

    def before_write(self, *, now):
        self.insert = _Insert(
            BundlePrice,
            ("bundle", "region", "channel", "price", "price_currency", "effective_at"),
            source=BundlePrice.Source.MANUAL,
            created_by=self.actor.id if self.actor else None,
            created_at=now,
        )
        services.bundles_lock(bundle_ids=self.bundle_ids.values())

    def check(self, chunk, report, *, now, counts):
        candidates = []
        for line, row in chunk:
            errors = {}
            bundle_id = self._lookup(self.bundle_ids, row["sku"], "sku", errors, "sku")
            region = self._lookup(
                self.regions, row["region"].upper(), "region", errors, "region code"
            )
            price = None
            try:
                price = pricing.price_parse(
                    amount=row["price"], currency=row["currency"], region=region
                )
            except ValidationError as error:
                errors = error.update_error_dict(errors)
            model_errors = self._model_errors(
                row["price"] if price is not None else "",
                price.currency.code if price is not None else "",
                row["channel"],
            )
            for name, messages in model_errors.items():
                errors.setdefault(name, messages)
            moment = None
            if row.get("effective_at"):
                try:
                    moment = self._moment(
                        row["effective_at"], timezone.get_current_timezone_name()
                    )
                except ValueError as error:
                    errors["effective_at"] = [str(error)]
            if errors:
                report.add_validation(line, ValidationError(errors), self.columns)
                continue
            cell = (bundle_id, region.id, row["channel"])
            candidates.append((line, *cell, price, moment))
        return self._skip_or_add(candidates, report, now=now, counts=counts)

    @staticmethod
    @functools.lru_cache(maxsize=1024)
    def _model_errors(amount: str, currency: str, channel: str) -> dict:
        """The model's own checks of a price and channel (more than zero, at most 14
        digits, the currency's decimals, a known channel), by their text: rows
        repeat the same few prices, so this runs once per distinct one."""
        row = BundlePrice(
            channel=channel,
            price=Money(Decimal(amount), currency) if amount else None,
            source=BundlePrice.Source.MANUAL,
        )
        exclude = ["bundle", "region", "created_by", "effective_at"]
        try:
            row.full_clean(
                exclude=exclude if amount else [*exclude, "price"],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as error:
            return error.message_dict
        return {}

    @staticmethod
    @functools.lru_cache(maxsize=1024)
    def _moment(value: str, zone: str) -> datetime.datetime | None:
        # Keyed by the time zone too, as a moment without one is read in it.
        return _datetime(value)

    @staticmethod
    def _lookup(lookup, key, column, errors, label):
        if not key:
            errors[column] = ["Required."]
        elif key not in lookup:
            errors[column] = [f"Unknown {label}: {key}."]
        return lookup.get(key)

    def _skip_or_add(self, candidates, report, *, now, counts):
        """The rows that add a price; those equal to the price there are skipped, as
        in the admin import, even if their moment has passed since the export."""
        if not candidates:
            return []
        bundle_ids = {candidate[1] for candidate in candidates}
        region_ids = {candidate[2] for candidate in candidates}
        moments = {candidate[5] for candidate in candidates if candidate[5]}
        at_moment = {
            (bundle, region, channel, moment): (amount, currency)
            for bundle, region, channel, moment, amount, currency in (
                BundlePrice.objects.filter(
                    bundle_id__in=bundle_ids,
                    region_id__in=region_ids,
                    effective_at__in=moments,
                ).values_list(*_PRICE_VALUES)
                if moments
                else ()
            )
        }
        in_force = {
            (bundle, region, channel): (amount, currency)
            for bundle, region, channel, _, amount, currency in (
                selectors.bundle_prices_in_force(when=now)
                .filter(bundle_id__in=bundle_ids, region_id__in=region_ids)
                .values_list(*_PRICE_VALUES)
            )
        }
        rows = []
        for line, bundle_id, region_id, channel, price, moment in candidates:
            cell = (bundle_id, region_id, channel)
            there = at_moment.get((*cell, moment)) if moment else in_force.get(cell)
            if there == (price.amount, price.currency.code):
                counts.skipped += 1
                continue
            if moment and there is not None:
                report.add(
                    line,
                    "effective_at",
                    f"This cell already has a price of {there[0]} {there[1]} from "
                    "this moment; prices are never edited, choose another moment.",
                )
                continue
            try:
                moment = new_price_moment(moment, now=now)
            except ValidationError as error:
                report.add_validation(line, error, self.columns)
                continue
            counts.created += 1
            rows.append((*cell, price, moment))
        return rows

    def write(self, ops, *, now, counts):
        insert = self.insert
        insert(
            (
                bundle_id,
                region_id,
                channel,
                insert.stored(price.amount, "price"),
                price.currency.code,
                insert.moment(moment),
            )
            for bundle_id, region_id, channel, price, moment in ops
        )


_PRICE_VALUES = (
    "bundle_id",
    "region_id",
    "channel",
    "effective_at",
    "price",
    "price_currency",
)


class _Insert:
    """Plain INSERTs of many rows of `model`, one executemany per chunk.

    The same SQL as `bulk_create`, without its model object per row, which costs
    most of a large import's time (measured: 3x the time, 12x under tracemalloc).
    Rows hold the `varying` fields' values, datetimes and decimals passed through
    `moment` and `decimal` (what those fields do before a save); the other fields
    take `fixed` values or their defaults, prepared once by the field.
    """

    def __init__(self, model, varying: tuple[str, ...], **fixed):
        self.model = model
        self.connection = connections[router.db_for_write(model)]
        self.varying = [model._meta.get_field(name) for name in varying]
        constant = [
            f
            for f in model._meta.concrete_fields
            if f not in self.varying and not f.primary_key
        ]
        self.constants = tuple(
            f.get_db_prep_save(self._fixed(f, fixed), self.connection) for f in constant
        )
        quote = self.connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in [*self.varying, *constant])
        marks = ", ".join(["%s"] * (len(self.varying) + len(constant)))
        self.sql = (
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"
        )
        # Rows of one import share a few moments: adapt each once.
        self.moment = functools.lru_cache(maxsize=1024)(
            self.connection.ops.adapt_datetimefield_value
        )

    def stored(self, value, field_name: str):
        """`value` as its column keeps it: a price in integer minor units."""
        field = self.model._meta.get_field(field_name)
        return field.get_db_prep_save(value, self.connection)

    @staticmethod
    def _fixed(field, fixed: dict):
        if field.name in fixed:
            return fixed[field.name]
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            return timezone.now()
        return field.get_default()

    def __call__(self, rows: Iterable[tuple]) -> None:
        params = [(*row, *self.constants) for row in rows]
        if params:
            with self.connection.cursor() as cursor:
                cursor.executemany(self.sql, params)


def _read(file, kind: _Kind, report: _Report, *, now, write: bool, seen=None):
    counts = _Counts()
    for chunk in _chunks(_records(file, kind, report), CHUNK_ROWS):
        counts.rows += len(chunk)
        if seen is not None:
            for _, row in chunk:
                seen.add(kind.key(row)[1])
        ops = kind.check(chunk, report, now=now, counts=counts)
        if write and not report.total:
            kind.write(ops, now=now, counts=counts)
    return counts


def _duplicates_find(file, kind: _Kind, report: _Report, seen: _SeenKeys) -> None:
    """Read again for the keys the filter may have seen twice; report each repeat."""
    first_line = {}
    # A row already listed as bad is not listed again for its key.
    listed = {bad.line for bad in report.kept}
    for line, row in _records(file, kind, _Report(0)):
        column, key = kind.key(row)
        if key not in seen.maybe:
            continue
        if key in first_line:
            if line not in listed:
                report.add(line, column, f"Repeats line {first_line[key]}.")
        else:
            first_line[key] = line
    if seen.overflow:
        report.add(0, "", "Too many rows to check for repeats: split the file.")


def _import(file: BinaryIO, kind: _Kind, *, dry_run: bool, keep: int) -> ImportResult:
    report = _Report(keep)
    seen = _SeenKeys()
    counts = _Counts()
    try:
        counts = _read(file, kind, report, now=timezone.now(), write=False, seen=seen)
        if seen.maybe or seen.overflow:
            _duplicates_find(file, kind, report, seen)
    except _Stop:
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
        except (_Rollback, _Stop):
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
    Each gift written gets a history row by `actor` with the reason "Imported from
    `source`". A file with bad rows writes nothing; the result lists up to `keep`.
    """
    kind = _Gifts(actor=actor, source=source)
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
    kind = _BundlePrices(actor=actor, source=source)
    return _import(file, kind, dry_run=dry_run, keep=keep)


IMPORTERS = {
    ImportJob.Kind.GIFTS: gifts_import,
    ImportJob.Kind.BUNDLE_PRICES: bundle_prices_import,
}


def import_kinds_allowed(user: User) -> list[str]:
    return [
        kind
        for kind, permissions in IMPORT_PERMISSIONS.items()
        if user.has_perms(permissions)
    ]


@transaction.atomic
def import_job_start(
    *, kind: str, file, actor: User, dry_run: bool = False
) -> ImportJob:
    """Store an uploaded file as a job and queue its import after the commit."""
    if kind not in import_kinds_allowed(actor):
        raise PermissionDenied(f"{actor} may not import {kind.replace('_', ' ')}.")
    job = ImportJob(kind=kind, file=file, dry_run=dry_run, created_by=actor)
    job.full_clean()
    job.save()
    from .tasks import run_import_job

    # robust: a broker hiccup must not lose the upload; the job stays waiting.
    transaction.on_commit(lambda: run_import_job.delay(job.id), robust=True)
    return job


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a waiting job; returns it, or None if another run has claimed it.

    Safe to run twice: a compare-and-set on the status lets one run proceed.
    """
    claimed = ImportJob.objects.filter(
        id=job_id, status=ImportJob.Status.PENDING
    ).update(status=ImportJob.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return None
    job = ImportJob.objects.select_related("created_by").get(id=job_id)
    try:
        with job.file.open("rb") as file:
            result = IMPORTERS[job.kind](
                file=file,
                actor=job.created_by,
                source=f"{job} ({job.file.name.rsplit('/', 1)[-1]})",
                dry_run=job.dry_run,
            )
    except Exception:
        logger.exception("%s failed", job)
        job.status = ImportJob.Status.FAILED
        job.message = "The import failed unexpectedly; nothing was imported."
    else:
        job.status = (
            ImportJob.Status.SUCCEEDED if result.ok else ImportJob.Status.REFUSED
        )
        job.rows, job.errors = result.rows, result.errors
        job.rows_created, job.rows_updated = result.created, result.updated
        job.rows_skipped = result.skipped
        job.message = result.summary(job.file.name.rsplit("/", 1)[-1])
        if not result.ok:
            job.report.save(
                f"import-{job.id}-bad-rows.csv",
                ContentFile(bad_rows_csv(result)),
                save=False,
            )
    job.finished_at = timezone.now()
    job.save()
    logger.info("%s: %s", job, job.message)
    return job
