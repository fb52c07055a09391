"""Payment stores verify receipts; each is an adapter chosen in settings.

`PAYMENT_STORES` maps a store (`apple`, `google`, `web`) to an adapter class path.
The sandbox adapter is the default and what the tests use; a real store plugs in
with the same two methods, without touching the services.
"""

import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from accounts.errors import ServiceError


@dataclass(frozen=True)
class VerifiedReceipt:
    transaction_id: str
    sku: str


class ReceiptRejected(ServiceError):
    code = "receipt_rejected"


class StoreUnavailable(ServiceError):
    status_code = 503
    code = "store_unavailable"


class PaymentStore(Protocol):
    def verify_receipt(self, receipt: str, *, sku: str) -> VerifiedReceipt: ...

    def verify_notification(self, body: bytes, signature: str) -> bool: ...


class SandboxStore:
    """A deterministic stand-in for a store, told what to do by the receipt itself.

    `accept:<transaction id>` is a valid receipt for the bundle asked for,
    `reject:<anything>` is refused, `timeout:<anything>` behaves as a store that does
    not answer. Notifications are signed with HMAC-SHA256 of the body under
    `PAYMENT_STORE_SANDBOX_SECRET`.
    """

    def __init__(self, name: str):
        self.name = name

    def verify_receipt(self, receipt: str, *, sku: str) -> VerifiedReceipt:
        outcome, _, transaction_id = receipt.partition(":")
        if outcome == "timeout":
            raise StoreUnavailable(
                f"The {self.name} store did not answer; retry with the same "
                "Idempotency-Key."
            )
        if outcome != "accept" or not transaction_id.strip():
            raise ReceiptRejected(
                f"The {self.name} store rejected this receipt.", field="receipt"
            )
        return VerifiedReceipt(transaction_id=transaction_id.strip(), sku=sku)

    def verify_notification(self, body: bytes, signature: str) -> bool:
        expected = sandbox_signature(body)
        return hmac.compare_digest(expected, signature or "")


def sandbox_signature(body: bytes) -> str:
    secret = settings.PAYMENT_STORE_SANDBOX_SECRET.encode()
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def payment_store(name: str) -> PaymentStore:
    return import_string(settings.PAYMENT_STORES[name])(name)
