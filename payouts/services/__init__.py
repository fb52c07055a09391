"""Payouts' services: gift sending, creator levels, and cash-outs."""

from .cashouts import (
    InvalidTransition,
    NotAllowed,
    PayoutRefused,
    PayoutRequestResult,
    cash_rate_current,
    payout_approve,
    payout_quote,
    payout_reject,
    payout_request,
    payout_results_record,
    payout_retry,
    payout_return,
    payouts_due,
    payouts_send,
)
from .gifts import GiftRefused, GiftSendResult, diamond_split, gift_send
from .levels import (
    creator_level_pin,
    creator_levels_recompute,
    creators_set_suspended,
    diamonds_earned_since,
    level_for,
)
from .methods import (
    payout_method_change_confirm,
    payout_method_change_reject,
    payout_method_change_request,
)

__all__ = [
    "InvalidTransition",
    "NotAllowed",
    "PayoutRefused",
    "PayoutRequestResult",
    "cash_rate_current",
    "payout_approve",
    "payout_method_change_confirm",
    "payout_method_change_reject",
    "payout_method_change_request",
    "payout_quote",
    "payout_reject",
    "payout_request",
    "payout_results_record",
    "payout_retry",
    "payout_return",
    "payouts_due",
    "payouts_send",
    "GiftRefused",
    "GiftSendResult",
    "creator_level_pin",
    "creator_levels_recompute",
    "creators_set_suspended",
    "diamond_split",
    "diamonds_earned_since",
    "gift_send",
    "level_for",
]
