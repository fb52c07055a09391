"""Export jobs (issue 17): finance asks for the journal (or books longer than a
month) on the Books page, the task makes the file (eager Celery here) with its
progress, the page offers the download, and every ask and download is on record;
the task is safe to run twice, a dead run is taken over, and nobody but finance
asks for or downloads a file, which is never served from MEDIA."""

import csv
import datetime
import io
import os
import threading
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from openpyxl import load_workbook

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from audit.models import AuditRecord
from core.errors import ServiceError
from reports import services, tasks
from reports.journal import JOURNAL_COLUMNS
from reports.models import BooksExport, Export, ExportEvent
from wallets.tests.factories import staff_create

from .test_books import scene, today

pytestmark = pytest.mark.django_db
URL = "/admin/reports/books/"
EXPORT = "/admin/reports/books/export/"
DAY = datetime.timedelta(days=1)


def _download_url(export) -> str:
    return f"/admin/reports/books/exports/{export.pk}/download/"


def _ask(client, *, what="journal", file_format="csv", start=None, end=None):
    day = today()
    return client.post(
        EXPORT,
        {
            "what": what,
            "format": file_format,
            "start": (start or day).isoformat(),
            "end": (end or day).isoformat(),
        },
    )


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def finance(client):
    user = staff_create(FINANCE)
    client.force_login(user)
    return user


def test_a_journal_export_runs_and_downloads_with_its_record(
    client, finance, eager_celery, django_capture_on_commit_callbacks
):
    scene()
    with django_capture_on_commit_callbacks(execute=True):
        asked = _ask(client)

    export = Export.objects.get()
    assert asked.status_code == 302 and asked["Location"].endswith("#exports")
    assert (export.status, export.progress, export.rows) == ("done", 100, 20)
    assert export.started_at and export.finished_at and export.attempt == 1
    # Kept apart from MEDIA_ROOT, with no address of its own.
    path = export.file.path
    assert path.startswith(str(settings.EXPORTS_ROOT))
    assert not path.startswith(str(settings.MEDIA_ROOT))
    with pytest.raises(ValueError):
        export.file.url  # noqa: B018

    page = client.get(URL, {"start": today(), "end": today()})
    html = page.content.decode()
    assert 'id="exports"' in html and "General-ledger journal · CSV" in html
    assert _download_url(export) in html and "exports-pending" not in html

    response = client.post(_download_url(export))
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="journal-{today()}-to-{today()}.csv"'
    )
    rows = list(csv.reader(io.StringIO(_body(response).decode())))
    assert tuple(rows[0]) == JOURNAL_COLUMNS
    reference = f"giftshop:{today()}:payout:2210-2290"
    paid = [row for row in rows if row[1] == reference]
    assert [row[2:7] for row in paid] == [
        ["2210", "Diamonds held for payouts", "diamonds", "20000.0000", ""],
        ["2290", "Diamonds paid out", "diamonds", "", "20000.0000"],
    ]
    debits = sum(Decimal(row[5]) for row in rows[1:] if row[5])
    credits = sum(Decimal(row[6]) for row in rows[1:] if row[6])
    assert debits == credits

    events = list(ExportEvent.objects.order_by("id").values_list("action", "actor"))
    assert events == [("asked", finance.pk), ("downloaded", finance.pk)]
    audited = AuditRecord.objects.filter(model="reports.ExportEvent")
    assert audited.count() == 2
    assert set(audited.values_list("actor_id", flat=True)) == {finance.pk}


