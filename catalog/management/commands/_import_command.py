from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog import imports


class ImportCommand(BaseCommand):
    """Import one CSV file; on bad rows exit non-zero with one line on stderr and
    the bad-row report written as CSV beside the file (or to --report)."""

    importer = None

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="CSV file, UTF-8.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Only check the file; write nothing."
        )
        parser.add_argument(
            "--report",
            type=Path,
            help="Where to write the bad rows (default: FILE.bad-rows.csv beside it).",
        )

    def handle(self, *args, file: Path, dry_run: bool, report: Path | None, **options):
        try:
            with file.open("rb") as stream:
                result = self.importer(
                    file=stream, actor=None, source=file.name, dry_run=dry_run
                )
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from None
        if result.ok:
            self.stdout.write(result.summary(file.name))
            return
        report = report or file.with_name(f"{file.stem}.bad-rows.csv")
        report.write_bytes(imports.bad_rows_csv(result))
        raise CommandError(f"{result.summary(file.name)} Bad rows: {report}")
