"""What a run is given: the flags and BENCH_* variables, and the PostgreSQL server
and dedicated database it runs on (bench/README.md lists them)."""

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "latest.json"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/"
DEFAULT_DB = "giftshop_bench"
# A Redis database of its own: the harness refuses one whose queue holds tasks.
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


@dataclass
class Config:
    quick: bool
    duration: int
    warmup: int
    wait_quiet: int
    growth: list[int]
    connections: int
    wrk_threads: int
    workers: int
    worker_class: str
    threads: int
    server_url: str
    database: str
    out: Path
    keep_db: bool
    senders: int
    buyers: int
    creators: int
    admin: bool = True
    admin_rows: int = 1_000_000
    admin_requests: int = 30
    celery: str = "auto"  # "auto": when the broker answers; "1": must; "0": never
    celery_payouts: int = 10_000
    celery_noop: int = 10_000
    celery_concurrency: int = 2
    broker_url: str = DEFAULT_BROKER
    payout_provider: str = ""  # the worker's PAYOUT_PROVIDER; "" keeps settings'
    only: list[str] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.server_url.rstrip("/") + "/" + self.database


def config_from(argv: list[str], description: str) -> Config:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
        help="smoke mode: 1 s per scenario, a small population (BENCH_QUICK=1)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(os.environ.get("BENCH_OUT") or DEFAULT_OUT),
        help=f"JSON results file (BENCH_OUT; default {DEFAULT_OUT.relative_to(ROOT)})",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    connections = env_int("BENCH_CONNECTIONS", 8 if quick else 16)
    server, database = _server_and_database()
    return Config(
        quick=quick,
        duration=env_int("BENCH_DURATION", 1 if quick else 10),
        warmup=env_int("BENCH_WARMUP", 0 if quick else 2),
        wait_quiet=env_int("BENCH_WAIT_QUIET", 0),
        growth=sorted(
            int(size) for size in os.environ.get("BENCH_GROWTH", "").split(",") if size
        ),
        connections=connections,
        wrk_threads=min(env_int("BENCH_WRK_THREADS", 2), connections),
        # One sync worker per core: with PostgreSQL and wrk on the same cores,
        # more workers only cost CPU per request (measured: bench/README.md).
        workers=env_int("BENCH_WORKERS", max(2, cores)),
        worker_class=os.environ.get("BENCH_WORKER_CLASS") or "sync",
        threads=env_int("BENCH_THREADS", 1),
        server_url=server,
        database=database,
        out=args.out,
        keep_db=os.environ.get("BENCH_KEEP_DB", "") not in ("", "0"),
        senders=env_int("BENCH_SENDERS", 200 if quick else 2000),
        buyers=env_int("BENCH_BUYERS", 100 if quick else 1000),
        creators=env_int("BENCH_CREATORS", 1000),
        admin=os.environ.get("BENCH_ADMIN", "1") not in ("", "0"),
        admin_rows=env_int("BENCH_ADMIN_ROWS", 2000 if quick else 1_000_000),
        admin_requests=env_int("BENCH_ADMIN_REQUESTS", 3 if quick else 30),
        celery=(os.environ.get("BENCH_CELERY") or "auto").lower(),
        celery_payouts=env_int("BENCH_CELERY_PAYOUTS", 200 if quick else 10_000),
        celery_noop=env_int("BENCH_CELERY_NOOP", 200 if quick else 10_000),
        celery_concurrency=env_int("BENCH_CELERY_CONCURRENCY", 2),
        broker_url=os.environ.get("BENCH_BROKER_URL") or DEFAULT_BROKER,
        payout_provider=os.environ.get("BENCH_PAYOUT_PROVIDER", ""),
        only=[s for s in os.environ.get("BENCH_SCENARIOS", "").split(",") if s],
    )


def _server_and_database() -> tuple[str, str]:
    """The PostgreSQL server of BENCH_DATABASE_URL, else of DATABASE_URL, else
    local; the database is always a dedicated one, never the app's or pytest's."""
    explicit = os.environ.get("BENCH_DATABASE_URL", "")
    url = explicit or os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = DEFAULT_SERVER + DEFAULT_DB
    parts = urlsplit(url)
    database = parts.path.lstrip("/") if explicit else DEFAULT_DB
    if "bench" not in database:
        sys.exit(f"BENCH_DATABASE_URL: refusing {database!r}; its name needs 'bench'.")
    return urlunsplit(parts._replace(path="/", query="", fragment="")), database
