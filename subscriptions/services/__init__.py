"""The subscriptions' services: tiers, and subscriptions with their renewals."""

from .refunds import (
    ChargeRefundRefused,
    charge_refund_approve,
    charge_refund_reject,
    charge_refund_request,
)
from .renewals import subscriptions_due, subscriptions_queue_due, subscriptions_renew
from .subscriptions import (
    AlreadySubscribed,
    PriceChanged,
    Renewal,
    SubscribeResult,
    SubscriptionRefused,
    subscription_cancel,
    subscription_renew,
    subscription_resume,
    subscription_subscribe,
)
from .tiers import TierRefused, tier_create, tier_update

__all__ = [
    "AlreadySubscribed",
    "ChargeRefundRefused",
    "PriceChanged",
    "Renewal",
    "SubscribeResult",
    "SubscriptionRefused",
    "TierRefused",
    "charge_refund_approve",
    "charge_refund_reject",
    "charge_refund_request",
    "subscription_cancel",
    "subscription_renew",
    "subscription_resume",
    "subscription_subscribe",
    "subscriptions_due",
    "subscriptions_queue_due",
    "subscriptions_renew",
    "tier_create",
    "tier_update",
]
