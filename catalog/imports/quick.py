"""The admin's quick import (django-import-export) read as the streaming import
reports: bad rows by line, column, value and message, and each row's changes as
old -> new per column, with the lines numbered the same way (report.py)."""

from dataclasses import dataclass

from django.core.exceptions import NON_FIELD_ERRORS
from import_export.resources import Diff
from import_export.results import Result, RowResult

from .report import BadRow

# import-export numbers data rows from 1; the header is line 1 of the sheet.
FIRST_ROW_LINE = 2

EMPTY = "empty"


@dataclass(frozen=True)
class FieldChange:
    column: str
    old: str
    new: str

    def __str__(self):
        return f"{self.column}: {self.old or EMPTY} -> {self.new or EMPTY}"


@dataclass(frozen=True)
class RowChanges:
    line: int
    action: str
    record: str
    changes: list[FieldChange]


class ChangesDiff(Diff):
    """A row's diff as the columns that change, each old -> new, not the
    character diff import-export draws (a 5 struck through run into a 6)."""

    def __init__(self, resource, instance, new):
        super().__init__(resource, instance, new)
        self.columns = [field.column_name for field in resource.get_import_fields()]

    def as_html(self):
        changes = []
        for column, old, new in zip(self.columns, self.left, self.right, strict=False):
            old = "" if self.new else str(old or "")
            new = str(new or "")
            if old != new:
                changes.append(FieldChange(column, old, new))
        return changes


ACTIONS = {
    RowResult.IMPORT_TYPE_NEW: "New",
    RowResult.IMPORT_TYPE_UPDATE: "Change",
    RowResult.IMPORT_TYPE_SKIP: "Unchanged",
    RowResult.IMPORT_TYPE_DELETE: "Delete",
}


def row_changes(result: Result) -> list[RowChanges]:
    """Every row of a preview with its line and changed columns; the rows are all
    in `result.rows` in file order, as the resources report skipped rows too."""
    return [
        RowChanges(
            line=line,
            action=ACTIONS.get(row.import_type, row.import_type),
            record=row.object_repr or "",
            changes=list(row.diff or []),
        )
        for line, row in enumerate(result.rows, FIRST_ROW_LINE)
        if row.import_type in ACTIONS
    ]


def bad_rows(result: Result, columns: dict[str, str]) -> list[BadRow]:
    """The result's errors, one per message, in line order. `columns` maps a
    resource's attributes to the file's columns (a bundle error is the sku's)."""
    bad = [BadRow(1, "", str(error.error)) for error in result.base_errors]
    for row in result.invalid_rows:
        line = row.number + FIRST_ROW_LINE - 1
        values = dict(zip(result.diff_headers, row.values, strict=False))
        for name, messages in row.error_dict.items():
            column = "" if name == NON_FIELD_ERRORS else columns.get(name, name)
            value = values.get(column, "")
            for message in messages:
                bad.append(BadRow(line, column, message, _text(value)))
    for row in result.error_rows:
        line = row.number + FIRST_ROW_LINE - 1
        for error in row.errors:
            bad.append(BadRow(line, "", str(error.error)))
    return sorted(bad, key=lambda bad_row: bad_row.line)


def _text(value) -> str:
    return "" if value is None or value == "---" else str(value)
