import re

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

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


class CodeRelatedField(serializers.SlugRelatedField):
    """A related object named by its slug, sku or code, which is text.

    A NUL character is refused here: PostgreSQL cannot hold one, so the lookup
    would fail as a database error instead of naming the field.
    """

    default_error_messages = {"invalid": "Send the {slug_name} as text."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or "\x00" in data:
            self.fail("invalid", slug_name=self.slug_field)
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "pattern": "^[A-Z]{2}$"})
class RegionCodeField(CodeRelatedField):
    """A region named by its ISO 3166-1 alpha-2 code, e.g. US."""


class NewestFirst(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def get_page_size(self, request):
        # A page size that is not one is a 400 naming it, not silently the default.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (
            raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size
        ):
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"Send a whole number from 1 to {self.max_page_size}."
                    ]
                }
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters

    def get_paginated_response_schema(self, schema):
        described = super().get_paginated_response_schema(schema)
        properties = described["properties"]
        properties["next"]["description"] = "URL of the next (older) page, or null."
        properties["previous"]["description"] = "URL of the previous page, or null."
        properties["results"]["description"] = "This page's items, newest first."
        return described


def created_or_replayed(body, *, created: bool) -> Response:
    """201 for a new record; 200 with the first result for a replayed key."""
    return Response(
        body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
    )


class MoneyMovingThrottle(ScopedRateThrottle):
    """Per-user rate limit on requests that move money; reads are not counted.

    Views name their scope (`throttle_scope`); the rates are settings. A request
    over the limit is a 429 with Retry-After.
    """

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)


NOT_A_CREATOR = OpenApiResponse(description="Not a creator.")
ONLY_CREATORS = "Only creators have earnings."


def creator_read(summary: str, answer, tag: str):
    """The schema of a read only a creator may make: anyone else is a 403."""
    return extend_schema(
        summary=summary,
        responses={
            status.HTTP_200_OK: answer,
            status.HTTP_403_FORBIDDEN: NOT_A_CREATOR,
        },
        tags=[tag],
    )


def present_or_forbidden(value, message: str):
    """`value`, or a 403 with `message` when there is none (e.g. no creator profile)."""
    if value is None:
        raise PermissionDenied(message)
    return value
