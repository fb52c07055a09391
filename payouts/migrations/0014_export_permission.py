"""Finance exports the payout list it reviews (issue 17)."""

from django.db import migrations

from accounts.roles import FINANCE, grant, revoke

GRANTS = {FINANCE: {"payouts.Payout": ("export",)}}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):

    dependencies = [
        ('payouts', '0013_provider_timeout_records'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='payout',
            options={'ordering': ['requested_at', 'id'], 'permissions': [('approve_payout', 'Can approve, reject and retry payouts'), ('export_payout', 'Can export the payout list')]},
        ),
        migrations.RunPython(forwards, backwards),
    ]
