"""Payouts' services, one module a job: a creator's request (`requests`), the
approval queue (`decisions`), sending and recording results (`processing`), the
one recorder of status changes (`transitions`) and payout method changes
(`methods`)."""

from .decisions import (
    approval_refusal,
    payout_approve,
    payout_reject,
    payout_retry,
    payout_return,
)
from .methods import (
    payout_method_change_confirm,
    payout_method_change_reject,
    payout_method_change_request,
)
from .processing import payout_results_record, payouts_due, payouts_send
from .requests import (
    PayoutRefused,
    PayoutRequestResult,
    payout_gross,
    payout_quote,
    payout_request,
)
from .transitions import InvalidTransition, NotAllowed

__all__ = [
    "InvalidTransition",
    "approval_refusal",
    "NotAllowed",
    "PayoutRefused",
    "PayoutRequestResult",
    "payout_approve",
    "payout_method_change_confirm",
    "payout_method_change_reject",
    "payout_method_change_request",
    "payout_gross",
    "payout_quote",
    "payout_reject",
    "payout_request",
    "payout_results_record",
    "payout_retry",
    "payout_return",
    "payouts_due",
    "payouts_send",
]
