"""A read that only a creator may make: a 403 for anyone else, said once for the
gifting and payouts APIs (neither may import the other's `api`)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied

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