def test_the_journal_xlsx_reads_back_with_exact_figures(
    client, finance, eager_celery, django_capture_on_commit_callbacks
):
    scene()
    with django_capture_on_commit_callbacks(execute=True):
        _ask(client, file_format="xlsx")
    export = Export.objects.get()

    response = client.post(_download_url(export))

    sheet = load_workbook(io.BytesIO(_body(response)))["Journal"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == JOURNAL_COLUMNS and len(rows) == 21
    lines = {(row[1].split(":")[2], row[2]): row for row in rows[1:]}
    assert lines["purchase", "1100"][5] == 800 and lines["purchase", "2100"][6] == 800
    earned = lines["gift_earning", "2200"]
    assert Decimal(str(earned[6])) == Decimal("60030") and earned[5] is None
    cell = next(c for c in sheet["G"] if c.value == earned[6])
    assert cell.number_format == "0.0000"


def test_books_longer_than_a_month_are_a_job_and_a_month_downloads_at_once(
    client, finance, eager_celery, django_capture_on_commit_callbacks
):
    end = today()
    month = client.post(
        EXPORT,
        {"what": "books", "format": "csv", "start": end - 30 * DAY, "end": end},
    )
    assert month.status_code == 200 and month["Content-Type"].startswith("text/csv")
    assert BooksExport.objects.count() == 1 and not Export.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        _ask(client, what="books", file_format="xlsx", start=end - 31 * DAY, end=end)
    export = Export.objects.get()
    assert (export.what, export.status, export.format) == ("books", "done", "xlsx")
    sheet = load_workbook(io.BytesIO(_body(client.post(_download_url(export))))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1] == (
        "Range",
        "First day (UTC)",
        None,
        None,
        "date",
        str(end - 31 * DAY),
    )


def test_progress_is_written_as_the_days_are(monkeypatch, finance):
    export = Export.objects.create(
        what="journal",
        first_day=today() - 9 * DAY,
        last_day=today(),
        format="csv",
        requested_by=finance,
    )
    seen: list[int] = []
    recorded = services.export_progress

    def progress(**kwargs):
        seen.append(kwargs["progress"])
        assert Export.objects.get(pk=export.pk).status == "running"
        return recorded(**kwargs)

    monkeypatch.setattr(services, "export_progress", progress)

    services.export_run(export_id=export.pk)

    assert seen == [70, 100]
    export.refresh_from_db()
    assert (export.status, export.progress, export.rows) == ("done", 100, 0)


def test_the_task_run_twice_writes_one_file(finance):
    export = Export.objects.create(
        what="journal",
        first_day=today(),
        last_day=today(),
        format="csv",
        requested_by=finance,
    )

    assert tasks.run_export(export.pk) == "done"
    first = Export.objects.get(pk=export.pk)
    assert tasks.run_export(export.pk) is None

    again = Export.objects.get(pk=export.pk)
    assert (again.file.name, again.attempt, again.finished_at) == (
        first.file.name,
        1,
        first.finished_at,
    )


def test_a_dead_run_is_taken_over_and_its_late_finish_writes_nothing(finance):
    export = Export.objects.create(
        what="journal",
        first_day=today(),
        last_day=today(),
        format="csv",
        requested_by=finance,
    )
    now = timezone.now()
    dead = services.export_claim(export_id=export.pk, now=now - 2 * Export.STALE_AFTER)
    # Alive a moment ago: nobody may take it.
    assert (
        services.export_claim(export_id=export.pk, now=now - Export.STALE_AFTER) is None
    )

    assert tasks.run_export(export.pk) == "done"

    assert not services.export_progress(export_id=export.pk, attempt=dead, progress=5)
    assert not services.export_finish(
        export_id=export.pk, attempt=dead, file_name=None, rows=0, error="late"
    )
    export.refresh_from_db()
    assert (export.status, export.attempt, export.error) == ("done", 2, "")


def test_a_failed_export_says_why_and_offers_no_download(client, finance, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("reports.selectors.books_for", broken)
    export = Export.objects.create(
        what="books",
        first_day=today() - 40 * DAY,
        last_day=today(),
        format="csv",
        requested_by=finance,
    )

    tasks.run_export(export.pk)
    monkeypatch.undo()

    export.refresh_from_db()
    assert export.status == "failed" and "the database went away" in export.error
    assert not export.file
    page = client.get(URL).content.decode()
    assert "Failed: RuntimeError: the database went away" in page
    refused = client.post(_download_url(export))
    assert refused.status_code == 302
    assert not ExportEvent.objects.filter(action="downloaded").exists()


@pytest.mark.parametrize("role", [SUPPORT, CATALOG_EDITORS])
def test_only_finance_asks_for_and_downloads_exports(client, role, eager_celery):
    owner = staff_create(FINANCE)
    export = Export.objects.create(
        what="journal",
        first_day=today(),
        last_day=today(),
        format="csv",
        requested_by=owner,
    )
    tasks.run_export(export.pk)
    client.force_login(staff_create(role))

    assert _ask(client).status_code == 403
    assert client.post(_download_url(export)).status_code == 403
    assert client.get(URL).status_code == 403
    assert Export.objects.count() == 1
    assert not ExportEvent.objects.exists()


def test_another_finance_person_downloads_and_is_on_record(client, finance):
    owner = staff_create(FINANCE)
    export = Export.objects.create(
        what="journal",
        first_day=today(),
        last_day=today(),
        format="csv",
        requested_by=owner,
    )
    tasks.run_export(export.pk)

    assert client.get(_download_url(export)).status_code == 405
    assert client.post(_download_url(export)).status_code == 200
    assert (
        client.post(
            f"/admin/reports/books/exports/{export.pk + 1}/download/"
        ).status_code
        == 404
    )

    assert list(ExportEvent.objects.values_list("actor", "action")) == [
        (finance.pk, "downloaded")
    ]


def test_a_bad_kind_of_export_writes_nothing(client, finance):
    response = _ask(client, what="ledger")
    assert response.status_code == 302
    assert not Export.objects.exists() and not BooksExport.objects.exists()


def test_the_record_of_exports_is_append_only(finance):
    export = Export.objects.create(
        what="journal",
        first_day=today(),
        last_day=today(),
        format="csv",
        requested_by=finance,
    )
    event = ExportEvent.objects.create(export=export, actor=finance, action="asked")
    with pytest.raises(TypeError):
        ExportEvent.objects.all().delete()
    with pytest.raises(TypeError):
        ExportEvent.objects.update(action="downloaded")
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL's concurrent writers"
)
def test_deliveries_running_at_once_make_one_file():
    export = Export.objects.create(
        what="journal",
        first_day=today() - 20 * DAY,
        last_day=today(),
        format="csv",
        requested_by=staff_create(FINANCE),
    )
    workers = 4
    barrier = threading.Barrier(workers)
    outcomes, errors = [], []

    def deliver():
        try:
            barrier.wait()
            outcomes.append(tasks.run_export(export.pk))
        except Exception as error:  # reported below, from the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert (outcomes.count("done"), outcomes.count(None)) == (1, workers - 1)
    export.refresh_from_db()
    assert (export.status, export.attempt) == ("done", 1)
    assert [path.name for path in settings.EXPORTS_ROOT.iterdir()] == [export.file.name]


def test_the_page_reloads_while_an_export_moves_and_not_after_a_worker_died(
    client, finance
):
    def job(**fields):
        return Export.objects.create(
            what="journal",
            first_day=today(),
            last_day=today(),
            format="csv",
            requested_by=finance,
            **fields,
        )

    long_ago = timezone.now() - 2 * Export.STALE_AFTER
    job(created_at=long_ago)
    job(status="running", created_at=long_ago, heartbeat_at=long_ago, progress=30)
    assert "exports-pending" not in client.get(URL).content.decode()

    job(status="running", created_at=long_ago, heartbeat_at=timezone.now())
    page = client.get(URL).content.decode()
    assert "exports-pending" in page and "window.location.reload" in page


def test_the_service_refuses_non_finance_and_bad_input_and_writes_nothing():
    support = staff_create(SUPPORT)
    finance = staff_create(FINANCE)
    day = today()
    cases = [
        (support, "journal", "csv", day, day, None),
        (finance, "ledger", "csv", day, day, "what"),
        (finance, "journal", "pdf", day, day, "format"),
        (finance, "journal", "csv", day - 366 * DAY, day, "end"),
    ]
    for actor, what, file_format, first, last, field in cases:
        with pytest.raises(ServiceError) as refused:
            services.export_request(
                actor=actor,
                what=what,
                first_day=first,
                last_day=last,
                file_format=file_format,
            )
        assert refused.value.field == field
    assert not Export.objects.exists() and not ExportEvent.objects.exists()


def test_a_file_gone_from_the_directory_is_said_and_not_recorded(client, finance):
    export = Export.objects.create(
        what="journal",
        first_day=today(),
        last_day=today(),
        format="csv",
        requested_by=finance,
    )
    tasks.run_export(export.pk)
    export.refresh_from_db()
    export.file.storage.delete(export.file.name)

    response = client.post(_download_url(export), follow=True)

    assert "is gone from the exports directory" in response.content.decode()
    assert not ExportEvent.objects.exists()


def _made(finance, *, days_ago: float) -> Export:
    export = Export.objects.create(
        what="journal",
        first_day=today(),
        last_day=today(),
        format="csv",
        requested_by=finance,
    )
    tasks.run_export(export.pk)
    Export.objects.filter(pk=export.pk).update(
        finished_at=timezone.now() - datetime.timedelta(days=days_ago)
    )
    export.refresh_from_db()
    assert export.status == "done" and export.file.storage.exists(export.file.name)
    return export


def test_files_past_their_keeping_time_are_deleted_and_their_records_stay(
    client, finance, settings, django_capture_on_commit_callbacks
):
    settings.EXPORTS_KEEP_DAYS = 30
    old, young = _made(finance, days_ago=30.01), _made(finance, days_ago=29.9)
    failed = Export.objects.create(
        what="journal",
        first_day=today(),
        last_day=today(),
        format="csv",
        requested_by=finance,
        status="failed",
        finished_at=timezone.now() - 60 * DAY,
    )
    old_name = old.file.name

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.expire_exports() == 1

    old.refresh_from_db()
    assert (old.status, old.file.name, old.rows) == ("expired", "", young.rows)
    assert old.expired_at is not None
    assert not old.file.storage.exists(old_name)
    young.refresh_from_db()
    assert young.status == "done" and young.file.storage.exists(young.file.name)
    failed.refresh_from_db()
    assert failed.status == "failed"
    # A second run finds nothing more to do.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.exports_expire() == 0

    # The page says so, and a download is refused with why, on record as nothing.
    page = client.get(URL, {"start": today(), "end": today()}).content.decode()
    assert f"Expired: file deleted {old.expired_at:%Y-%m-%d}" in page
    assert _download_url(old) not in page and _download_url(young) in page
    response = client.post(_download_url(old), follow=True)
    assert "deleted" in response.content.decode()
    assert "30 days after it was made: ask for it again" in response.content.decode()
    assert not ExportEvent.objects.filter(action="downloaded").exists()


def test_an_expired_export_never_claims_a_file(finance):
    export = _made(finance, days_ago=40)

    with pytest.raises(IntegrityError), transaction.atomic():
        Export.objects.filter(pk=export.pk).update(status="expired", expired_at=None)


def test_expiry_runs_nightly_by_beat():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="reports.expire_exports")
    assert task.enabled and (task.crontab.hour, task.crontab.minute) == ("3", "40")


@pytest.mark.parametrize("raw", ["0", "-1", "a month"])
def test_a_bad_keeping_time_stops_the_settings_with_one_line(raw):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **os.environ,
            "EXPORTS_KEEP_DAYS": raw,
            "DJANGO_SETTINGS_MODULE": "config.settings",
        },
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )

    assert done.returncode != 0
    assert "EXPORTS_KEEP_DAYS must be" in done.stderr
