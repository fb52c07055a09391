"""A client's Idempotency-Key and the request it was first used with.

A service that moves money stores, beside the key, a fingerprint of the request:
the SHA-256 of the service's own validated input in one canonical form. A repeat
with the key and the same input replays the first answer; with other input it is
refused (`422 idempotency_key_reused`), as Stripe does, so a client never mistakes
the first result for that of its second, different request.
"""

import hashlib
import json
from decimal import Decimal

from django.db import models

from .errors import ServiceError

FINGERPRINT_LENGTH = 64


class IdempotencyKeyReused(ServiceError):
    status_code = 422
    code = "idempotency_key_reused"


def _canonical(value):
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Decimal):
        # 25000 and 25000.0000 are the same amount.
        return format(value.normalize(), "f")
    raise TypeError(f"No canonical form for {type(value).__name__}")


def request_fingerprint(operation: str, **params) -> str:
    """The fingerprint of one request: what it asks for, however the client spelt it.

    The validated input, not the raw body: key order, spacing, a default left out
    or a number written as "100.0" do not make a different request. Objects count
    by primary key.
    """
    canonical = json.dumps(
        {"operation": operation, **params},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_canonical,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay_check(first, *, fingerprint: str) -> None:
    """Refuse to replay `first` (a row a key already made) for a different request.

    Rows from before fingerprints were kept have none: those replay as before.
    """
    stored = first.request_fingerprint
    if stored and stored != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different request; "
            "nothing was done. Send a new key for a new request."
        )


def fingerprint_field() -> models.CharField:
    # A database default too: rows written by raw SQL (the benchmark's bulk loads)
    # get the empty fingerprint of a row from before.
    return models.CharField(
        max_length=FINGERPRINT_LENGTH,
        blank=True,
        default="",
        db_default="",
        editable=False,
        help_text="SHA-256 of the request that first used the idempotency key "
        "(core/idempotency.py); empty on rows from before it was kept.",
    )
