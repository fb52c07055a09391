"""How the payout screens write amounts: diamonds and rates as everywhere
(core.display); cash as "1,008.45 USD", as the queue's script writes the total of
the selected rows (queue.js), until both switch to core.display.money."""

from decimal import Decimal

from core import display as figures


def amount(value: Decimal) -> str:
    """A cash amount with its two decimals: 1,008.45."""
    return f"{value:,.2f}"


def cash(value: Decimal, currency: str) -> str:
    """1,008.45 USD."""
    return f"{amount(value)} {currency}"


def rate(value: Decimal, currency: str) -> str:
    """A cash rate per diamond without trailing zeros: 0.005 USD a diamond."""
    return f"{figures.rate(value)} {currency} a diamond"
