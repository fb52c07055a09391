"""What one log line costs, in CPU microseconds, as production writes it.

`python -m bench.log_cost` (no database, no network): production's settings
(`DJANGO_DEBUG=0`, `LOG_FORMAT=json`), stderr redirected to a file as a process
manager's pipe or file would take it, and process CPU time over many lines of:

  a. request_finished   django-structlog's line, with a request's bound context
  b. money_event        a gift_sent line as core.logs.money_event logs it
  c. stdlib warning     logging.getLogger("django.x").warning(...)
  d. middleware         RequestLogMiddleware around a trivial view, at INFO and
                        WARNING: the difference is what the request's line costs

`--profile a|b|c|d|d-` prints cProfile's top functions (`--top N`) for one of them
instead (`d-` is the middleware at WARNING).
"""

import argparse
import cProfile
import logging
import logging.config
import os
import pstats
import secrets
import sys
import tempfile
import time

LINES = 20_000
REQUESTS = 10_000
REPEATS = 5


def _django_setup() -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="testserver",
        DJANGO_ALLOW_SANDBOX="1",
        PAYMENT_STORE_SANDBOX_SECRET=secrets.token_urlsafe(32),
        PAYOUT_PROVIDER_SANDBOX_SECRET=secrets.token_urlsafe(32),
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    os.environ.pop("SENTRY_DSN", None)
    import django

    django.setup()


def _stderr_to_file() -> str:
    """fd 2 (and so sys.stderr) writes to a file from here on; its path."""
    sys.stderr.flush()
    fd, path = tempfile.mkstemp(prefix="log_cost-", suffix=".log")
    os.dup2(fd, 2)
    os.close(fd)
    return path


def _levelled(level: str) -> None:
    from django.conf import settings

    from config.logs import logging_config

    logging.config.dictConfig(
        logging_config(level=level, log_format=settings.LOG_FORMAT)
    )


def _cases():
    """name -> (label, one call that logs, at which level, calls per timing)."""
    import structlog
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpResponse
    from django.test import RequestFactory

    from accounts.models import User
    from core.logs import current_request, money_logger
    from core.middleware import RequestLogMiddleware

    request_logger = structlog.stdlib.get_logger("django_structlog.middlewares.request")
    user = User(pk=4242, username="bench")
    answering = RequestFactory().get("/api/v1/wallet/")
    answering.user = user

    def request_finished():
        token = current_request.set(answering)
        structlog.contextvars.bind_contextvars(
            request_id="0b6f8b8e-5d1c-4c36-9d7f-0a1b2c3d4e5f", ip="127.0.0.1"
        )
        request_logger.info("request_finished", code=200, request="GET /api/v1/wallet/")
        structlog.contextvars.clear_contextvars()
        current_request.reset(token)

    def gift_sent():
        money_logger.log(
            logging.INFO,
            "gift_sent",
            gift_send_id=123456,
            sender_id=4242,
            creator_id=77,
            gift="rose",
            quantity=3,
            coins=3,
            creator_diamond_units=1_500_000,
            platform_diamond_units=1_500_000,
            placement="live",
            stream_id="s1",
        )

    django_logger = logging.getLogger("django.x")

    def stdlib_warning():
        django_logger.warning("Not Found: %s", "/api/v1/nowhere/")

    middleware = RequestLogMiddleware(lambda request: HttpResponse("ok"))
    factory = RequestFactory()

    def answered():
        request = factory.get("/bench/bare/")
        request.user = AnonymousUser()
        middleware(request)

    return {
        "a": ("a. request_finished", request_finished, "INFO", LINES),
        "b": ("b. money_event", gift_sent, "INFO", LINES),
        "c": ("c. stdlib warning", stdlib_warning, "INFO", LINES),
        "d": ("d. middleware, INFO", answered, "INFO", REQUESTS),
        "d-": ("d. middleware, WARNING", answered, "WARNING", REQUESTS),
    }


def _per_call_us(runs: dict) -> dict:
    """name -> µs per call: the fastest of REPEATS runs (the others lost CPU to the
    machine's neighbours), the cases taking turns so a busy spell hits them all."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(REPEATS):
        for name, (_, call, level, count) in runs.items():
            _levelled(level)
            started = time.process_time()
            for _ in range(count):
                call()
            best[name] = min(best[name], time.process_time() - started)
    return {name: best[name] / runs[name][3] * 1e6 for name in runs}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=["a", "b", "c", "d", "d-"])
    parser.add_argument("--top", type=int, default=25, help="functions profiled")
    args = parser.parse_args(argv)

    _django_setup()
    log_path = _stderr_to_file()
    cases = _cases()
    try:
        if args.profile:
            label, call, level, count = cases[args.profile]
            _levelled(level)
            profile = cProfile.Profile()
            profile.runcall(lambda: [call() for _ in range(count)])
            print(f"{label}: {count} calls")
            pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(
                args.top
            )
            return
        for _, call, level, _ in cases.values():
            _levelled(level)
            call()  # warm: loggers are cached on first use
        results = _per_call_us(cases)
        for name, (label, *_) in cases.items():
            print(f"{label:<26} {results[name]:8.1f} µs")
        gap = results["d"] - results["d-"]
        print(
            f"{'d. INFO - WARNING':<26} {gap:8.1f} µs per request "
            f"({gap / results['d'] * 100:.0f} % of the INFO request)"
        )
        print(f"lines written: {os.path.getsize(log_path):,} bytes in {log_path}")
    finally:
        os.unlink(log_path)


if __name__ == "__main__":
    main()
