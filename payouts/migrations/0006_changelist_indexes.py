"""Indexes for the admin changelists at millions of rows (bench/README.md).

Raw SQL, not `AddIndex`: one covers the risk column's read with `INCLUDE`
(PostgreSQL only), and the admin's reads are their only users; they are not part
of the models' state.
"""

from django.db import migrations

INDEXES = [
    # The gift sends changelist's default order, newest first.
    (
        "payouts_giftsend_recent",
        "payouts_giftsend (created_at DESC, id DESC)",
        "",
    ),
    # The payout queue's order when it is not filtered by status.
    ("payouts_payout_requested", "payouts_payout (requested_at, id)", ""),
    # The risk column sums a page's creators' gifts per sender: read in this
    # order from the index alone, no hashing of every (creator, sender) pair.
    (
        "payouts_giftsend_creator_sender",
        "payouts_giftsend (creator_id, sender_id)",
        " INCLUDE (created_at, creator_diamond_units)",
    ),
]


def create(apps, schema_editor):
    # INCLUDE is PostgreSQL's; elsewhere the plain index keeps the order.
    covering = schema_editor.connection.vendor == "postgresql"
    for name, columns, include in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {columns}"
            + (include if covering else "")
        )


def drop(apps, schema_editor):
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("payouts", "0005_money_dashboard")]

    operations = [migrations.RunPython(create, drop)]
