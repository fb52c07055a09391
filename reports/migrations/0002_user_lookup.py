"""Support's page of a user and its search (issue 15): a proxy of `User`, whose
view permission the support and finance roles are granted here."""

import django.contrib.auth.models
from django.db import migrations

from accounts.roles import FINANCE, SUPPORT, VIEW_ONLY, grant, revoke

GRANTS = {
    SUPPORT: {"reports.UserLookup": VIEW_ONLY},
    FINANCE: {"reports.UserLookup": VIEW_ONLY},
}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_user_public_name'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('reports', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='UserLookup',
            fields=[
            ],
            options={
                'verbose_name': 'user lookup',
                'verbose_name_plural': 'user lookup',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('accounts.user',),
            managers=[
                ('objects', django.contrib.auth.models.UserManager()),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
