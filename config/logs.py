"""The logging set-up, for settings.LOGGING: structlog renders every line, from
structlog or the standard `logging` alike (core/logs.py says what a line carries)."""

import logging
import sys

import structlog

from core.logs import secrets_redacted, user_id_added

LOG_FORMATS = ("json", "keyvalue", "console")

# Both kinds of line get these: the request's (or task's) context, level, logger
# and time, then secrets taken out.
_SHARED = [
    structlog.contextvars.merge_contextvars,
    user_id_added,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    secrets_redacted,
]


def structlog_configure() -> None:
    structlog.configure(
        processors=[
            # First: a line below the level costs nothing more.
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _renderer(log_format: str) -> list:
    if log_format == "console":
        # A plain traceback: a rich one would print each frame's locals, receipts
        # and passwords among them.
        return [
            structlog.dev.ConsoleRenderer(
                colors=sys.stderr.isatty(),
                exception_formatter=structlog.dev.plain_traceback,
            )
        ]
    renderer = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if log_format == "json"
        else structlog.processors.KeyValueRenderer(
            key_order=["timestamp", "level", "event", "logger", "request_id"],
            drop_missing=True,
        )
    )
    return [structlog.processors.format_exc_info, renderer]


def structured_formatter(log_format: str) -> logging.Formatter:
    """Renders any record, from structlog or the standard `logging`, as one line."""
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_renderer(log_format),
        ],
        foreign_pre_chain=_SHARED,
    )


def logging_config(*, level: str, log_format: str) -> dict:
    """settings.LOGGING: one line per event on stderr, in `log_format`; stdout
    stays the commands' own (`dumpdata`, the benchmark's JSON answers)."""
    structlog_configure()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {"()": structured_formatter, "log_format": log_format}
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "structured",
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # Django's own lines go to the root's handler only: one line per event.
        "loggers": {
            "django": {"handlers": [], "level": level, "propagate": True},
            # Says again, without the request id, what django-structlog's
            # request_finished and request_failed lines say.
            "django.request": {"level": "CRITICAL"},
        },
    }
