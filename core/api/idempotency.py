"""The Idempotency-Key header of a request that moves money, and its answer."""

import re

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,200}$")
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=True,
    pattern=_KEY_PATTERN.pattern,
    description="A key unique to this attempt (1-200 printable characters); "
    "a repeat with the same key and the same request returns the first result and "
    "moves nothing; the same key with a different request is refused with 422 "
    "(`idempotency_key_reused`).",
)
KEY_REUSED = OpenApiResponse(
    description="This Idempotency-Key was already used for a different request: "
    "`{detail, code: idempotency_key_reused}`; nothing was done."
)


def idempotency_key_from(request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not _KEY_PATTERN.match(key):
        raise ValidationError(
            {"Idempotency-Key": ["Send 1 to 200 printable characters in this header."]}
        )
    return key


def created_or_replayed(body, *, created: bool) -> Response:
    """201 for a new record; 200 with the first result for a replayed key."""
    return Response(
        body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
    )
