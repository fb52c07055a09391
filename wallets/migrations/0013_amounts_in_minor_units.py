# Amounts the database compares and sums become exact integers on every database
# (docs/decisions.md, "Money in the database: integer minor units").

import core.fields
from django.db import migrations

from core.operations import AmountsToMinorUnits


class Migration(migrations.Migration):

    dependencies = [
        ('wallets', '0012_promotions_applied_are_protected'),
    ]

    operations = [
        AmountsToMinorUnits(
            model_name='historicalspendinglimit',
            fields=[
                ('daily_limit', core.fields.MinorUnitsMoneyField(decimal_places=2, max_digits=14)),
                ('monthly_limit', core.fields.MinorUnitsMoneyField(decimal_places=2, max_digits=14)),
            ],
        ),
        AmountsToMinorUnits(
            model_name='historicalspendinglimitoverride',
            fields=[
                ('daily_limit', core.fields.MinorUnitsMoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('monthly_limit', core.fields.MinorUnitsMoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
            ],
        ),
        AmountsToMinorUnits(
            model_name='purchase',
            fields=[
                ('price', core.fields.MinorUnitsMoneyField(decimal_places=2, max_digits=14)),
            ],
        ),
        AmountsToMinorUnits(
            model_name='spendinglimit',
            fields=[
                ('daily_limit', core.fields.MinorUnitsMoneyField(decimal_places=2, max_digits=14)),
                ('monthly_limit', core.fields.MinorUnitsMoneyField(decimal_places=2, max_digits=14)),
            ],
        ),
        AmountsToMinorUnits(
            model_name='spendinglimitoverride',
            fields=[
                ('daily_limit', core.fields.MinorUnitsMoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('monthly_limit', core.fields.MinorUnitsMoneyField(blank=True, decimal_places=2, max_digits=14, null=True)),
            ],
        ),
        AmountsToMinorUnits(
            model_name='unrecoveredstorerefund',
            fields=[
                ('price', core.fields.MinorUnitsMoneyField(decimal_places=2, help_text='What the buyer paid, and the store gave back.', max_digits=14)),
            ],
        ),
    ]
