from django.db import migrations

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT, VIEW_ONLY, grant, revoke

# A job is the record of an import: added by uploading, never edited or deleted.
# Running one also needs the permissions on the rows it writes (catalog/imports/jobs.py).
GRANTS = {
    CATALOG_EDITORS: {"catalog.ImportJob": ("add", "view")},
    FINANCE: {"catalog.ImportJob": VIEW_ONLY},
    SUPPORT: {"catalog.ImportJob": VIEW_ONLY},
}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0009_import_jobs"),
        ("accounts", "0002_staff_roles"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
