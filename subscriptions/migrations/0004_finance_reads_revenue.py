from django.db import migrations

from accounts.roles import FINANCE, grant, revoke

# Revenue per month and subscribers' request keys are finance's, not support's.
GRANTS = {FINANCE: {"subscriptions.Subscription": ("revenue",)}}


def forwards(apps, schema_editor):
    grant(apps, GRANTS)


def backwards(apps, schema_editor):
    revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0003_charge_earnings_hold"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="subscription",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [
                    (
                        "revenue_subscription",
                        "Can read subscription revenue and subscribers' request keys",
                    )
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
