"""Calls up from the ledger's refunds to the apps above it, which wallets may not
import: an app registers a function from its `AppConfig.ready()`.

A store refund of spent coins asks each registered recoverer to take back what it
can of what those coins bought (gifting's earnings hold, `gifting/services/holds.py`),
inside the refund's transaction and after its locks.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from .models import Purchase


@dataclass(frozen=True)
class Recovered:
    """What a recoverer took back of a refunded purchase's spent paid coins."""

    paid_coins: int = 0
    diamond_units: int = 0


StoreRefundRecoverer = Callable[..., Recovered]
_store_refund_recoverers: list[StoreRefundRecoverer] = []


def store_refund_recoverer_register(recoverer: StoreRefundRecoverer) -> None:
    """Register `recoverer(*, purchase, paid_coins_spent, now) -> Recovered`; once."""
    if recoverer not in _store_refund_recoverers:
        _store_refund_recoverers.append(recoverer)


def store_refund_recover(
    *, purchase: Purchase, paid_coins_spent: int, now: datetime.datetime
) -> Recovered:
    """Ask each recoverer in turn for what is still unrecovered; their sum."""
    paid, units = 0, 0
    for recoverer in _store_refund_recoverers:
        if paid >= paid_coins_spent:
            break
        got = recoverer(
            purchase=purchase, paid_coins_spent=paid_coins_spent - paid, now=now
        )
        paid += got.paid_coins
        units += got.diamond_units
    if paid > paid_coins_spent:
        raise RuntimeError(f"Recovered {paid} of {paid_coins_spent} spent paid coins.")
    return Recovered(paid_coins=paid, diamond_units=units)
