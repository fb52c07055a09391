"""Payout providers pay creators; each is an adapter chosen in settings.

`PAYOUT_PROVIDER` names the adapter class. The sandbox is the default and what the
tests use: a deterministic stand-in for a PayPal-like batch payout service. A real
provider plugs in with the same two methods, without touching the services.
"""

import hashlib
import hmac
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class PayoutItem:
    reference: str
    amount: Decimal
    currency: str
    method: str
    destination: str


@dataclass(frozen=True)
class PayoutResult:
    reference: str
    paid: bool
    provider_id: str = ""
    reason: str = ""


class ProviderTimeout(Exception):
    """The provider did not answer: the items may or may not have been paid."""


class PayoutProvider(Protocol):
    def send_batch(self, items: list[PayoutItem]) -> list[PayoutResult]: ...

    def verify_callback(self, body: bytes, signature: str) -> bool: ...


class SandboxPayoutProvider:
    """Pays, fails or times out by the destination, and pays a reference only once.

    A destination containing `+fail` is refused, `+timeout` makes the whole batch time
    out; anything else is paid. Sending a reference again returns its first result
    and pays nothing more; `SandboxPayoutRecord` counts what was received and paid.
    """

    # Production mode refuses it without the staging switch (core/production.py).
    sandbox = True

    def send_batch(self, items: list[PayoutItem]) -> list[PayoutResult]:
        if any("+timeout" in item.destination for item in items):
            raise ProviderTimeout("The sandbox provider did not answer.")
        for _ in items:
            time.sleep(settings.PAYOUT_SANDBOX_MS_PER_ITEM / 1000)
        # A concurrent batch may insert one of our new references between our
        # SELECT and INSERT: the INSERT then waits for it and fails, and a second
        # pass finds the reference recorded (and locked) like any resend.
        for attempt in range(3):
            try:
                records = self._record(items)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        results = []
        for item in items:
            record = records[item.reference]
            paid = record.outcome == "paid"
            results.append(
                PayoutResult(
                    reference=item.reference,
                    paid=paid,
                    provider_id=f"SBX-{record.id}",
                    reason="" if paid else "Receiver account refused.",
                )
            )
        return results

    @staticmethod
    def _record(items: list[PayoutItem]) -> dict:
        """Record one send of `items`, in one transaction of three statements."""
        from .models import SandboxPayoutRecord

        received = Counter(item.reference for item in items)
        with transaction.atomic():
            # Locked in reference order, as the INSERT below writes new ones: two
            # overlapping batches wait for each other instead of deadlocking.
            records = {
                record.reference: record
                for record in SandboxPayoutRecord.objects.select_for_update()
                .filter(reference__in=list(received))
                .order_by("reference")
            }
            for record in records.values():
                record.times_received += received[record.reference]
            new = {}
            for item in sorted(items, key=lambda item: item.reference):
                if item.reference in records or item.reference in new:
                    continue
                outcome = "failed" if "+fail" in item.destination else "paid"
                new[item.reference] = SandboxPayoutRecord(
                    reference=item.reference,
                    outcome=outcome,
                    amount=item.amount,
                    currency=item.currency,
                    times_received=received[item.reference],
                    times_paid=1 if outcome == "paid" else 0,
                )
            if records:
                # A known reference is never paid again: only its sends are counted.
                SandboxPayoutRecord.objects.bulk_update(
                    records.values(), ["times_received"]
                )
            if new:
                SandboxPayoutRecord.objects.bulk_create(new.values())
        return records | new

    def verify_callback(self, body: bytes, signature: str) -> bool:
        """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`, as Stripe-like
        providers sign: a callback older or newer than the tolerance is refused, so
        a captured one cannot be replayed later."""
        fields = dict(part.partition("=")[::2] for part in (signature or "").split(","))
        stamp, given = fields.get("t", ""), fields.get("v1", "")
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
            return False
        if abs(time.time() - int(stamp)) > CALLBACK_TOLERANCE_SECONDS:
            return False
        expected = sandbox_callback_signature(body, at=int(stamp))
        # As bytes: compare_digest refuses non-ASCII text, and a header may hold any.
        return hmac.compare_digest(
            expected.encode(), f"t={stamp},v1={given}".encode("utf-8", "replace")
        )


# How far a callback's signing time may be from ours, either way.
CALLBACK_TOLERANCE_SECONDS = 300


def sandbox_callback_signature(body: bytes, *, at: int | None = None) -> str:
    """The sandbox provider's `X-Provider-Signature` for `body`, signed at `at`."""
    at = int(time.time()) if at is None else at
    if not settings.PAYOUT_PROVIDER_SANDBOX_SECRET:
        # Production mode without the development default: an empty key is no key.
        raise ImproperlyConfigured("PAYOUT_PROVIDER_SANDBOX_SECRET is not set.")
    secret = settings.PAYOUT_PROVIDER_SANDBOX_SECRET.encode()
    mac = hmac.new(secret, f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def payout_provider() -> PayoutProvider:
    return import_string(settings.PAYOUT_PROVIDER)()
