"""What an import reports: its counts and its bad rows (line, column, value,
message). Lines are numbered as a spreadsheet shows the file: the header is line 1,
the first row line 2; blank lines are not counted (the admin's import drops them)."""

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

BAD_ROWS_KEPT = 1000


@dataclass(frozen=True)
class BadRow:
    line: int
    column: str
    message: str
    value: str = ""


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
    writer.writerow(["line", "column", "value", "message"])
    for bad in result.bad_rows:
        writer.writerow([bad.line or "", bad.column, bad.value, bad.message])
    unlisted = result.errors - len(result.bad_rows)
    if unlisted:
        writer.writerow(["", "", "", f"... and {unlisted} more error(s) not listed."])
    return out.getvalue().encode("utf-8")


def bad_rows_read(data: bytes) -> list[BadRow]:
    """The bad rows a report written by `bad_rows_csv` lists (reports from before
    the value column read too), to show them on the job's page."""
    rows = csv.DictReader(io.StringIO(data.decode("utf-8")))
    return [
        BadRow(
            int(row["line"]) if row["line"] else 0,
            row["column"],
            row["message"],
            row.get("value") or "",
        )
        for row in rows
    ]


class Report:
    """The bad rows of one import: all counted, the first `keep` kept."""

    def __init__(self, keep: int):
        self.keep = keep
        self.kept: list[BadRow] = []
        self.total = 0

    def add(self, line: int, column: str, message: str, value: str = "") -> None:
        self.total += 1
        if len(self.kept) < self.keep:
            self.kept.append(BadRow(line, column, message, value))

    def add_validation(
        self, line: int, error: ValidationError, columns, row: dict | None = None
    ) -> None:
        """`columns` maps model fields to the file's columns; `row` gives values."""
        for name, messages in error.message_dict.items():
            column = "" if name == NON_FIELD_ERRORS else columns.get(name, name)
            value = (row or {}).get(column, "")
            for message in messages:
                self.add(line, column, message, value)


@dataclass
class Counts:
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
