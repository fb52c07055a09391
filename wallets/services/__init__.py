"""Wallets' services, one module a job: buying coins, refunds, buyers' refund
requests, manual adjustments and the home region. The ledger's own postings are
in `wallets.ledger`."""

from .adjustments import (
    ADJUST_PERMISSION,
    APPROVE_ADJUSTMENT_PERMISSION,
    MAX_ADJUSTMENT,
    AdjustmentPreview,
    AdjustmentRefused,
    balance_adjustment_approve,
    balance_adjustment_preview,
    balance_adjustment_reject,
    balance_adjustment_request,
)
from .purchases import (
    PurchaseRefused,
    PurchaseResult,
    promotions_for,
    purchase_record,
    spending_check,
)
from .refund_requests import (
    RefundRequestResult,
    refund_request_approve,
    refund_request_create,
    refund_request_decline,
)
from .refunds import (
    REFUND_PERMISSION,
    RESOLVE_UNRECOVERED_PERMISSION,
    RefundRefused,
    RefundResult,
    purchase_refund,
    store_refund_notification_handle,
    unrecovered_store_refund_resolve,
)
from .regions import HOME_REGION_PERMISSION, home_region_set

__all__ = [
    "ADJUST_PERMISSION",
    "APPROVE_ADJUSTMENT_PERMISSION",
    "HOME_REGION_PERMISSION",
    "MAX_ADJUSTMENT",
    "REFUND_PERMISSION",
    "RESOLVE_UNRECOVERED_PERMISSION",
    "AdjustmentPreview",
    "AdjustmentRefused",
    "PurchaseRefused",
    "PurchaseResult",
    "RefundRefused",
    "RefundRequestResult",
    "RefundResult",
    "balance_adjustment_approve",
    "balance_adjustment_preview",
    "balance_adjustment_reject",
    "balance_adjustment_request",
    "home_region_set",
    "promotions_for",
    "purchase_record",
    "purchase_refund",
    "refund_request_approve",
    "refund_request_create",
    "refund_request_decline",
    "spending_check",
    "store_refund_notification_handle",
    "unrecovered_store_refund_resolve",
]
