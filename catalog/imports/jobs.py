"""Large imports in the background: an uploaded file stored as a job, run by a
Celery task, its result and bad-row report kept on the job."""

import logging

from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts.models import User

from ..models import ImportJob
from .report import bad_rows_csv
from .run import bundle_prices_import, gifts_import

logger = logging.getLogger(__name__)

# Who may import what: the same permissions as changing those records by hand.
IMPORT_PERMISSIONS = {
    ImportJob.Kind.GIFTS: ("catalog.add_gift", "catalog.change_gift"),
    ImportJob.Kind.BUNDLE_PRICES: ("catalog.add_bundleprice",),
}

IMPORTERS = {
    ImportJob.Kind.GIFTS: gifts_import,
    ImportJob.Kind.BUNDLE_PRICES: bundle_prices_import,
}


def import_kinds_allowed(user: User) -> list[str]:
    return [
        kind
        for kind, permissions in IMPORT_PERMISSIONS.items()
        if user.has_perms(permissions)
    ]


@transaction.atomic
def import_job_start(
    *, kind: str, file, actor: User, dry_run: bool = False
) -> ImportJob:
    """Store an uploaded file as a job and queue its import after the commit."""
    if kind not in import_kinds_allowed(actor):
        raise PermissionDenied(f"{actor} may not import {kind.replace('_', ' ')}.")
    job = ImportJob(kind=kind, file=file, dry_run=dry_run, created_by=actor)
    job.full_clean()
    job.save()
    from ..tasks import run_import_job

    # robust: a broker hiccup must not lose the upload; the job stays waiting.
    transaction.on_commit(lambda: run_import_job.delay(job.id), robust=True)
    return job


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a waiting job; returns it, or None if another run has claimed it.

    Safe to run twice: a compare-and-set on the status lets one run proceed.
    """
    claimed = ImportJob.objects.filter(
        id=job_id, status=ImportJob.Status.PENDING
    ).update(status=ImportJob.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return None
    job = ImportJob.objects.select_related("created_by").get(id=job_id)
    try:
        with job.file.open("rb") as file:
            result = IMPORTERS[job.kind](
                file=file,
                actor=job.created_by,
                source=job.file.name.rsplit("/", 1)[-1],
                dry_run=job.dry_run,
            )
    except Exception:
        logger.exception("%s failed", job)
        job.status = ImportJob.Status.FAILED
        job.message = "The import failed unexpectedly; nothing was imported."
    else:
        job.status = (
            ImportJob.Status.SUCCEEDED if result.ok else ImportJob.Status.REFUSED
        )
        job.rows, job.errors = result.rows, result.errors
        job.rows_created, job.rows_updated = result.created, result.updated
        job.rows_skipped = result.skipped
        job.message = result.summary(job.file.name.rsplit("/", 1)[-1])
        if not result.ok:
            job.report.save(
                f"import-{job.id}-bad-rows.csv",
                ContentFile(bad_rows_csv(result)),
                save=False,
            )
    job.finished_at = timezone.now()
    job.save()
    logger.info("%s: %s", job, job.message)
    return job
