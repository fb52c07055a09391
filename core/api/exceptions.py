import logging

from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import (
    DataError,
    IntegrityError,
    InternalError,
    OperationalError,
)
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import ServiceError

logger = logging.getLogger(__name__)


def connection_lost(exc: BaseException) -> bool:
    """The database connection died under the request: PostgreSQL dropped it
    (OperationalError), or, behind PgBouncer, a server connection killed
    mid-transaction reached psycopg as a broken reply to the next statement or
    COMMIT ("received 2 results from command 'COMMIT'"), an InternalError of
    psycopg's own, without the SQLSTATE every error from PostgreSQL carries.
    Either way the transaction is lost whole."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, InternalError)
        and getattr(exc.__cause__, "sqlstate", "") is None
    )


def _raised_by_a_parser(exc: BaseException) -> bool:
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_globals.get("__name__") == "rest_framework.parsers":
            return True
        frame = frame.tb_next
    return False


def exception_handler(exc, context):
    """DRF's handler, plus service refusals, constraint violations and bodies
    that cannot be read as 4xx."""
    if isinstance(exc, ServiceError):
        if exc.field:
            data = {exc.field: [exc.message]}
        else:
            data = {"detail": exc.message, "code": exc.code, **exc.extra}
        return Response(data, status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        # Django refuses to read it (DATA_UPLOAD_MAX_MEMORY_SIZE); DRF would re-raise
        # it for Django to answer as an HTML 400.
        return Response(
            {"detail": "The request body is too large.", "code": "too_large"},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, RecursionError) and _raised_by_a_parser(exc):
        # JSON nested deeper than Python recurses: DRF's parser turns only
        # ValueError into a 400.
        return Response(
            {"detail": "JSON parse error - nested too deeply.", "code": "parse_error"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return Response(
            {"detail": "The request has too many fields.", "code": "too_many_fields"},
            status=status.HTTP_400_BAD_REQUEST,
        )
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
    if connection_lost(exc):
        # The database dropped the connection, broke a deadlock, or (SQLite) kept its
        # lock past the busy timeout: the transaction rolled back whole, so the client
        # may safely retry with the same key.
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
