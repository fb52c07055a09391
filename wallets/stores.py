"""Payment stores verify receipts; each is an adapter chosen in settings.

`PAYMENT_STORES` maps a store (`apple`, `google`, `web`) to an adapter class path.
The sandbox adapter is the default and what the tests use; a real store plugs in
with the same two methods, without touching the services.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from catalog.models import COUNTRY_CODE
from core.errors import ServiceError


@dataclass(frozen=True)
class VerifiedReceipt:
    transaction_id: str
    sku: str
    # Where the store charged, ISO 3166-1 alpha-2 as regions are coded (Google
    # Play's regionCode is; the App Store's storefrontCountryCode is alpha-3, USA, and
    # its adapter converts it); None only when the store does not say.
    storefront: str | None = None

    def __post_init__(self):
        if self.storefront is not None and not _is_country_code(self.storefront):
            # An adapter bug, not the buyer's: every purchase would be refused.
            raise ValueError(
                f"storefront must be ISO 3166-1 alpha-2, not {self.storefront!r}"
            )


class ReceiptRejected(ServiceError):
    code = "receipt_rejected"


class StoreUnavailable(ServiceError):
    status_code = 503
    code = "store_unavailable"


class PaymentStore(Protocol):
    def verify_receipt(
        self, receipt: str, *, sku: str, user_id: int
    ) -> VerifiedReceipt:
        """Check a receipt with the store: genuine, for `sku`, bought by `user_id`.

        `user_id` is what the client app passed to the store at purchase time
        (Apple's appAccountToken, Google's obfuscatedAccountId). Raise
        ReceiptRejected or StoreUnavailable; never return for a receipt that is not
        this user's purchase of this product. Report the storefront whenever the
        store gives it: the purchase's region is checked against it.
        """
        ...

    def verify_notification(self, body: bytes, signature: str) -> bool: ...


SANDBOX_OUTCOMES = ("accept", "reject", "timeout")
# 2: the store is a required claim. Version 1 receipts (any store honoured them,
# so one could be credited once per store) are refused.
SANDBOX_RECEIPT_VERSION = 2
# Longer than the store transaction id column holds: refused, never truncated.
TRANSACTION_ID_MAX_LENGTH = 128


class SandboxStore:
    """A deterministic stand-in for a store, told what to do by a signed receipt.

    A sandbox receipt is `<payload>.<signature>`: the payload is base64url (no
    padding) of a JSON object `{"v": 2, "store", "txn", "sku", "user", "outcome"}`
    (and optionally `"storefront"`, the region it was bought in) and the signature
    is base64url of its HMAC-SHA256 under a key derived from
    `PAYMENT_STORE_SANDBOX_SECRET` (see `sandbox_receipt`). Only a receipt signed
    with that key, by this store, for the bundle bought, by the user it was minted
    for, is honoured; `outcome` then says what the store does: `accept` credits,
    `reject` is refused, `timeout` behaves as a store that does not answer.
    A refund notification is signed with HMAC-SHA256 of the body under a key derived
    from the secret and the store's name (see `sandbox_signature`): a body signed
    for one store is no other store's notification.
    """

    # Production mode refuses it without the staging switch (core/production.py).
    sandbox = True

    def __init__(self, name: str):
        self.name = name

    def verify_receipt(
        self, receipt: str, *, sku: str, user_id: int
    ) -> VerifiedReceipt:
        claims = sandbox_receipt_claims(receipt)
        if claims is None:
            raise self._rejected()
        if claims["outcome"] == "timeout":
            raise StoreUnavailable(
                f"The {self.name} store did not answer; retry with the same "
                "Idempotency-Key."
            )
        if claims["outcome"] != "accept":
            raise self._rejected()
        if claims["store"] != self.name:
            raise self._rejected(f"This receipt is from the {claims['store']} store.")
        if claims["user"] != user_id:
            # Another account's purchase: Apple's appAccountToken does not match.
            raise self._rejected("This receipt was bought by another account.")
        if claims["sku"] != sku:
            raise self._rejected(f"This receipt is for {claims['sku']}, not {sku}.")
        return VerifiedReceipt(
            transaction_id=claims["txn"],
            sku=claims["sku"],
            storefront=claims.get("storefront"),
        )

    def verify_notification(self, body: bytes, signature: str) -> bool:
        expected = sandbox_signature(body, store=self.name)
        # As bytes: compare_digest refuses non-ASCII text, and a header may hold any.
        given = (signature or "").encode("utf-8", "replace")
        return hmac.compare_digest(expected.encode(), given)

    def _rejected(self, why: str = "") -> ReceiptRejected:
        message = f"The {self.name} store rejected this receipt."
        return ReceiptRejected(f"{message} {why}".strip(), field="receipt")


def sandbox_signature(body: bytes, *, store: str) -> str:
    """The `X-Store-Signature` the sandbox `store` sends with a notification `body`."""
    # A key per store: one store's signed body never refunds another store's
    # purchase that happens to share its transaction id.
    key = _derived_key(
        settings.PAYMENT_STORE_SANDBOX_SECRET, f"sandbox-notification-key:{store}"
    )
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _receipt_key() -> bytes:
    # A key of its own, derived from the secret: a notification signature can never
    # pass as a receipt signature.
    secret = getattr(settings, "PAYMENT_STORE_SANDBOX_RECEIPT_SECRET", "") or (
        settings.PAYMENT_STORE_SANDBOX_SECRET
    )
    return _derived_key(secret, "sandbox-receipt-key")


def _derived_key(secret: str, purpose: str) -> bytes:
    if not secret:
        # Production mode without the development default: an empty key is no key.
        raise ImproperlyConfigured("PAYMENT_STORE_SANDBOX_SECRET is not set.")
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    # Strict: only the url-safe alphabet, so one receipt has one spelling.
    return base64.b64decode(
        text + "=" * (-len(text) % 4), altchars=b"-_", validate=True
    )


def _receipt_mac(payload: str) -> bytes:
    return hmac.new(_receipt_key(), payload.encode("ascii"), hashlib.sha256).digest()


def sandbox_receipt(
    user_id: int,
    sku: str,
    transaction_id: str,
    outcome: str = "accept",
    *,
    store: str,
    storefront: str | None = None,
) -> str:
    """Mint a signed sandbox receipt, as the store would hand it to the client app.

    `user_id` is the account it is bought for, `sku` the bundle's store product,
    `store` the only store that honours it, as with a real store's receipt;
    `storefront`, if given, the region it was bought in, which a purchase must name.
    """
    if outcome not in SANDBOX_OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(SANDBOX_OUTCOMES)}")
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id <= 0:
        raise ValueError("user_id must be a positive integer")
    if not sku or not transaction_id or transaction_id != transaction_id.strip():
        raise ValueError("sku and transaction_id must be non-empty, unpadded text")
    if len(transaction_id) > TRANSACTION_ID_MAX_LENGTH:
        raise ValueError(
            f"transaction_id is longer than {TRANSACTION_ID_MAX_LENGTH} characters"
        )
    if not isinstance(store, str) or not store:
        raise ValueError("store must name the store that honours the receipt")
    if storefront is not None and not _is_country_code(storefront):
        raise ValueError("storefront must be an ISO 3166-1 code such as US")
    claims = {
        "store": store,
        "v": SANDBOX_RECEIPT_VERSION,
        "txn": transaction_id,
        "sku": sku,
        "user": user_id,
        "outcome": outcome,
    }
    if storefront is not None:
        claims["storefront"] = storefront
    payload = _b64encode(
        json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    )
    return f"{payload}.{_b64encode(_receipt_mac(payload))}"


def sandbox_receipt_claims(receipt: str) -> dict | None:
    """The claims of a genuine sandbox receipt, or None for anything else.

    The signature is checked before the payload is decoded: nothing an attacker
    writes is parsed unless the key signed it.
    """
    if not isinstance(receipt, str) or not receipt.isascii():
        return None
    payload, dot, signature = receipt.partition(".")
    if not dot or not payload or not signature:
        return None
    # Compared as text: one signature has one spelling (no loose padding bits).
    expected = _b64encode(_receipt_mac(payload))
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return None
    try:
        claims = json.loads(_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(claims, dict) or claims.get("v") != SANDBOX_RECEIPT_VERSION:
        return None
    txn, sku, user = claims.get("txn"), claims.get("sku"), claims.get("user")
    valid = (
        isinstance(txn, str)
        and 0 < len(txn) <= TRANSACTION_ID_MAX_LENGTH
        and txn == txn.strip()
        and isinstance(sku, str)
        and sku
        and isinstance(user, int)
        and not isinstance(user, bool)
        and claims.get("outcome") in SANDBOX_OUTCOMES
        and isinstance(claims.get("store"), str)
        and claims["store"]
        and ("storefront" not in claims or _is_country_code(claims["storefront"]))
    )
    return claims if valid else None


def _is_country_code(value) -> bool:
    return isinstance(value, str) and re.match(COUNTRY_CODE, value) is not None


def payment_store(name: str) -> PaymentStore:
    return import_string(settings.PAYMENT_STORES[name])(name)
