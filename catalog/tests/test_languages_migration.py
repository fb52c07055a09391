import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit import db as audit_db
from catalog.models import Gift

BEFORE = [("catalog", "0013_amounts_in_minor_units")]
AFTER = [("catalog", "0014_gift_name_description_per_language")]


def _migrate(target):
    """The schema and data steps alone, without the audit triggers (SQLite refuses
    to drop a column a trigger names); the test puts them back at its end."""
    audit_db.uninstall()
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return MigrationExecutor(connection).loader.project_state(target).apps


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_existing_names_and_descriptions_become_english():
    try:
        OldGift = _migrate(BEFORE).get_model("catalog", "Gift")
        old = OldGift.objects.create(
            name="Lion Dance", slug="lion-dance", coin_price=2000, description="Roar."
        )
        plain = OldGift.objects.create(name="Rose", slug="rose", coin_price=1)

        _migrate(AFTER)

        lion, rose = Gift.objects.get(pk=old.pk), Gift.objects.get(pk=plain.pk)
        assert (lion.name_en, lion.description_en, lion.name_de) == (
            "Lion Dance",
            "Roar.",
            None,
        )
        assert (rose.name_en, rose.description_en) == ("Rose", "")
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
        audit_db.install()
