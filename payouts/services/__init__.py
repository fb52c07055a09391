"""Payouts' services: cash-outs and payout method changes."""

from .cashouts import (
    InvalidTransition,
    NotAllowed,
    PayoutRefused,
    PayoutRequestResult,
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
]
