from django.db import migrations

from accounts.roles import FINANCE, SUPPORT, grant, revoke

# Support asks for a subscription refund on a subscriber's behalf; finance asks
# too, and a second finance user grants it. Finance reads what store refunds
# took back from held charges, as from held gifts.
GRANTS = {
    SUPPORT: {"subscriptions.ChargeRefund": ("add", "view")},
    FINANCE: {
        "subscriptions.ChargeRefund": ("add", "view", "approve"),
        "subscriptions.ChargeHoldRecovery": ("view",),
    },
}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0005_charge_refunds_and_lots"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
