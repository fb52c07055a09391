"""An export job's file, written to a temporary file and then to private storage:
memory holds a few days' journal entries at a time, never the range's transfers.

The journal's CSV is the import format; its XLSX is the same rows, written with
openpyxl's write-only mode (rows go to disk as they come).
"""

import csv
import io
import tempfile
from collections.abc import Callable
from decimal import Decimal

from django.core.files import File
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from . import exports, selectors
from .journal import JOURNAL_COLUMNS, journal_days, journal_entries
from .models import BooksExport, Export


def export_write(export: Export, *, on_progress: Callable[[int], object]):
    """Write `export`'s file to storage; returns (stored name, rows written)."""
    with tempfile.TemporaryFile() as out:
        if export.what == Export.What.JOURNAL:
            rows = _journal_write(export, out, on_progress)
        else:
            books = selectors.books_for(start=export.first_day, end=export.last_day)
            content = (
                exports.books_xlsx(books)
                if export.format == BooksExport.Format.XLSX
                else exports.books_csv(books)
            )
            out.write(content)
            rows = len(exports.books_rows(books))
        out.seek(0)
        name = f"{export.pk}-{export.attempt}-{export.filename}"
        return Export.file.field.storage.save(name, File(out)), rows


def _journal_write(export: Export, out, on_progress) -> int:
    total = journal_days(export.first_day, export.last_day)
    entries = journal_entries(
        start=export.first_day,
        end=export.last_day,
        on_days_done=lambda days: on_progress(days * 100 // total),
    )
    lines = (line for entry in entries for line in entry.lines())
    if export.format == BooksExport.Format.XLSX:
        return _xlsx_write(out, lines)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(JOURNAL_COLUMNS)
    rows = 0
    for line in lines:
        writer.writerow(line)
        rows += 1
    text.flush()
    text.detach()
    return rows


def _xlsx_write(out, lines) -> int:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Journal")
    for letter, width in zip("ABCDEFGH", (11, 44, 8, 40, 9, 14, 14, 34), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    sheet.append(JOURNAL_COLUMNS)
    rows = 0
    for line in lines:
        sheet.append([_cell(sheet, value) for value in line])
        rows += 1
    workbook.save(out)
    return rows


def _cell(sheet, value):
    if isinstance(value, Decimal):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "0.0000"
        return cell
    return value
