"""Cash amounts kept exactly in the database: an integer count of the smallest unit.

SQLite stores a `DecimalField` as binary floating point, so a check such as
`gross = fee + net`, a `Sum` or a comparison of amounts there is inexact: 1.49 +
121.96 is not 123.45. These fields are a `Decimal` (or djmoney `Money`) in Python
and a BIGINT of 10**-decimal_places units on every database (USD 1,008.45 is
100845 with two places), so the database adds and compares integers. Lookups,
`Sum`, `Min` and `Max` and the sum or difference of two such columns come back
through the field as `Decimal`; docs/decisions.md says what else to keep in mind.
"""

from decimal import Decimal

from django.db import models
from django.db.models import expressions
from djmoney.models.fields import MoneyField

# The project's one precision for cash (CONVENTIONS: "one project-wide precision").
MONEY_DECIMAL_PLACES = 2


def to_minor_units(value: Decimal, decimal_places: int) -> int:
    """`value` as an integer count of 10**-decimal_places; refuses to round."""
    scaled = Decimal(value).scaleb(decimal_places)
    units = scaled.to_integral_value()
    if units != scaled:
        raise ValueError(
            f"{value} has more than {decimal_places} decimal places: an amount "
            "is stored exactly or not at all."
        )
    return int(units)


def from_minor_units(units, decimal_places: int) -> Decimal:
    """The `Decimal` an integer count of 10**-decimal_places stands for."""
    if isinstance(units, float):
        # Not written by these fields; an exact float (a sum) is read, others refused.
        if not units.is_integer():
            raise ValueError(f"{units} is not a whole number of minor units.")
        units = int(units)
    return Decimal(int(units)).scaleb(-decimal_places)


class MinorUnitsMixin:
    """Stores a `DecimalField`'s value as BIGINT minor units; Python sees `Decimal`."""

    def get_internal_type(self):
        # Column type, lookups and casts of an integer on every database; no
        # floating-point affinity on SQLite.
        return "BigIntegerField"

    def get_db_prep_value(self, value, connection, prepared=False):
        if hasattr(value, "as_sql"):
            return value
        value = self.to_python(value)
        if value is None:
            return None
        return to_minor_units(value, self.decimal_places)

    def get_db_prep_save(self, value, connection):
        if hasattr(value, "as_sql"):
            return value
        return self.get_db_prep_value(value, connection)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return from_minor_units(value, self.decimal_places)


class MinorUnitsDecimalField(MinorUnitsMixin, models.DecimalField):
    """A `Decimal` amount kept exactly: BIGINT of 10**-decimal_places units."""

    description = "Decimal number stored as an integer count of its smallest unit"

    def __init__(self, *args, decimal_places=MONEY_DECIMAL_PLACES, **kwargs):
        super().__init__(*args, decimal_places=decimal_places, **kwargs)


class MinorUnitsMoneyField(MinorUnitsMixin, MoneyField):
    """djmoney's `MoneyField` (amount and currency) with the amount kept exactly."""

    description = "Money stored as an integer count of its smallest unit and currency"


# The sum or difference of two such columns is in the same units: let it come back
# through the field, not as a plain DecimalField that would read 100845 as 100845.
# (Multiplying, dividing or mixing with a constant in SQL is not supported: do it in
# Python on the `Decimal`s.) Django matches these pairs in order, so they go first.
for _connector in (expressions.Combinable.ADD, expressions.Combinable.SUB):
    expressions._connector_combinators[_connector].insert(
        0, (MinorUnitsMixin, MinorUnitsMixin, MinorUnitsDecimalField)
    )
expressions._resolve_combined_type.cache_clear()
