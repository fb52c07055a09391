"""Finance exports the purchase and transfer lists it reviews (issue 17)."""

from django.db import migrations

from accounts.roles import FINANCE, grant, revoke

GRANTS = {FINANCE: {"wallets.Purchase": ("export",), "wallets.Transfer": ("export",)}}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):

    dependencies = [
        ('wallets', '0016_reconciliation_run_now_permission'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='purchase',
            options={'ordering': ['-created_at', '-id'], 'permissions': [('refund_purchase', 'Can refund a purchase'), ('export_purchase', 'Can export the purchase list')]},
        ),
        migrations.AlterModelOptions(
            name='transfer',
            options={'ordering': ['-created_at', '-id'], 'permissions': [('export_transfer', 'Can export the transfer list')]},
        ),
        migrations.RunPython(forwards, backwards),
    ]
