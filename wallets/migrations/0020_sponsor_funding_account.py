from django.db import migrations


def create_sponsor_funding_account(apps, schema_editor):
    # Like every system account, it exists from the start (0006).
    apps.get_model("wallets", "LedgerAccount").objects.get_or_create(
        kind="sponsor_funding", owner=None, defaults={"unit": "coin"}
    )


def remove_sponsor_funding_account(apps, schema_editor):
    apps.get_model("wallets", "LedgerAccount").objects.filter(
        kind="sponsor_funding", owner=None, debits__isnull=True
    ).delete()


class Migration(migrations.Migration):
    # Apart from 0018's schema changes: PostgreSQL refuses to alter a table in the
    # transaction that wrote its rows (pending trigger events), as unapplying would.
    dependencies = [("wallets", "0019_sponsor_campaigns")]

    operations = [
        migrations.RunPython(
            create_sponsor_funding_account, remove_sponsor_funding_account
        ),
    ]
