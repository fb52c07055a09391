"""Prometheus metrics: the requests answered, and what the apps count or report.

Two kinds of figure:

- counted in the process that sees the event: requests (by view, method and
  status), their time and their database statements (`MetricsMiddleware`), Celery
  tasks by outcome (`celery_task_counted`), and the apps' money events (each app's
  `metrics.py`, counted once its transaction commits);
- read when scraped: figures the database or the broker hold (open payouts, pending
  credits, the last reconciliation, queue lengths), from the collectors apps add
  with `scrape_collector_add`.

With `PROMETHEUS_MULTIPROC_DIR` set (production: gunicorn's workers and Celery's
prefork children are separate processes), every process writes its samples to
files there and a scrape adds them up (prometheus_client's multiprocess mode);
each process group (the web, each worker) needs a directory of its own, emptied
when it starts (config/gunicorn.py, `worker_metrics_started`). Without it a process
shows its own figures (runserver, tests).

`/metrics` is closed to the public: it answers a bearer token (`METRICS_TOKEN`) or
an address in `METRICS_ALLOWED_NETWORKS`, nothing else.
"""

import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers
from kombu import Connection
from kombu.exceptions import ChannelError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# A view name for answers no URL pattern matched: a scanner's paths must not each
# become a series of their own.
UNMATCHED = "<unmatched>"
# Any other method a client makes up is counted as one: each label value is a
# series of its own, kept in every process's files.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"

REQUESTS = Counter(
    "giftshop_http_requests",
    "Requests answered, by view (URL name), method and status.",
    ["view", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "giftshop_http_request_duration_seconds",
    "Time to answer a request, by view.",
    ["view"],
    # The API's answers take milliseconds; the admin's big lists up to a second.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
QUERIES = Counter(
    "giftshop_db_queries",
    "Database statements run while answering requests, by view.",
    ["view"],
)
TASKS = Counter(
    "giftshop_celery_tasks",
    "Celery tasks finished, by task and outcome (success, failure, retry).",
    ["task", "outcome"],
)

# Called per scrape, each returning a prometheus_client collector (an object
# with `collect()`): figures read from the database or the broker.
_scrape_collectors: list[Callable[[], object]] = []


def scrape_collector_add(make_collector: Callable[[], object]) -> None:
    """Add figures read at scrape time (an app's `ready` calls this once)."""
    if make_collector not in _scrape_collectors:
        _scrape_collectors.append(make_collector)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None


def multiprocess_dir_emptied() -> None:
    """Start a process group's figures from nothing: files a previous run left
    would otherwise be added to this run's, and gauges of dead processes kept."""
    path = multiprocess_dir()
    if path is None:
        return
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):
        stale.unlink(missing_ok=True)


def process_gone(pid: int) -> None:
    """A gunicorn worker or Celery child exited: its live gauges go with it."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)


class _Scrape:
    """One scrape's sources, as `generate_latest` reads them."""

    def __init__(self, sources: Iterable):
        self.sources = list(sources)

    def collect(self):
        for source in self.sources:
            yield from source.collect()


def exposition(*, with_scrape_collectors: bool) -> bytes:
    """The text a scrape answers: this process group's counted figures and, on
    the web, the figures read now from the database and the broker."""
    path = multiprocess_dir()
    sources = [
        multiprocess.MultiProcessCollector(None, path=path) if path else REGISTRY
    ]
    if with_scrape_collectors:
        sources += [make() for make in _scrape_collectors]
    return generate_latest(_Scrape(sources))


def metrics_allowed(authorization: str, remote_addr: str) -> bool:
    """Whether a scrape may read the figures: the right bearer token, or an
    address in an allowed network. Neither set: nobody may."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return True
    if settings.METRICS_ALLOWED_NETWORKS:
        try:
            address = ipaddress.ip_address(remote_addr)
        except ValueError:
            return False
        return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)
    return False


def _refused() -> HttpResponse:
    response = HttpResponse(
        "Metrics need a bearer token or an allowed address.\n",
        status=403,
        content_type="text/plain; charset=utf-8",
    )
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def metrics_answer(request) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=405)
        response["Allow"] = "GET, HEAD"
        return response
    if not metrics_allowed(
        request.META.get("HTTP_AUTHORIZATION", ""), request.META.get("REMOTE_ADDR", "")
    ):
        return _refused()
    response = HttpResponse(
        exposition(with_scrape_collectors=True), content_type=CONTENT_TYPE_LATEST
    )
    add_never_cache_headers(response)
    return response


def view_name(request) -> str:
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else UNMATCHED


class MetricsMiddleware:
    """Counts every answer (by view, method, status), its time and its database
    statements; answers `/metrics` itself, before host checks and the HTTPS
    redirect (Prometheus scrapes a worker by its own address), unlogged."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == METRICS_PATH:
            return metrics_answer(request)
        started = time.perf_counter()
        statements = 0

        def counted(execute, sql, params, many, context):
            nonlocal statements
            statements += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counted):
            response = self.get_response(request)
        view = view_name(request)
        method = request.method if request.method in METHODS else OTHER_METHOD
        REQUESTS.labels(view, method, str(response.status_code)).inc()
        REQUEST_SECONDS.labels(view).observe(time.perf_counter() - started)
        if statements:
            QUERIES.labels(view).inc(statements)
        return response


