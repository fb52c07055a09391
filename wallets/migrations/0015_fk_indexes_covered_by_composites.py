"""A purchase's user loses its single-column index: the (user, created_at) and
(user, idempotency_key) indexes lead with it, and a gift that spends paid coins
rewrites every index of its lot. Dropped by name, so the foreign key stays as it is
(Django's own AlterField would drop and re-validate it, a scan of every purchase)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEX = "wallets_purchase_user_id_d2a22d62"


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0014_fingerprint_help_text"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="purchase",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="purchases",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {INDEX}",
                    f"CREATE INDEX IF NOT EXISTS {INDEX} ON wallets_purchase (user_id)",
                ),
            ],
        ),
    ]
