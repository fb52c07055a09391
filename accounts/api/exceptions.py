import logging

from django.db import DataError, IntegrityError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import ServiceError

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    """DRF's handler, plus service refusals and constraint violations as 4xx."""
    if isinstance(exc, ServiceError):
        if exc.field:
            data = {exc.field: [exc.message]}
        else:
            data = {"detail": exc.message, "code": exc.code, **exc.extra}
        return Response(data, status=exc.status_code)
    if isinstance(exc, IntegrityError):
        # A constraint caught what validation did not: the request conflicts with
        # stored data; nothing was written (the transaction rolled back).
        logger.warning("Integrity error answered as 409: %s", exc)
        return Response(
            {"detail": "The request conflicts with existing data.", "code": "conflict"},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DataError):
        # A value the database cannot hold at all (a NUL character, say): bad input.
        logger.info("Data error answered as 400: %s", exc)
        return Response(
            {
                "detail": "The request holds a value that cannot be stored.",
                "code": "invalid_value",
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, OperationalError):
        # The database dropped the connection or broke a deadlock: the transaction
        # rolled back whole, so the client may safely retry with the same key.
        logger.warning("Database operational error answered as 503: %s", exc)
        return Response(
            {
                "detail": "The request could not be completed; nothing was recorded. "
                "Retry with the same Idempotency-Key.",
                "code": "temporarily_unavailable",
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )
    return drf_exception_handler(exc, context)
