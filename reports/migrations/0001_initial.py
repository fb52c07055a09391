"""The money dashboard's admin entry, moved from `payouts` (issue 13).

A proxy: no table. Its content type changes app label in place, so finance's
`view_moneydashboard` permission is kept.
"""

from django.db import migrations


def relabel(apps, old, new):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label=old, model="moneydashboard").update(
        app_label=new
    )


def forwards(apps, schema_editor):
    relabel(apps, "payouts", "reports")


def backwards(apps, schema_editor):
    relabel(apps, "reports", "payouts")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('payouts', '0011_gifting_and_reports_move_out'),
    ]

    operations = [
        migrations.CreateModel(
            name='MoneyDashboard',
            fields=[
            ],
            options={
                'verbose_name': 'money dashboard',
                'verbose_name_plural': 'money dashboard',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('payouts.payout',),
        ),
        migrations.RunPython(forwards, backwards),
    ]
