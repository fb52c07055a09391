# Amounts the database compares and sums become exact integers on every database
# (docs/decisions.md, "Money in the database: integer minor units").

import core.fields
import djmoney.models.validators
from decimal import Decimal
from django.db import migrations

from core.operations import AmountsToMinorUnits


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0012_region_code_whole_string'),
    ]

    operations = [
        AmountsToMinorUnits(
            model_name='bundleprice',
            fields=[
                ('price', core.fields.MinorUnitsMoneyField(decimal_places=2, max_digits=14)),
            ],
        ),
        AmountsToMinorUnits(
            model_name='coinbundle',
            fields=[
                ('base_price', core.fields.MinorUnitsMoneyField(currency_choices=[('USD', 'USD')], decimal_places=2, default_currency='USD', help_text='USD price that regional prices are derived from.', max_digits=12, validators=[djmoney.models.validators.MinMoneyValidator(Decimal('0.01'))])),
            ],
        ),
        AmountsToMinorUnits(
            model_name='historicalcoinbundle',
            fields=[
                ('base_price', core.fields.MinorUnitsMoneyField(currency_choices=[('USD', 'USD')], decimal_places=2, default_currency='USD', help_text='USD price that regional prices are derived from.', max_digits=12, validators=[djmoney.models.validators.MinMoneyValidator(Decimal('0.01'))])),
            ],
        ),
        AmountsToMinorUnits(
            model_name='repricingline',
            fields=[
                ('new_price', core.fields.MinorUnitsMoneyField(decimal_places=2, max_digits=14)),
            ],
        ),
    ]
