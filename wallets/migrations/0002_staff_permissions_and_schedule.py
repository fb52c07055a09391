from django.db import migrations

from accounts.roles import (
    ALL_ACTIONS,
    CATALOG_EDITORS,
    FINANCE,
    SUPPORT,
    VIEW_ONLY,
    grant,
    revoke,
)

LEDGER = ("wallets.LedgerAccount", "wallets.Transfer", "wallets.ReconciliationRun")
EDIT = ("add", "change", "view")
GRANTS = {
    CATALOG_EDITORS: {"wallets.Promotion": ALL_ACTIONS},
    FINANCE: {
        **{model: VIEW_ONLY for model in LEDGER},
        "wallets.Wallet": VIEW_ONLY,
        "wallets.Purchase": ("view", "refund"),
        "wallets.Promotion": VIEW_ONLY,
        "wallets.SpendingLimit": EDIT,
        "wallets.SpendingLimitOverride": ALL_ACTIONS,
    },
    SUPPORT: {
        **{model: VIEW_ONLY for model in LEDGER},
        "wallets.Wallet": VIEW_ONLY,
        "wallets.Purchase": VIEW_ONLY,
        "wallets.Promotion": VIEW_ONLY,
        "wallets.SpendingLimit": VIEW_ONLY,
        "wallets.SpendingLimitOverride": EDIT,
    },
}
TASK_NAME = "Reconcile the ledger"


def forwards(apps, schema_editor):
    grant(apps, GRANTS)
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "wallets.reconcile_ledger",
            "interval": hourly,
            "description": "Checks that balances sum to zero and match their transfers.",
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=TASK_NAME
    ).delete()
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0001_ledger_purchases_promotions_limits"),
        ("catalog", "0003_price_change_schedule"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
