"""Error reports to Sentry, or any service that speaks its protocol: on when
`SENTRY_DSN` is set, off otherwise (nothing is initialised, nothing is patched).

No personal data leaves: `send_default_pii=False` (no user e-mail, address or
cookies), values under secret-looking keys are filtered wherever they sit (request
bodies, headers, frame variables), and `personal_data_scrubbed` masks e-mail
addresses, bank accounts, receipts and tokens inside any text (exception messages
included). Each report carries the request id of the request or task it came from.
"""

import re

import structlog

from .logs import SECRET_KEYS

# Frame variables, request fields and headers under these names are filtered.
_DENIED_KEYS = sorted(
    SECRET_KEYS
    | {
        "email",
        "paypal_email",
        "bank_account_holder",
        "bank_bic",
        "birth_date",
    }
)
_TEXT_MASKS = (
    # E-mail addresses.
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    # IBANs (two letters, two check digits, 11 to 30 more), spaced or not.
    (re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]){11,30}\b"), "[account]"),
    # Long runs of digits: card and account numbers.
    (re.compile(r"\b\d{8,}\b"), "[number]"),
    # Signed receipts and tokens: long base64url text with a dot, or 40 hex digits.
    (re.compile(r"[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"), "[receipt]"),
    (re.compile(r"\b[0-9a-f]{40}\b"), "[token]"),
)
# Ids of the report itself, not data.
_KEPT_KEYS = frozenset(
    {"event_id", "trace_id", "span_id", "parent_span_id", "request_id", "task_id"}
)


def error_reports_init(
    *, dsn: str, environment: str, traces_sample_rate: float | None
) -> bool:
    """Start reporting to `dsn`; without one, do nothing. True when started."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        event_scrubber=EventScrubber(
            denylist=sorted(set(DEFAULT_DENYLIST) | set(_DENIED_KEYS)),
            recursive=True,
        ),
        before_send=personal_data_scrubbed,
        traces_sample_rate=traces_sample_rate or None,
    )
    return True


def personal_data_scrubbed(event: dict, hint: dict) -> dict:
    """Sentry's before_send: the request id added, personal data masked in text."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return _masked(event)


def _masked(value, key: str | None = None):
    if key in _KEPT_KEYS:
        return value
    if isinstance(value, str):
        for pattern, mask in _TEXT_MASKS:
            value = pattern.sub(mask, value)
        return value
    if isinstance(value, dict):
        return {name: _masked(item, name) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value
