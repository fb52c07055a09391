from django.db import migrations


def create_sponsor_funding_account(apps, schema_editor):
    # Like every system account, it exists from the start (0006).
    apps.get_model("wallets", "LedgerAccount").objects.get_or_create(
        kind="sponsor_funding", owner=None, defaults={"unit": "coin"}
    )


def remove_sponsor_funding_account(apps, schema_editor):
    # Raw: the ORM's delete would walk relations across apps' historical states.
    # An account that moved coins stays, and 0019 then refuses to be unapplied.
    schema_editor.execute(
        "DELETE FROM wallets_ledgeraccount WHERE kind = 'sponsor_funding' "
        "AND owner_id IS NULL AND NOT EXISTS (SELECT 1 FROM wallets_transfer t "
        "WHERE t.debit_account_id = wallets_ledgeraccount.id "
        "OR t.credit_account_id = wallets_ledgeraccount.id)"
    )


class Migration(migrations.Migration):
    # Apart from 0018's schema changes: PostgreSQL refuses to alter a table in the
    # transaction that wrote its rows (pending trigger events), as unapplying would.
    dependencies = [("wallets", "0020_sponsor_campaigns")]

    operations = [
        migrations.RunPython(
            create_sponsor_funding_account, remove_sponsor_funding_account
        ),
    ]
