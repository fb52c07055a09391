"""Finance exports the gift send list it reviews (issue 17)."""

from django.db import migrations

from accounts.roles import FINANCE, grant, revoke

GRANTS = {FINANCE: {"gifting.GiftSend": ("export",)}}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):

    dependencies = [
        ('gifting', '0003_fk_indexes_covered_by_composites'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='giftsend',
            options={'ordering': ['-created_at', '-id'], 'permissions': [('export_giftsend', 'Can export the gift send list')]},
        ),
        migrations.RunPython(forwards, backwards),
    ]
