from django.db import migrations

from accounts.roles import FINANCE, VIEW_ONLY, grant, revoke

GRANTS = {FINANCE: {"audit.AuditRecord": VIEW_ONLY}}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_staff_roles"),
        ("audit", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
