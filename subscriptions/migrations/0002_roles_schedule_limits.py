from django.db import migrations

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT, grant, revoke

TASK_NAME = "Renew due coin subscriptions"
EDIT = ("add", "change", "view")
VIEW = ("view",)
GRANTS = {
    FINANCE: {
        "subscriptions.TierPriceLimit": EDIT,
        "subscriptions.Tier": VIEW,
        "subscriptions.Subscription": VIEW,
        "subscriptions.SubscriptionCharge": VIEW,
    },
    CATALOG_EDITORS: {
        "subscriptions.TierPriceLimit": EDIT,
        "subscriptions.Tier": VIEW,
    },
    SUPPORT: {
        "subscriptions.Tier": VIEW,
        "subscriptions.Subscription": VIEW,
        "subscriptions.SubscriptionCharge": VIEW,
    },
}
# Three ranks to start with; staff change them in the admin.
LIMITS = [(1, "Tier 1", 50, 5_000), (2, "Tier 2", 100, 10_000), (3, "Tier 3", 250, 25_000)]


def forwards(apps, schema_editor):
    grant(apps, GRANTS)
    TierPriceLimit = apps.get_model("subscriptions", "TierPriceLimit")
    for rank, name, low, high in LIMITS:
        TierPriceLimit.objects.get_or_create(
            rank=rank, defaults={"name": name, "min_coins": low, "max_coins": high}
        )
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "subscriptions.renew_due",
            "interval": every_minute,
            "description": (
                "Charges the next period of subscriptions that are due, retries "
                "those in grace and ends cancelled or lapsed ones, in batches."
            ),
        },
    )


def backwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0001_subscriptions"),
        ("accounts", "0002_staff_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
