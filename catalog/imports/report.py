"""What an import reports: its counts and its bad rows (line, column, message)."""

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


class Report:
    """The bad rows of one import: all counted, the first `keep` kept."""

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


@dataclass
class Counts:
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
