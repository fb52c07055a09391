from decimal import Decimal

from django.db import migrations

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT, VIEW_ONLY, grant, revoke

# (number, name, diamonds over 30 days that qualify, share percent)
LEVELS = [
    (1, "Rising", 0, Decimal("50.00")),
    (2, "Bronze", 10_000, Decimal("55.00")),
    (3, "Silver", 50_000, Decimal("60.00")),
    (4, "Gold", 200_000, Decimal("65.00")),
    (5, "Diamond", 1_000_000, Decimal("70.00")),
]
GRANTS = {
    FINANCE: {
        "payouts.CreatorLevel": ("change", "view"),
        "payouts.CreatorProfile": ("change", "view"),
        "payouts.GiftSend": VIEW_ONLY,
        "payouts.LevelChange": VIEW_ONLY,
    },
    SUPPORT: {
        "payouts.CreatorLevel": VIEW_ONLY,
        "payouts.CreatorProfile": VIEW_ONLY,
        "payouts.GiftSend": VIEW_ONLY,
        "payouts.LevelChange": VIEW_ONLY,
    },
    CATALOG_EDITORS: {},
}
TASK_NAME = "Recompute creator levels"


def forwards(apps, schema_editor):
    CreatorLevel = apps.get_model("payouts", "CreatorLevel")
    for number, name, threshold, share in LEVELS:
        CreatorLevel.objects.get_or_create(
            number=number,
            defaults={"name": name, "min_diamonds_30d": threshold, "share_percent": share},
        )
    grant(apps, GRANTS)
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="2", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "payouts.recompute_creator_levels",
            "crontab": nightly,
            "description": "Moves unpinned creators to the level their 30 days earn.",
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=TASK_NAME
    ).delete()
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0001_creators_levels_gift_sends"),
        ("accounts", "0002_staff_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
