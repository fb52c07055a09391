from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ListExportQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Exports of lists are a record: append-only.")

    def delete(self):
        raise TypeError("Exports of lists are a record: append-only.")


class ListExport(models.Model):
    """One download of an admin list (payouts, purchases, gift sends, transfers):
    who took which list, filtered how, how many rows, in which format.

    Written by `core.services.list_export_record` before the file is sent; the audit
    records each one with its actor (audit/registry.py). Append-only.
    """

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The list's model, e.g. "payouts.Payout".
    list_label = models.CharField(max_length=100)
    # The list's filters, search and date hierarchy as its address had them.
    query = models.TextField(blank=True)
    rows = models.PositiveBigIntegerField()
    format = models.CharField(max_length=4, choices=Format.choices)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ListExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(format__in=["csv", "xlsx"]),
                name="core_listexport_format_known",
            ),
        ]

    def __str__(self):
        return f"{self.list_label}: {self.rows} row(s) as {self.format}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Exports of lists are a record: append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Exports of lists are a record: append-only.")
