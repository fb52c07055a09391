"""Gifting's services: sending gifts (sponsored too), moving creators between
levels, the earnings hold."""

from .gifts import GiftRefused, GiftSendResult, diamond_split, gift_send
from .holds import earnings_hold_errors, earnings_hold_set, hold_take_back
from .levels import (
    creator_level_pin,
    creator_levels_recompute,
    creators_set_suspended,
    level_for,
)

__all__ = [
    "GiftRefused",
    "GiftSendResult",
    "creator_level_pin",
    "creator_levels_recompute",
    "creators_set_suspended",
    "diamond_split",
    "earnings_hold_errors",
    "earnings_hold_set",
    "gift_send",
    "hold_take_back",
    "level_for",
]
