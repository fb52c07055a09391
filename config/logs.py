"""The logging set-up, for settings.LOGGING: structlog renders every line, from
structlog or the standard `logging` alike (core/logs.py says what a line carries).

Every line leaves through a `LineHandler` on the root logger, written whole under
its lock. The lines logged on every request or money event, structlog's below
WARNING, go to it straight from structlog: no `LogRecord`, no caller lookup, no
second copy. Warnings and errors, and every line of the standard `logging`, take
the standard way, so Sentry and pytest's `caplog` see them as records.
"""

import json
import logging
import sys

import orjson
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

# The levels whose structlog lines skip the standard `logging` (BoundLogger).
_STRAIGHT = {"debug": logging.DEBUG, "info": logging.INFO}


class BoundLogger(structlog.stdlib.BoundLogger):
    """structlog's stdlib logger, whose debug and info lines go straight to the
    root's LineHandlers once processed: the levels are still the standard
    `logging`'s (`filter_by_level`, LOGGING's loggers)."""

    def _proxy_to_logger(self, method_name, event=None, *event_args, **event_kw):
        if method_name not in _STRAIGHT:
            return super()._proxy_to_logger(method_name, event, *event_args, **event_kw)
        levelno = _STRAIGHT[method_name]
        # As filter_by_level, before the context is copied: request_started is
        # logged at DEBUG on every request.
        if not self._logger.isEnabledFor(levelno):
            return None
        if event_args:
            event_kw["positional_args"] = event_args
        try:
            args, _ = self._process_event(method_name, event, event_kw)
        except structlog.DropEvent:
            return None
        (event_dict,) = args  # as ProcessorFormatter.wrap_for_formatter left it
        for handler in logging.root.handlers:
            if isinstance(handler, LineHandler) and levelno >= handler.level:
                handler.emit_processed(self._logger, method_name, event_dict)
        return None


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
        wrapper_class=BoundLogger,
        cache_logger_on_first_use=True,
    )


def json_dumps(event_dict: dict, *, default) -> str:
    """orjson, several times faster than `json`; `json` for what orjson refuses
    (an integer beyond 64 bits, a lone surrogate)."""
    try:
        return orjson.dumps(
            event_dict, default=default, option=orjson.OPT_NON_STR_KEYS
        ).decode()
    except TypeError:
        return json.dumps(event_dict, default=default)


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
        structlog.processors.JSONRenderer(serializer=json_dumps)
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


class LineHandler(logging.StreamHandler):
    """Writes each line in `log_format` to `stream`, in one write under the
    handler's lock: the threads of a gthread worker never mix two lines."""

    def __init__(self, stream=None, log_format: str = "json"):
        super().__init__(stream)
        self.setFormatter(structured_formatter(log_format))
        self.processors = _renderer(log_format)

    def emit_processed(self, logger, method_name: str, event_dict: dict) -> None:
        """Writes a line structlog processed (BoundLogger): no record to format."""
        try:
            line = dict(event_dict)  # the next handler renders it too
            for processor in self.processors:
                line = processor(logger, method_name, line)
            with self.lock:
                self.stream.write(line + self.terminator)
                self.flush()
        except Exception:
            # As for a record: a line that cannot be written never fails the caller.
            self.handleError(logging.makeLogRecord({"msg": event_dict.get("event")}))


def logging_config(*, level: str, log_format: str) -> dict:
    """settings.LOGGING: one line per event on stderr, in `log_format`; stdout
    stays the commands' own (`dumpdata`, the benchmark's JSON answers)."""
    structlog_configure()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "console": {
                "()": LineHandler,
                "stream": "ext://sys.stderr",
                "log_format": log_format,
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
