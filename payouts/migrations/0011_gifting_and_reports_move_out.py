"""The gifting models and the money dashboard leave `payouts` (issue 13).

State only: their tables stay where they are (gifting/migrations/0001_initial.py),
and the payouts that point at a creator now point at `gifting.CreatorProfile`.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gifting", "0001_initial"),
        ("payouts", "0010_amounts_in_minor_units"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="historicalcreatorprofile",
                    name="level",
                ),
                migrations.RemoveField(
                    model_name="creatorprofile",
                    name="level",
                ),
                migrations.RemoveField(
                    model_name="levelchange",
                    name="to_level",
                ),
                migrations.RemoveField(
                    model_name="levelchange",
                    name="from_level",
                ),
                migrations.RemoveField(
                    model_name="creatorprofile",
                    name="user",
                ),
                migrations.RemoveField(
                    model_name="giftsend",
                    name="creator",
                ),
                migrations.RemoveField(
                    model_name="levelchange",
                    name="creator",
                ),
                migrations.AlterField(
                    model_name="payout",
                    name="creator",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="payouts",
                        to="gifting.creatorprofile",
                    ),
                ),
                migrations.AlterField(
                    model_name="payoutmethodchange",
                    name="creator",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="method_changes",
                        to="gifting.creatorprofile",
                    ),
                ),
                migrations.RemoveField(
                    model_name="giftsend",
                    name="gift",
                ),
                migrations.RemoveField(
                    model_name="giftsend",
                    name="sender",
                ),
                migrations.RemoveField(
                    model_name="historicalcreatorlevel",
                    name="history_user",
                ),
                migrations.RemoveField(
                    model_name="historicalcreatorprofile",
                    name="history_user",
                ),
                migrations.RemoveField(
                    model_name="historicalcreatorprofile",
                    name="user",
                ),
                migrations.RemoveField(
                    model_name="levelchange",
                    name="changed_by",
                ),
                migrations.RemoveField(
                    model_name="streamgifter",
                    name="sender",
                ),
                migrations.DeleteModel(
                    name="MoneyDashboard",
                ),
                migrations.DeleteModel(
                    name="CreatorLevel",
                ),
                migrations.DeleteModel(
                    name="CreatorProfile",
                ),
                migrations.DeleteModel(
                    name="GiftSend",
                ),
                migrations.DeleteModel(
                    name="HistoricalCreatorLevel",
                ),
                migrations.DeleteModel(
                    name="HistoricalCreatorProfile",
                ),
                migrations.DeleteModel(
                    name="LevelChange",
                ),
                migrations.DeleteModel(
                    name="StreamGifter",
                ),
            ],
            database_operations=[],
        ),
    ]
