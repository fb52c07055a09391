"""Incidents: opened when a condition starts to hold, closed when it stops, each
notified once either way. The beat task `reports.check_alerts` runs `alerts_check`
every minute, the way Healthchecks' `sendalerts` polls.

Reports change no money; incidents, the record of each export of the books
(`books_export_record`) and the export jobs with their files (`export_request`,
`export_run`) are the only things this app writes.
"""

import datetime
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.errors import ServiceError

from .conditions import CONDITIONS, Holding
from .models import BooksExport, Export, ExportEvent, Incident
from .selectors import BOOKS_MAX_DAYS

logger = logging.getLogger(__name__)

OPENED = "opened"
RESOLVED = "resolved"


def _notify_on_commit(incident_id: int, event: str) -> None:
    from . import tasks

    # Queued once the incident is committed, e-mail first and apart from the
    # webhook, so a webhook that fails cannot lose the e-mail. Robust: a broker
    # or mail failure is logged and never undoes the incident.
    transaction.on_commit(
        lambda: tasks.send_incident_email.delay(incident_id, event), robust=True
    )
    transaction.on_commit(
        lambda: tasks.send_incident_webhook.delay(incident_id, event), robust=True
    )


def incident_open(*, holding: Holding, now: datetime.datetime) -> Incident | None:
    """Open the incident `holding` describes and notify, unless one is open already:
    then only its details are brought up to date. Returns the incident opened."""
    with transaction.atomic():
        updated = Incident.objects.filter(
            kind=holding.kind, key=holding.key, closed_at__isnull=True
        ).update(details=holding.details)
        if updated:
            return None
        try:
            # A savepoint: a check that loses the race for the open incident to
            # another one (the database keeps one open per key) sends nothing.
            with transaction.atomic():
                incident = Incident.objects.create(
                    kind=holding.kind,
                    key=holding.key,
                    summary=holding.summary[:300],
                    details=holding.details,
                    opened_at=now,
                )
        except IntegrityError:
            return None
        _notify_on_commit(incident.pk, OPENED)
    logger.warning("Incident opened: %s", incident)
    return incident


def incident_close(*, incident_id: int, now: datetime.datetime) -> bool:
    """Close an open incident and notify; False if it was closed already."""
    with transaction.atomic():
        # Compare-and-set: of two checks closing it at once, one notifies.
        closed = Incident.objects.filter(pk=incident_id, closed_at__isnull=True).update(
            closed_at=now
        )
        if closed:
            _notify_on_commit(incident_id, RESOLVED)
    return bool(closed)


