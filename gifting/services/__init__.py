"""Gifting's services: sending gifts (sponsored too) and moving creators between
levels."""

from .gifts import GiftRefused, GiftSendResult, diamond_split, gift_send
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
    "gift_send",
    "level_for",
]
