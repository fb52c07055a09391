"""The month-end books (issue 17): finance's page (a proxy of `Payout`, no table)
with its view and export permissions, and the record of each export."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from accounts.roles import FINANCE, grant, revoke

GRANTS = {FINANCE: {"reports.Books": ("view", "export")}}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0011_gifting_and_reports_move_out"),
        ("reports", "0003_incidents"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Books",
            fields=[],
            options={
                "verbose_name": "books",
                "verbose_name_plural": "books",
                "permissions": [("export_books", "Can export books")],
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("payouts.payout",),
        ),
        migrations.CreateModel(
            name="BooksExport",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("first_day", models.DateField()),
                ("last_day", models.DateField()),
                (
                    "format",
                    models.CharField(
                        choices=[("csv", "CSV"), ("xlsx", "XLSX")], max_length=4
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "actor",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("last_day__gte", models.F("first_day"))),
                        name="reports_booksexport_ends_after_start",
                    )
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
