"""Lists as files: CSV streamed and XLSX written row by row, with exact figures.

Integers stay integers, `Decimal` keeps its decimals (never a float), moments are
UTC, and no text cell can be run by a spreadsheet as a formula. Rows are read in
chunks by primary key, so memory stays bounded whatever the list's length, also
behind a pooler that allows no server-side cursor.
"""

import csv
import datetime
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK_SIZE = 2000
# What a spreadsheet may take as the start of a formula (OWASP's CSV injection list),
# also in their full-width and small forms, which a spreadsheet with an East Asian
# input method reads as the ASCII ones.
FORMULA_SIGNS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
FORMULA_SIGNS += ("\ufe66", "\ufe62", "\ufe63", "\ufe6b")
FORMULA_STARTS = (*FORMULA_SIGNS, "\t", "\r", "\n")


def spreadsheet_safe(value):
    """`value` as a spreadsheet shows it and never runs: text that a spreadsheet
    would read as a formula, also after leading spaces (a spreadsheet skips them,
    non-breaking ones too), gets a leading apostrophe; numbers are left alone."""
    if isinstance(value, str) and (
        value.startswith(FORMULA_STARTS) or value.lstrip().startswith(FORMULA_SIGNS)
    ):
        return "'" + value
    return value


def xlsx_text(value):
    """`value` as an XLSX cell can hold it: without the control characters the
    format refuses (openpyxl raises on them; a buyer can type them into a refund
    reason or a gift comment), then `spreadsheet_safe` (a control character removed
    may uncover a formula). Anything but text is left alone."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return spreadsheet_safe(value)


def _formula_like(value: str) -> bool:
    return spreadsheet_safe(value) != value


def importable_text(value):
    """`value` as `xlsx_text` makes it safe, in a form `imported_text` reads back
    exactly: text that is already quoted before a formula sign (`'=x`) gets one
    more apostrophe, so the quote added on export is the only one taken off."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if _formula_like(value.lstrip("'")):
            return "'" + value
    return value


def imported_text(value):
    """The text an `importable_text` cell was: its added apostrophe taken off.
    A cell that does not start with one before a formula is left as it is."""
    if (
        isinstance(value, str)
        and value.startswith("'")
        and _formula_like(value.lstrip("'"))
    ):
        return value[1:]
    return value


@dataclass(frozen=True)
class Column:
    """One column of an export: its header and what it reads from a row, a dotted
    path (None when a link on the way is empty) or a function of the row."""

    header: str
    read: str | Callable[[Any], Any]
    convert: Callable[[Any], Any] | None = None

    def value(self, row):
        if callable(self.read):
            value = self.read(row)
        else:
            value = row
            for name in self.read.split("."):
                value = getattr(value, name)
                if value is None:
                    break
        if value is not None and self.convert is not None:
            value = self.convert(value)
        return value


def rows_in_chunks(queryset, *, chunk_size: int = CHUNK_SIZE) -> Iterator:
    """Every row of `queryset` in primary-key order, `chunk_size` rows a query."""
    ordered = queryset.order_by("pk")
    last = None
    while True:
        chunk = ordered if last is None else ordered.filter(pk__gt=last)
        rows = list(chunk[:chunk_size])
        yield from rows
        if len(rows) < chunk_size:
            return
        last = rows[-1].pk


def _utc(moment: datetime.datetime) -> datetime.datetime:
    """To the second, floored (a spreadsheet keeps milliseconds at most): a moment
    never moves to the next second, or day."""
    return moment.astimezone(datetime.UTC).replace(tzinfo=None, microsecond=0)


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return _utc(value).isoformat(sep=" ")
    if isinstance(value, float):
        raise TypeError("Exports take no float: use int or Decimal.")
    return spreadsheet_safe(value)


class _Echo:
    """csv.writer's file: hands back each line instead of keeping it."""

    def write(self, line: str) -> str:
        return line


def csv_lines(columns: Iterable[Column], rows: Iterable) -> Iterator[bytes]:
    """The header and then one encoded line a row, for a streaming response."""
    columns = tuple(columns)
    writer = csv.writer(_Echo())
    yield writer.writerow([column.header for column in columns]).encode()
    for row in rows:
        line = [_csv_cell(column.value(row)) for column in columns]
        yield writer.writerow(line).encode()


def _xlsx_cell(sheet, value):
    if isinstance(value, float):
        raise TypeError("Exports take no float: use int or Decimal.")
    if isinstance(value, datetime.datetime):
        cell = WriteOnlyCell(sheet, value=_utc(value))
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if isinstance(value, Decimal):
        cell = WriteOnlyCell(sheet, value=value)
        places = max(-value.as_tuple().exponent, 0)
        cell.number_format = "0." + "0" * places if places else "0"
        return cell
    # openpyxl would store text starting with "=" as a formula.
    return WriteOnlyCell(sheet, value=xlsx_text(value))


def xlsx_file(columns: Iterable[Column], rows: Iterable, *, title: str):
    """The rows as a one-sheet workbook in a temporary file (openpyxl's write-only
    mode: rows go to disk as they come), rewound for reading."""
    columns = tuple(columns)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.freeze_panes = "A2"
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=column.header)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append([_xlsx_cell(sheet, column.value(row)) for column in columns])
    out = tempfile.TemporaryFile()
    workbook.save(out)
    out.seek(0)
    return out
