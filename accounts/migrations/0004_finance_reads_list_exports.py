"""Finance reads the record of the admin lists' exports (`core.ListExport`, issue 17).

Granted here, the roles' home: the kernel's own migrations may import no app.
"""

from django.db import migrations

from accounts.roles import FINANCE, grant, revoke

GRANTS = {FINANCE: {"core.ListExport": ("view",)}}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_public_name"),
        ("core", "0001_list_exports"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
