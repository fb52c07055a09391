"""How the API answers database errors that reach its exception handler."""

import psycopg
from django.db import InternalError, OperationalError

from core.api.exceptions import exception_handler


def raised_from(django_error, cause):
    """A Django database error as Django's wrapper raises it: from the driver's."""
    error = django_error(str(cause))
    error.__cause__ = cause
    return error


def test_a_lost_connection_and_a_broken_reply_are_a_503_to_retry():
    dropped = raised_from(
        OperationalError, psycopg.OperationalError("server closed the connection")
    )
    # PgBouncer's answer to a COMMIT on a server connection killed meanwhile.
    broken = raised_from(
        InternalError, psycopg.InternalError("received 2 results from command 'COMMIT'")
    )

    for error in (dropped, broken):
        response = exception_handler(error, {})
        assert response.status_code == 503
        assert response.data["code"] == "temporarily_unavailable"
        assert response["Retry-After"] == "1"


def test_an_internal_error_from_postgresql_itself_is_not_hidden_as_a_retry():
    # A statement in a transaction that already failed: a bug, not an outage.
    aborted = raised_from(
        InternalError,
        psycopg.errors.InFailedSqlTransaction("current transaction is aborted"),
    )

    assert exception_handler(aborted, {}) is None  # left to Django: a 500
