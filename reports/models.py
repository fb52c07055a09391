import datetime

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from payouts.models import Payout


class MoneyDashboard(Payout):
    """An admin entry for finance's money dashboard; it has no rows of its own.

    A proxy of `Payout` (moved from `payouts`, issue 13) so its permission,
    `reports.view_moneydashboard`, is what finance is granted.
    """

    class Meta:
        proxy = True
        verbose_name = "money dashboard"
        verbose_name_plural = "money dashboard"


class Books(Payout):
    """Finance's month-end books (issue 17): a report, no rows of its own.

    A proxy of `Payout`, as the money dashboard is, so its permissions,
    `reports.view_books` and `reports.export_books`, are what finance is granted.
    """

    class Meta:
        proxy = True
        verbose_name = "books"
        verbose_name_plural = "books"
        permissions = [("export_books", "Can export books")]


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError(f"{self.model.__name__} is a record: append-only.")

    def delete(self):
        raise TypeError(f"{self.model.__name__} is a record: append-only.")


class BooksExport(models.Model):
    """One download of the books: who took which range, in which format.

    Written by `reports.services.books_export_record` before the file is sent; the
    audit records each one with its actor (audit/registry.py). Append-only.
    """

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    first_day = models.DateField()
    last_day = models.DateField()
    format = models.CharField(max_length=4, choices=Format.choices)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(last_day__gte=F("first_day")),
                name="reports_booksexport_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"Books {self.first_day} to {self.last_day} ({self.format})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Exports of the books are a record: append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Exports of the books are a record: append-only.")


class PrivateExportStorage(FileSystemStorage):
    """Export files, in EXPORTS_ROOT: outside MEDIA_ROOT, with no URL, so only the
    finance view that checks the permission and records the download sends them."""

    @property
    def base_location(self):
        return settings.EXPORTS_ROOT

    @property
    def location(self):
        return str(settings.EXPORTS_ROOT)

    @property
    def base_url(self):
        return None


def exports_storage() -> PrivateExportStorage:
    return PrivateExportStorage()


class Export(models.Model):
    """A file finance asked for (the books or the general-ledger journal of a range),
    made by the task `reports.run_export`: queued, running, then done or failed.

    The task claims it with a compare-and-set on `status` and `attempt`, so two
    deliveries never both write it; who asked and who downloaded is `ExportEvent`.
    """

    class What(models.TextChoices):
        BOOKS = "books", "Books"
        JOURNAL = "journal", "General-ledger journal"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        # Its file deleted after settings.EXPORTS_KEEP_DAYS (`exports_expire`).
        EXPIRED = "expired", "Expired"

    # A running export silent this long (no progress written) is taken to be dead,
    # and a new delivery of its task may run it again; far above a week's query.
    STALE_AFTER = datetime.timedelta(minutes=15)

    what = models.CharField(max_length=8, choices=What.choices)
    first_day = models.DateField()
    last_day = models.DateField()
    format = models.CharField(max_length=4, choices=BooksExport.Format.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.QUEUED
    )
    # Per cent of the range's days written.
    progress = models.PositiveSmallIntegerField(default=0)
    # Which run owns it: a run whose claim is older writes nothing.
    attempt = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(storage=exports_storage, blank=True, max_length=200)
    rows = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # The running task's last sign of life: a run silent for long may be taken over.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(last_day__gte=F("first_day")),
                name="reports_export_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="reports_export_progress_percent"
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | ~Q(file=""),
                name="reports_export_done_has_file",
            ),
            models.CheckConstraint(
                condition=~Q(status="expired")
                | Q(file="", expired_at__isnull=False, finished_at__isnull=False),
                name="reports_export_expired_has_no_file",
            ),
        ]

    def __str__(self):
        return (
            f"{self.get_what_display()} {self.first_day} to {self.last_day} "
            f"({self.format})"
        )

    @property
    def filename(self) -> str:
        return f"{self.what}-{self.first_day}-to-{self.last_day}.{self.format}"

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    def is_moving(self, now) -> bool:
        """Pending and heard of lately: queued or written progress within
        STALE_AFTER (a running one silent longer may be taken over)."""
        last = self.heartbeat_at or self.created_at
        return self.is_pending and last > now - self.STALE_AFTER


class ExportEvent(models.Model):
    """Who asked for an export and who downloaded it, when. Append-only; the
    audit records each one with its actor too."""

    class Action(models.TextChoices):
        ASKED = "asked", "Asked for"
        DOWNLOADED = "downloaded", "Downloaded"

    export = models.ForeignKey(Export, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.actor} {self.action} {self.export}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("ExportEvent is a record: append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("ExportEvent is a record: append-only.")


class UserLookup(User):
    """Support's page of one user (wallet, limits, purchases, gifts, payouts and
    transfers) and the search that finds it; read-only, no rows of its own.

    A proxy of `User` so its view permission, `reports.view_userlookup`, is what
    the support and finance roles are granted.
    """

    class Meta:
        proxy = True
        verbose_name = "user lookup"
        verbose_name_plural = "user lookup"


class Incident(models.Model):
    """Something operators and finance were told about, from when it was seen until
    it cleared: one row per incident, so an alert is sent when it opens and when it
    closes, not at every check. Written only by `reports.services.alerts_check`.

    The database keeps one open incident per kind and key, so two checks running
    at once cannot both open it (and both notify).
    """

    class Kind(models.TextChoices):
        RECONCILIATION = "reconciliation", "Reconciliation mismatch"
        PAYOUTS_STUCK = "payouts_stuck", "Payouts stuck in processing"
        PAYOUTS_FAILED = "payouts_failed", "Failed payout batch"
        PROVIDER_TIMEOUTS = "provider_timeouts", "Payout provider time-outs"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    # What the incident is about within its kind, e.g. a failed batch's moment.
    key = models.CharField(max_length=64)
    summary = models.CharField(max_length=300)
    details = models.TextField(blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"],
                condition=Q(closed_at__isnull=True),
                name="reports_incident_one_open_per_key",
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | Q(closed_at__gte=F("opened_at")),
                name="reports_incident_closed_after_opened",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.summary}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None