# --- Celery ---------------------------------------------------------------------

# A scrape must answer well inside Prometheus's own time-out (10 s by default).
BROKER_TIMEOUT_SECONDS = 2


class QueueLengths:
    """Tasks waiting in each of Celery's queues, read from the broker per scrape."""

    def __init__(self, broker_url: str, queues: Iterable[str]):
        self.broker_url = broker_url
        self.queues = list(queues)

    def collect(self):
        up = GaugeMetricFamily(
            "giftshop_metrics_broker_up",
            "1 when the scrape could read the broker's queue lengths, else 0.",
        )
        lengths = GaugeMetricFamily(
            "giftshop_celery_queue_length",
            "Tasks waiting in a Celery queue (not yet taken by a worker).",
            labels=["queue"],
        )
        try:
            with Connection(
                self.broker_url, connect_timeout=BROKER_TIMEOUT_SECONDS
            ) as broker:
                broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
                channel = broker.default_channel
                for queue in self.queues:
                    lengths.add_metric([queue], _queue_length(channel, queue))
        except Exception:  # kombu raises each transport's own errors
            logger.warning("metrics: the broker's queue lengths could not be read")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield lengths


def _queue_length(channel, queue: str) -> int:
    try:
        _, waiting, _ = channel.queue_declare(queue=queue, passive=True)
    except ChannelError:
        # Redis keeps no key for an empty queue; it has no tasks either way.
        return 0
    return waiting


def queue_lengths_collector():
    conf = current_app.conf
    queues = {conf.task_default_queue, *(q.name for q in conf.task_queues or ())}
    return QueueLengths(settings.CELERY_BROKER_URL, sorted(queues))


def celery_task_counted(task_name: str, outcome: str) -> None:
    TASKS.labels(task_name, outcome).inc()


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        # A scrape every few seconds is not news; refusals are logged by the app.
        pass


def _worker_metrics_app(environ, start_response):
    if environ.get("PATH_INFO") != METRICS_PATH:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not found.\n"]
    if not metrics_allowed(
        environ.get("HTTP_AUTHORIZATION", ""), environ.get("REMOTE_ADDR", "")
    ):
        start_response(
            "403 Forbidden",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("WWW-Authenticate", 'Bearer realm="metrics"'),
            ],
        )
        return [b"Metrics need a bearer token or an allowed address.\n"]
    body = exposition(with_scrape_collectors=False)
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [body]


def worker_metrics_started(address: str, port: int) -> WSGIServer:
    """A Celery worker's own `/metrics` (its main process and its children), in a
    thread; closed to the public as the web's is."""
    server = make_server(
        address,
        port,
        _worker_metrics_app,
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    logger.info("worker metrics on %s:%s%s", address, port, METRICS_PATH)
    return server
