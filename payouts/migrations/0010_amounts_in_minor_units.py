# Amounts the database compares and sums become exact integers on every database
# (docs/decisions.md, "Money in the database: integer minor units").

import core.fields
import django.core.validators
from decimal import Decimal
from django.db import migrations

from core.operations import AmountsToMinorUnits


class Migration(migrations.Migration):

    dependencies = [
        ('payouts', '0009_payout_method_changes_four_eyes'),
    ]

    operations = [
        AmountsToMinorUnits(
            model_name='historicalpayoutrules',
            fields=[
                ('daily_maximum', core.fields.MinorUnitsDecimalField(decimal_places=2, help_text='Most one creator may cash out per UTC day (gross).', max_digits=12)),
                ('fee_fixed', core.fields.MinorUnitsDecimalField(decimal_places=2, default=Decimal('0'), max_digits=12, validators=[django.core.validators.MinValueValidator(Decimal('0'))])),
                ('minimum_cashout', core.fields.MinorUnitsDecimalField(decimal_places=2, max_digits=12, validators=[django.core.validators.MinValueValidator(Decimal('0.01'))])),
                ('second_approval_from', core.fields.MinorUnitsDecimalField(decimal_places=2, help_text="A payout that brings the creator's gross over the last 24 hours to this amount or more needs a second approver.", max_digits=12)),
            ],
        ),
        AmountsToMinorUnits(
            model_name='payout',
            fields=[
                ('fee_amount', core.fields.MinorUnitsDecimalField(decimal_places=2, max_digits=14)),
                ('gross_amount', core.fields.MinorUnitsDecimalField(decimal_places=2, max_digits=14)),
                ('net_amount', core.fields.MinorUnitsDecimalField(decimal_places=2, max_digits=14)),
            ],
        ),
        AmountsToMinorUnits(
            model_name='payoutrules',
            fields=[
                ('daily_maximum', core.fields.MinorUnitsDecimalField(decimal_places=2, help_text='Most one creator may cash out per UTC day (gross).', max_digits=12)),
                ('fee_fixed', core.fields.MinorUnitsDecimalField(decimal_places=2, default=Decimal('0'), max_digits=12, validators=[django.core.validators.MinValueValidator(Decimal('0'))])),
                ('minimum_cashout', core.fields.MinorUnitsDecimalField(decimal_places=2, max_digits=12, validators=[django.core.validators.MinValueValidator(Decimal('0.01'))])),
                ('second_approval_from', core.fields.MinorUnitsDecimalField(decimal_places=2, help_text="A payout that brings the creator's gross over the last 24 hours to this amount or more needs a second approver.", max_digits=12)),
            ],
        ),
        AmountsToMinorUnits(
            model_name='sandboxpayoutrecord',
            fields=[
                ('amount', core.fields.MinorUnitsDecimalField(decimal_places=2, max_digits=14)),
            ],
        ),
    ]
