"""Each pytest-xdist worker gets its own Redis databases.

Loaded with `-p` (pyproject's addopts), so before Django reads its settings: the
workers share the machine's Redis, and a Celery worker started by one test would
otherwise take the tasks another test enqueued for its own database, and one
test's `cache.clear()` would empty another's cache. Worker N uses the Redis
database N below the one configured (gw0 the configured one itself).
"""

import os
from urllib.parse import urlsplit, urlunsplit


def _redis_database_for_worker(url: str, worker: int) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or worker == 0:
        return url
    base = int(parts.path.lstrip("/") or 0)
    if base < worker:
        raise RuntimeError(
            f"xdist worker gw{worker} needs Redis database {base} - {worker}: "
            f"configure a database number of at least {worker} in {url!r}"
        )
    return urlunsplit(parts._replace(path=f"/{base - worker}"))


# The Redis tests that need a server when no cache is configured (the leaderboards'):
# one database per worker too, or two workers' boards of creator 1 would be one.
os.environ.setdefault("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw"):
    for _name in ("CELERY_BROKER_URL", "CACHE_URL", "TEST_REDIS_URL"):
        if os.environ.get(_name):
            os.environ[_name] = _redis_database_for_worker(
                os.environ[_name], int(_worker[2:])
            )
