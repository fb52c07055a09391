"""How the payout screens write amounts: thousands separated, exact, never rounded
up. (A stop-gap until core has the project's one money and number display.)"""

from decimal import Decimal

from wallets.units import diamonds_from_units


def amount(value: Decimal) -> str:
    """A cash amount with its two decimals: 1,008.45."""
    return f"{value:,.2f}"


def cash(value: Decimal, currency: str) -> str:
    """1,008.45 USD."""
    return f"{amount(value)} {currency}"


def diamonds(units: int) -> str:
    """Diamonds with the decimals they have and no more: 300,000.5, 20,000."""
    return _trimmed(f"{diamonds_from_units(units):,.4f}")


def rate(value: Decimal, currency: str) -> str:
    """A cash rate per diamond without trailing zeros: 0.005 USD a diamond."""
    return f"{_trimmed(f'{value:f}')} {currency} a diamond"


def _trimmed(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number
