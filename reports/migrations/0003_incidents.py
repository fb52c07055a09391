"""Incidents, the alerts' record (issue 16): finance and operators read them; the
beat task that opens and closes them runs every minute."""

import django.utils.timezone
from django.db import migrations, models

from accounts.roles import FINANCE, VIEW_ONLY, grant, revoke

GRANTS = {FINANCE: {"reports.Incident": VIEW_ONLY}}
TASK_NAME = "Check alerts"


def forwards(apps, schema_editor):
    grant(apps, GRANTS)
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(
        every=1, period="minutes"
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "reports.check_alerts",
            "interval": every_minute,
            "description": "Opens an incident, and alerts, when reconciliation "
            "finds a mismatch, payouts are stuck or fail, or the payout provider "
            "keeps timing out; closes it when that clears.",
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=TASK_NAME
    ).delete()
    revoke(apps, GRANTS)



class Migration(migrations.Migration):

    dependencies = [
        ('django_celery_beat', '0019_alter_periodictasks_options'),
        ('reports', '0002_user_lookup'),
    ]

    operations = [
        migrations.CreateModel(
            name='Incident',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('reconciliation', 'Reconciliation mismatch'), ('payouts_stuck', 'Payouts stuck in processing'), ('payouts_failed', 'Failed payout batch'), ('provider_timeouts', 'Payout provider time-outs')], max_length=24)),
                ('key', models.CharField(max_length=64)),
                ('summary', models.CharField(max_length=300)),
                ('details', models.TextField(blank=True)),
                ('opened_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('closed_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['-opened_at', '-id'],
                'constraints': [models.UniqueConstraint(condition=models.Q(('closed_at__isnull', True)), fields=('kind', 'key'), name='reports_incident_one_open_per_key'), models.CheckConstraint(condition=models.Q(('closed_at__isnull', True), ('closed_at__gte', models.F('opened_at')), _connector='OR'), name='reports_incident_closed_after_opened')],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
