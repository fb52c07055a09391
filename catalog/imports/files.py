"""Reading a CSV file into numbered rows, a line at a time: what can be read as
text with the header's columns is a row; what cannot is reported."""

import codecs
import csv
import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from core.exports import imported_text

from .report import Report

if TYPE_CHECKING:
    from .rows import Kind

CHUNK_ROWS = 1000
MAX_LINE_BYTES = 1 << 20

NOT_CSV = "This is not a CSV file in UTF-8: save the sheet as “CSV UTF-8”."
NOT_UTF8 = "Not UTF-8 text: save the file as “CSV UTF-8”."


class Stop(Exception):
    """Reading cannot go on (no header, a broken line); the error is reported."""


class _Lines:
    """The file's lines as text, numbered. A line that is not UTF-8 is decoded with
    replacement characters and flagged, so its row is refused, not misread."""

    def __init__(self, file: BinaryIO, report: Report):
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
            raise Stop
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


def records(
    file: BinaryIO, kind: "Kind", report: Report
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
        raise Stop from None
    except csv.Error:
        report.add(1, "", NOT_CSV)
        raise Stop from None
    if lines.undecodable or lines.nul:
        report.add(1, "", NOT_CSV)
        raise Stop
    header = [name.strip().lower() for name in header]
    _header_check(header, kind, report)
    # Rows are numbered as the admin's import numbers them (report.py): a record
    # spanning lines is one line, a blank line is not counted.
    line = 1
    while True:
        lines.undecodable = lines.nul = False
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            report.add(line + 1, "", f"Not readable as CSV: {error}.")
            raise Stop from None
        if not cells:
            continue
        line += 1
        if not "".join(cells).strip():
            continue
        if len(cells) != len(header):
            report.add(
                line,
                "",
                f"This line has {len(cells)} values; the header names "
                f"{len(header)} columns.",
            )
            continue
        # An export quotes text a spreadsheet would run; the quote is taken off.
        cells = [imported_text(cell.strip()) for cell in cells]
        row = dict(zip(header, cells, strict=True))
        if lines.undecodable or lines.nul:
            _unreadable_report(line, row, report, undecodable=lines.undecodable)
        else:
            yield line, row


def _unreadable_report(
    line: int, row: dict[str, str], report: Report, *, undecodable: bool
) -> None:
    before = report.total
    for column, value in row.items():
        if undecodable and "\ufffd" in value:
            report.add(line, column, NOT_UTF8, value)
        elif "\x00" in value:
            report.add(
                line,
                column,
                "Null characters are not allowed.",
                value.replace("\x00", ""),
            )
    if report.total == before:
        report.add(line, "", NOT_UTF8)


def _header_check(header: list[str], kind: "Kind", report: Report) -> None:
    problems = [
        (name, "Missing column.") for name in kind.required if name not in header
    ]
    known = set(kind.required) | set(kind.optional)
    problems += [
        (name or "(empty)", kind.unknown_column(name))
        for name in header
        if name not in known
    ]
    problems += [
        (name, "The column appears twice.")
        for name in sorted({name for name in header if header.count(name) > 1})
    ]
    for column, message in problems:
        report.add(1, column, message)
    if problems:
        raise Stop
    kind.header = header


def chunks(rows: Iterable, size: int) -> Iterator[list]:
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, size)):
        yield chunk
