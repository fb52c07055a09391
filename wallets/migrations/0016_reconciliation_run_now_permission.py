from django.db import migrations

from accounts.roles import FINANCE, grant, revoke

# Finance alone may start a reconciliation from the money dashboard; support reads runs.
GRANTS = {FINANCE: {"wallets.ReconciliationRun": ("run",)}}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):

    dependencies = [
        ("wallets", "0015_fk_indexes_covered_by_composites"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="reconciliationrun",
            options={
                "ordering": ["-started_at"],
                "permissions": [
                    ("run_reconciliationrun", "Can run a reconciliation now")
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
