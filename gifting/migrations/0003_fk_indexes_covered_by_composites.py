"""The gift send's sender and creator lose their single-column indexes: composite
indexes lead with each (see GiftSend.Meta), and every index is one more write on
every gift. Dropped by name, so the foreign keys stay as they are (Django's own
AlterField would drop and re-validate them, a scan of every gift ever sent)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEXES = {
    "payouts_giftsend_sender_id_5cef775f": "sender_id",
    "payouts_giftsend_creator_id_ad0f538a": "creator_id",
}


class Migration(migrations.Migration):
    dependencies = [
        ("gifting", "0002_fingerprint_help_text"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="giftsend",
                    name="creator",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="gifts_received",
                        to="gifting.creatorprofile",
                    ),
                ),
                migrations.AlterField(
                    model_name="giftsend",
                    name="sender",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="gifts_sent",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {name}",
                    f"CREATE INDEX IF NOT EXISTS {name} ON payouts_giftsend ({column})",
                )
                for name, column in INDEXES.items()
            ],
        ),
    ]
