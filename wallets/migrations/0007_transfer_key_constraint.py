from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0006_system_accounts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="transfer",
            name="idempotency_key",
            field=models.CharField(max_length=200),
        ),
        migrations.AddConstraint(
            model_name="transfer",
            constraint=models.UniqueConstraint(
                fields=("idempotency_key",), name="wallets_transfer_key_once"
            ),
        ),
    ]
