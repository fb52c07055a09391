"""Liveness and readiness for load balancers and orchestrators.

`/healthz`: the process answers (touches nothing). `/readyz`: the database answers,
every migration is applied, the cache works and, when Celery has a real broker, the
broker accepts a connection; each check timed, JSON, `503` naming what failed.

Answered by a middleware placed first, before host validation and the HTTPS
redirect: a load balancer probes a worker by its own address over plain HTTP, and
neither is a reason to call a healthy worker dead. No authentication, no session,
no database write. The checks are django-health-check's where it has them; a probe's
database work runs on a connection of its own, opened and closed per check.
"""

import asyncio
import dataclasses
import datetime
import logging

from django.conf import settings
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.utils.cache import add_never_cache_headers
from health_check.base import HealthCheck
from health_check.checks import Cache, Database
from health_check.exceptions import ServiceUnavailable
from kombu import Connection

logger = logging.getLogger(__name__)

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
# A probe must answer well inside a load balancer's own time-out (typically 5 s).
CHECK_TIMEOUT = datetime.timedelta(seconds=2)


@dataclasses.dataclass
class MigrationsApplied(HealthCheck):
    """Ready only when the code's migrations are all applied: a worker of a new
    release must not serve before `migrate` ran."""

    alias: str = "default"
    timeout = CHECK_TIMEOUT

    def run(self):
        connection = connections[self.alias]
        with connection.temporary_connection():
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            raise ServiceUnavailable(f"{len(plan)} migration(s) not applied")


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker (Redis or RabbitMQ) accepts a connection, through kombu as
    Celery's own workers and producers connect."""

    url: str = dataclasses.field(default="", repr=False)
    timeout = CHECK_TIMEOUT

    def run(self):
        seconds = self.timeout.total_seconds()
        try:
            with Connection(self.url, connect_timeout=seconds) as connection:
                connection.ensure_connection(max_retries=1, timeout=seconds)
        except Exception as error:  # kombu raises each transport's own errors
            raise ServiceUnavailable("broker unreachable") from error


def readiness_checks() -> dict[str, HealthCheck]:
    checks = {
        "database": Database(),
        "migrations": MigrationsApplied(),
        "cache": Cache(),
    }
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        checks["broker"] = Broker(url=settings.CELERY_BROKER_URL)
    return checks


async def _results(checks: dict[str, HealthCheck]) -> dict[str, dict]:
    results = await asyncio.gather(*(check.get_result() for check in checks.values()))
    report = {}
    for name, result in zip(checks, results, strict=True):
        entry = {"ok": result.error is None, "ms": round(result.time_taken * 1000, 1)}
        if result.error is not None:
            # The detail goes to the log; an unauthenticated answer names the failure.
            logger.warning("readiness: %s failed: %s", name, result.error)
        report[name] = entry
    return report


def readiness() -> tuple[int, dict]:
    report = asyncio.run(_results(readiness_checks()))
    failing = [name for name, entry in report.items() if not entry["ok"]]
    body = {"status": "unavailable" if failing else "ready", "checks": report}
    if failing:
        body["failing"] = failing
    return (503 if failing else 200), body


def _answer(status: int, body: dict) -> JsonResponse:
    response = JsonResponse(body, status=status)
    add_never_cache_headers(response)
    return response


class HealthMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info.rstrip("/")
        if path not in (LIVENESS_PATH, READINESS_PATH):
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = _answer(405, {"detail": "GET or HEAD only."})
            response["Allow"] = "GET, HEAD"
            return response
        if path == LIVENESS_PATH:
            return _answer(200, {"status": "alive"})
        return _answer(*readiness())
