from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditRecordQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Audit records are append-only.")

    def delete(self):
        raise TypeError("Audit records are append-only.")


class AuditRecord(models.Model):
    """One insert, update or delete of an audited row, written by a database trigger.

    Append-only: triggers refuse any update or delete of these rows in the database
    (`manage.py flush`, which empties everything, is the one exception).
    """

    class Operation(models.TextChoices):
        INSERT = "insert", "Created"
        UPDATE = "update", "Changed"
        DELETE = "delete", "Deleted"

    at = models.DateTimeField(
        default=timezone.now, help_text="Database clock when the change was made."
    )
    model = models.CharField(max_length=100, help_text="e.g. catalog.Gift")
    object_id = models.CharField(max_length=64, help_text="The row's primary key.")
    operation = models.CharField(max_length=6, choices=Operation.choices)
    before = models.JSONField(null=True, blank=True, help_text="The whole row before.")
    after = models.JSONField(null=True, blank=True, help_text="The whole row after.")
    changed_fields = models.JSONField(
        default=list, blank=True, help_text="Columns whose value changed."
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The signed-in or token user who made the change, if any.",
    )
    actor_label = models.CharField(
        max_length=200,
        blank=True,
        help_text="How: the request (method and path), command:NAME or task:NAME.",
    )

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["model", "object_id"], name="audit_record_row"),
            models.Index(fields=["at"], name="audit_record_at"),
        ]

    def __str__(self):
        return f"{self.model} #{self.object_id}: {self.operation}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Audit records are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit records are append-only.")
