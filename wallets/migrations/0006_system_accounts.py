from django.db import migrations

# The platform's accounts exist from the start, so the ledger can keep their ids in
# memory instead of looking each one up on every purchase and gift.
SYSTEM_KINDS = {
    "coin_issuance": "coin",
    "bonus_issuance": "coin",
    "coin_refunds": "coin",
    "coins_spent": "coin",
    "bonus_adjustments": "coin",
    "diamond_issuance": "diamond",
    "platform_revenue": "diamond",
    "payout_hold": "diamond",
    "paid_out": "diamond",
    "diamond_adjustments": "diamond",
}


def create_system_accounts(apps, schema_editor):
    LedgerAccount = apps.get_model("wallets", "LedgerAccount")
    for kind, unit in SYSTEM_KINDS.items():
        LedgerAccount.objects.get_or_create(
            kind=kind, owner=None, defaults={"unit": unit}
        )


class Migration(migrations.Migration):
    dependencies = [("wallets", "0005_balance_adjustments")]

    operations = [
        migrations.RunPython(create_system_accounts, migrations.RunPython.noop),
    ]
