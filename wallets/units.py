"""Diamonds and the integer units the ledger keeps them in (`DIAMOND_SCALE` a diamond).

Every conversion between the two goes through here: amounts in Python are integer
units (named `..._units`); a `Decimal` of diamonds exists only at the edges (API,
admin, messages, cash value), always with exactly four decimals.
"""

from decimal import Decimal

from core import display
from core.units import DIAMOND_SCALE as DIAMOND_SCALE

# The smallest amount: one unit, 0.0001 diamonds.
ONE_UNIT = Decimal(1) / DIAMOND_SCALE


def diamonds_from_units(units: int) -> Decimal:
    """Units as diamonds, with four decimals (`str()` gives the API's "5.0000")."""
    return (Decimal(units) / DIAMOND_SCALE).quantize(ONE_UNIT)


def units_from_diamonds(diamonds: Decimal | int) -> int:
    """Diamonds as units; a fraction finer than one unit is refused, not rounded."""
    units = Decimal(diamonds) * DIAMOND_SCALE
    if units != units.to_integral_value():
        raise ValueError(f"{diamonds} diamonds: the smallest amount is {ONE_UNIT}.")
    return int(units)


def whole_diamonds_from_units(units: int) -> int:
    """Whole diamonds in `units`, rounded down (level thresholds count whole ones)."""
    return units // DIAMOND_SCALE


def diamonds_display(units: int, *, places: int | None = None, signed: bool = False):
    """Kept for the payout queue until it calls `core.display.diamonds` itself."""
    return display.diamonds(units, places=places, signed=signed)
