from django.db import migrations

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT, VIEW_ONLY, grant, revoke

TASK_NAME = "Apply scheduled gift prices"
GRANTS = {
    role: {"django_celery_beat.PeriodicTask": VIEW_ONLY}
    for role in (CATALOG_EDITORS, FINANCE, SUPPORT)
}


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "catalog.apply_due_price_changes",
            "interval": every_minute,
            "description": "Makes scheduled gift coin prices live once their moment comes.",
        },
    )
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_staff_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