def alerts_check(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Read every condition; open an incident for each that newly holds and close
    each open incident whose condition no longer holds. Safe to run twice, also
    at once. Returns how many incidents it opened and closed."""
    now = now or timezone.now()
    opened = closed = 0
    for kind, condition in CONDITIONS.items():
        holding = {h.key: h for h in condition(now)}
        for h in holding.values():
            opened += incident_open(holding=h, now=now) is not None
        still_open = Incident.objects.filter(kind=kind, closed_at__isnull=True)
        for incident_id, key in still_open.values_list("id", "key"):
            if key not in holding:
                closed += incident_close(incident_id=incident_id, now=now)
    return {"opened": opened, "closed": closed}


def books_export_record(
    *, actor, first_day: datetime.date, last_day: datetime.date, file_format: str
) -> BooksExport:
    """Put on record that `actor` takes the books of this range away as a file; the
    audit records who (its trigger reads the request's actor)."""
    with transaction.atomic():
        return BooksExport.objects.create(
            actor=actor, first_day=first_day, last_day=last_day, format=file_format
        )


# --- Export jobs: the books or the journal of a range, made by a task -------------

EXPORT_PERMISSION = "reports.export_books"


def export_request(
    *,
    actor,
    what: str,
    first_day: datetime.date,
    last_day: datetime.date,
    file_format: str,
) -> Export:
    """Queue an export and put on record who asked; the task runs once committed.
    Finance only, whoever calls it (the admin checks too): the figures leave here."""
    from . import tasks

    if not actor.has_perm(EXPORT_PERMISSION):
        raise ServiceError(
            "Only finance exports the books.", code="forbidden", status_code=403
        )
    if what not in Export.What.values:
        raise ServiceError(f"No such export: {what!r}.", field="what")
    if file_format not in BooksExport.Format.values:
        raise ServiceError(f"No such format: {file_format!r}.", field="format")
    days = (last_day - first_day).days + 1
    if not 1 <= days <= BOOKS_MAX_DAYS:
        raise ServiceError(
            f"An export covers 1 to {BOOKS_MAX_DAYS} days, not {days}.", field="end"
        )
    with transaction.atomic():
        export = Export.objects.create(
            what=what,
            first_day=first_day,
            last_day=last_day,
            format=file_format,
            requested_by=actor,
        )
        ExportEvent.objects.create(
            export=export, actor=actor, action=ExportEvent.Action.ASKED
        )
        # Robust: a broker that is down leaves it queued, and it can be asked again.
        transaction.on_commit(lambda: tasks.run_export.delay(export.pk), robust=True)
    return export


def export_claim(*, export_id: int, now: datetime.datetime) -> int | None:
    """Compare-and-set: take a queued export, or a running one silent past
    Export.STALE_AFTER; returns this run's attempt number, None if it is not ours."""
    with transaction.atomic():
        claimable = Q(status=Export.Status.QUEUED) | Q(
            status=Export.Status.RUNNING, heartbeat_at__lt=now - Export.STALE_AFTER
        )
        claimed = Export.objects.filter(claimable, pk=export_id).update(
            status=Export.Status.RUNNING,
            attempt=F("attempt") + 1,
            progress=0,
            started_at=now,
            heartbeat_at=now,
        )
        if not claimed:
            return None
        return Export.objects.values_list("attempt", flat=True).get(pk=export_id)


def export_progress(*, export_id: int, attempt: int, progress: int) -> bool:
    """Record progress, only while this attempt still owns the export."""
    with transaction.atomic():
        return bool(
            Export.objects.filter(
                pk=export_id, attempt=attempt, status=Export.Status.RUNNING
            ).update(progress=min(progress, 100), heartbeat_at=timezone.now())
        )


def export_finish(
    *, export_id: int, attempt: int, file_name: str | None, rows: int, error: str = ""
) -> bool:
    """Done with its file, or failed with the reason; only by the owning attempt."""
    with transaction.atomic():
        fields = (
            {"status": Export.Status.DONE, "file": file_name, "progress": 100}
            if file_name
            else {"status": Export.Status.FAILED, "error": error[:300]}
        )
        return bool(
            Export.objects.filter(
                pk=export_id, attempt=attempt, status=Export.Status.RUNNING
            ).update(rows=rows, finished_at=timezone.now(), **fields)
        )


def export_run(*, export_id: int) -> Export | None:
    """Make the export's file, in bounded memory, and store it privately. Safe to
    run twice: a second delivery finds it claimed, or finished, and does nothing."""
    from .export_files import export_write

    attempt = export_claim(export_id=export_id, now=timezone.now())
    if attempt is None:
        return None
    export = Export.objects.get(pk=export_id)
    try:
        file_name, rows = export_write(
            export,
            on_progress=lambda percent: export_progress(
                export_id=export_id, attempt=attempt, progress=percent
            ),
        )
    except Exception as error:
        # On record for finance to read and ask again; a retry would fail alike.
        logger.exception("Export %s failed", export_id)
        export_finish(
            export_id=export_id,
            attempt=attempt,
            file_name=None,
            rows=0,
            error=f"{type(error).__name__}: {error}",
        )
        return Export.objects.get(pk=export_id)
    if not export_finish(
        export_id=export_id, attempt=attempt, file_name=file_name, rows=rows
    ):
        # Taken over meanwhile: the newer attempt writes its own file.
        Export.file.field.storage.delete(file_name)
    return Export.objects.get(pk=export_id)


def exports_expire(*, now: datetime.datetime | None = None) -> int:
    """Delete the files of exports made more than settings.EXPORTS_KEEP_DAYS ago,
    keeping their records (who asked, who downloaded); returns how many expired.

    Each one is marked expired first and its file deleted once that commits, so a
    download never finds a "done" export without its file. Safe to run twice."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=settings.EXPORTS_KEEP_DAYS)
    due = Export.objects.filter(status=Export.Status.DONE, finished_at__lt=cutoff)
    storage = Export.file.field.storage
    expired = 0
    for export_id, file_name in due.values_list("id", "file").iterator():
        with transaction.atomic():
            claimed = Export.objects.filter(
                pk=export_id, status=Export.Status.DONE
            ).update(status=Export.Status.EXPIRED, file="", expired_at=now)
            if claimed:
                transaction.on_commit(lambda name=file_name: storage.delete(name))
        expired += claimed
    if expired:
        logger.info(
            "Expired %s export files older than %s days",
            expired,
            settings.EXPORTS_KEEP_DAYS,
        )
    return expired


def export_download_record(*, export: Export, actor) -> ExportEvent:
    """Put on record that `actor` downloads the export's file (before it is sent)."""
    with transaction.atomic():
        return ExportEvent.objects.create(
            export=export, actor=actor, action=ExportEvent.Action.DOWNLOADED
        )
