import datetime
from decimal import Decimal

from django.db import migrations

from accounts.roles import FINANCE, SUPPORT, VIEW_ONLY, grant, revoke

GRANTS = {
    FINANCE: {
        "payouts.Payout": ("view", "approve"),
        "payouts.PayoutEvent": VIEW_ONLY,
        "payouts.DiamondCashRate": ("add", "view"),
        "payouts.PayoutRules": ("add", "change", "view"),
        "payouts.SandboxPayoutRecord": VIEW_ONLY,
    },
    SUPPORT: {
        "payouts.Payout": VIEW_ONLY,
        "payouts.PayoutEvent": VIEW_ONLY,
        "payouts.DiamondCashRate": VIEW_ONLY,
        "payouts.PayoutRules": VIEW_ONLY,
    },
}
TASK_NAME = "Send approved payouts"


def forwards(apps, schema_editor):
    DiamondCashRate = apps.get_model("payouts", "DiamondCashRate")
    PayoutRules = apps.get_model("payouts", "PayoutRules")
    DiamondCashRate.objects.get_or_create(
        currency="USD",
        effective_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        defaults={"rate": Decimal("0.005")},
    )
    PayoutRules.objects.get_or_create(
        currency="USD",
        defaults={
            "minimum_cashout": Decimal("100.00"),
            "fee_fixed": Decimal("0.25"),
            "fee_percent": Decimal("1.00"),
            "daily_maximum": Decimal("5000.00"),
            "second_approval_from": Decimal("1000.00"),
            "method_cooloff_days": 5,
        },
    )
    grant(apps, GRANTS)
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "payouts.dispatch_payouts",
            "interval": every_minute,
            "description": "Hands approved payouts to the provider in batches.",
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=TASK_NAME
    ).delete()
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0003_payout_terms_requests_approvals"),
        ("accounts", "0002_staff_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
