from decimal import Decimal

from django.db import connection

from audit.models import AuditRecord
from core.fields import MONEY_DECIMAL_PLACES, from_minor_units


def records(label: str, **filters):
    return list(AuditRecord.objects.filter(model=label, **filters).order_by("id"))


def dec(value) -> Decimal:
    """A number read back from a record's JSON (PostgreSQL keeps 50.00, SQLite 50.0)."""
    return Decimal(str(value))


def amount(value) -> Decimal:
    """A cash amount read back from a record's JSON: its column keeps integer minor
    units (12000 is 120.00)."""
    assert isinstance(value, int), value
    return from_minor_units(value, MONEY_DECIMAL_PLACES)


def actor_in_connection() -> tuple:
    """What this connection would hand a trigger right now: (actor id, label)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nullif(current_setting('audit.actor_id', true), ''), "
                "nullif(current_setting('audit.actor_label', true), '')"
            )
        else:
            cursor.execute("SELECT audit_actor_id(), nullif(audit_actor_label(), '')")
        return tuple(cursor.fetchone())
