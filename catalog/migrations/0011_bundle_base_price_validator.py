import djmoney.models.fields
import djmoney.models.validators
from decimal import Decimal
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0010_import_job_staff_permissions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="coinbundle",
            name="base_price",
            field=djmoney.models.fields.MoneyField(
                currency_choices=[("USD", "USD")],
                decimal_places=2,
                default_currency="USD",
                help_text="USD price that regional prices are derived from.",
                max_digits=12,
                validators=[
                    djmoney.models.validators.MinMoneyValidator(Decimal("0.01"))
                ],
            ),
        ),
        migrations.AlterField(
            model_name="historicalcoinbundle",
            name="base_price",
            field=djmoney.models.fields.MoneyField(
                currency_choices=[("USD", "USD")],
                decimal_places=2,
                default_currency="USD",
                help_text="USD price that regional prices are derived from.",
                max_digits=12,
                validators=[
                    djmoney.models.validators.MinMoneyValidator(Decimal("0.01"))
                ],
            ),
        ),
    ]
