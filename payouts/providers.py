"""Payout providers pay creators; each is an adapter chosen in settings.

`PAYOUT_PROVIDER` names the adapter class. The sandbox is the default and what the
tests use: a deterministic stand-in for a PayPal-like batch payout service. A real
provider plugs in with the same two methods, without touching the services.
"""

import hashlib
import hmac
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.db import transaction
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

    def send_batch(self, items: list[PayoutItem]) -> list[PayoutResult]:
        from .models import SandboxPayoutRecord

        if any("+timeout" in item.destination for item in items):
            raise ProviderTimeout("The sandbox provider did not answer.")
        results = []
        for item in items:
            time.sleep(settings.PAYOUT_SANDBOX_MS_PER_ITEM / 1000)
            with transaction.atomic():
                record, created = (
                    SandboxPayoutRecord.objects.select_for_update().get_or_create(
                        reference=item.reference,
                        defaults={
                            "outcome": "failed"
                            if "+fail" in item.destination
                            else "paid",
                            "amount": item.amount,
                            "currency": item.currency,
                        },
                    )
                )
                record.times_received += 1
                if created and record.outcome == "paid":
                    record.times_paid = 1
                record.save(update_fields=["times_received", "times_paid"])
            results.append(
                PayoutResult(
                    reference=item.reference,
                    paid=record.outcome == "paid",
                    provider_id=f"SBX-{record.id}",
                    reason=""
                    if record.outcome == "paid"
                    else "Receiver account refused.",
                )
            )
        return results

    def verify_callback(self, body: bytes, signature: str) -> bool:
        return hmac.compare_digest(sandbox_callback_signature(body), signature or "")


def sandbox_callback_signature(body: bytes) -> str:
    secret = settings.PAYOUT_PROVIDER_SANDBOX_SECRET.encode()
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def payout_provider() -> PayoutProvider:
    return import_string(settings.PAYOUT_PROVIDER)()
