"""Structured logs: one event per line, with the request id and the user.

Every line goes through structlog (django-structlog binds the request's id and the
user; its Celery receivers carry them into the tasks a request queues), whether it
was logged with structlog or with the standard `logging`. Production writes JSON
lines on stderr (config/settings.py, `LOG_FORMAT`).

Money events (`money_event`) are logged once each, after the transaction that made
them commits, with their amounts and references.
"""

import contextvars
import logging
import re
import uuid

import structlog
from django.db import transaction
from django.utils.functional import empty

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept when it is an id: no spaces, quotes or control characters
# that could forge a second log line or a header, and short.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/@-]{1,128}")

# Keys whose values never reach a log line, whoever logs them.
SECRET_KEYS = frozenset(
    {
        "password",
        "token",
        "key",
        "receipt",
        "secret",
        "authorization",
        "api_key",
        "signature",
        "iban",
        "bank_iban",
        "destination",
        "paypal_email",
        "account_number",
        "sessionid",
        "csrftoken",
    }
)
REDACTED = "[redacted]"

# The request being answered, for the user id of lines logged during it.
current_request: contextvars.ContextVar = contextvars.ContextVar(
    "current_request", default=None
)

money_logger = structlog.stdlib.get_logger("money")


def request_id_sane(value: str | None) -> str:
    """The request id an upstream proxy sent, if it is a sane one; else a new one."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return str(uuid.uuid4())


def account_masked(value: str) -> str:
    """An account number or IBAN as a log line may show it: its last four."""
    value = "".join(value.split())
    return f"****{value[-4:]}" if len(value) > 4 else "****"


def request_user_id(request) -> int | None:
    """The authenticated user of `request`, if authentication already ran: never
    a query of its own (a session not read yet stays unread)."""
    user = request.__dict__.get("user")
    if user is None or getattr(user, "_wrapped", None) is empty:
        return None
    return getattr(user, "pk", None)


def user_id_added(logger, method_name, event_dict):
    """structlog processor: the user of the request being answered, when known."""
    if "user_id" not in event_dict:
        request = current_request.get()
        if request is not None:
            user_id = request_user_id(request)
            if user_id is not None:
                event_dict["user_id"] = user_id
    return event_dict


def task_context_with_user(sender, context, **kwargs):
    """What a queued task carries (django-structlog's context): the user too."""
    request = current_request.get()
    if "user_id" not in context and request is not None:
        user_id = request_user_id(request)
        if user_id is not None:
            context["user_id"] = user_id


def secrets_redacted(logger, method_name, event_dict):
    """structlog processor: no secret under a known key reaches a line, whoever
    logged it."""
    for key in event_dict.keys() & SECRET_KEYS:
        event_dict[key] = REDACTED
    return event_dict


def money_event(event: str, *, level: int = logging.INFO, **fields) -> None:
    """Log a money event once its transaction commits: a rolled-back one never."""
    transaction.on_commit(lambda: money_logger.log(level, event, **fields))
