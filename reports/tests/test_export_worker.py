"""An export job through a real Celery worker on the broker: finance's ask is
queued when it commits, the worker writes the file where the web reads it, and a
second delivery of the same task (as after a lost acknowledgement) changes nothing."""

from django.conf import settings
from django.db import connection

from accounts.roles import FINANCE
from payouts.tests import test_worker_faults
from payouts.tests.test_worker_faults import kill, wait_for
from reports import services, tasks
from reports.models import Export
from wallets.tests.factories import staff_create

from .test_alerts_worker import start_worker
from .test_books import scene, today

pytestmark = test_worker_faults.pytestmark


def test_a_worker_makes_the_journal_and_a_second_delivery_changes_nothing():
    tasks.run_export.app.control.purge()
    scene()
    finance = staff_create(FINANCE)
    database = connection.settings_dict
    worker = start_worker(
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:"
        f"{database['PORT']}/{database['NAME']}",
        DJANGO_EXPORTS_ROOT=str(settings.EXPORTS_ROOT),
    )
    try:
        export = services.export_request(
            actor=finance,
            what="journal",
            first_day=today(),
            last_day=today(),
            file_format="xlsx",
        )

        def done():
            export.refresh_from_db()
            return export.status == "done"

        assert wait_for(done, 60), (export.status, export.error)
        made = (export.file.name, export.attempt, export.finished_at)
        tasks.run_export.delay(export.pk)
        tasks.run_export.delay(export.pk)
        # One worker process takes tasks in order: once a later export is done,
        # both deliveries above have run.
        later = services.export_request(
            actor=finance,
            what="books",
            first_day=today(),
            last_day=today(),
            file_format="csv",
        )
        assert wait_for(lambda: Export.objects.get(pk=later.pk).status == "done", 60)
    finally:
        kill(worker)

    export.refresh_from_db()
    assert (export.file.name, export.attempt, export.finished_at) == made
    assert export.rows == 20 and export.progress == 100
    later.refresh_from_db()
    files = sorted(path.name for path in settings.EXPORTS_ROOT.iterdir())
    assert files == sorted([export.file.name, later.file.name])
