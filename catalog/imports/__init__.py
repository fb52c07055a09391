"""Streaming CSV imports of gifts and bundle prices, for files too big for the
admin's import-export preview (which holds every row and its diff in memory).

A file is read twice, a chunk of rows at a time. The first read validates every row
with the models' own rules and collects the bad ones (line, column, message); only
a file without one is read again and written in bulk, in one transaction. Memory
stays flat whatever the size: no list of rows, foreign keys looked up in small dicts
loaded once, duplicates found with a fixed-size filter. docs/imports.md has more.

The jobs, one module each: `files` reads a file into rows, `rules` holds the cell
rules the admin's import (`catalog.resources`) shares, `rows` validates rows,
`repeats` finds rows that set the same record, `writes` applies rows to the
database, `report` collects bad rows and the result, `run` drives the two reads,
`jobs` runs an uploaded file in the background and `quick` reads the admin's
import-export result the same way (lines, bad rows, changes old -> new).
"""

from .jobs import (
    IMPORT_PERMISSIONS,
    import_job_run,
    import_job_start,
    import_kinds_allowed,
)
from .report import BAD_ROWS_KEPT, BadRow, ImportResult, bad_rows_csv, bad_rows_read
from .run import bundle_prices_import, gifts_import

__all__ = [
    "BAD_ROWS_KEPT",
    "IMPORT_PERMISSIONS",
    "BadRow",
    "ImportResult",
    "bad_rows_csv",
    "bad_rows_read",
    "bundle_prices_import",
    "gifts_import",
    "import_job_run",
    "import_job_start",
    "import_kinds_allowed",
]
