"""Diamonds and the integer units the ledger keeps them in (`DIAMOND_SCALE` a diamond).

Every conversion between the two goes through here: amounts in Python are integer
units (named `..._units`); a `Decimal` of diamonds exists only at the edges (API,
admin, messages, cash value), always with exactly four decimals.
"""

from decimal import ROUND_DOWN, Decimal

# Diamond amounts are kept in ten-thousandths: a gift's value then splits between
# creator and platform exactly at any share with two decimals (see gifting).
DIAMOND_SCALE = 10_000
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


def diamonds_display(units: int, *, places: int = 4, signed: bool = False) -> str:
    """Diamonds as staff read them: thousands separated, four decimals ("50,000.0000").
    Fewer `places` round down: a screen never shows a diamond that is not there."""
    value = diamonds_from_units(units).quantize(Decimal(1).scaleb(-places), ROUND_DOWN)
    return f"{value:{'+' if signed else ''},}"
