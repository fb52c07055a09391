"""`make bench`: the real stack under load, figures comparable on any machine.

Creates a dedicated PostgreSQL database, migrates and seeds it with the project's own
commands plus `bench_seed`, serves the app with gunicorn in production mode, loads it
from wrk (one scenario at a time, fixed duration and connections), checks the ledger,
measures pgbench's single-row update as a reference, and reports each scenario as
requests/s and as a ratio to the bare endpoint measured in the same run: absolute
figures depend on the machine, ratios much less. See bench/README.md.
"""

import argparse
import contextlib
import ctypes
import datetime
import functools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from .machine import (
    CpuMeter,
    MemorySampler,
    machine_info,
    pgbench_path,
    proc_status_kb,
    wait_until_quiet,
    worker_pids,
)

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "lua" / "scenario.lua"
DEFAULT_OUT = ROOT / "bench" / "results" / "latest.json"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/"
DEFAULT_DB = "giftshop_bench"
# A Redis database of its own: the harness refuses one whose queue holds tasks.
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"

GIFT_BODY = (
    '{"gift": "rose", "creator": {creator}, "quantity": 1, "placement": "live", '
    '"stream_id": "bench-stream-{creator}", "region": "US"}'
)
PURCHASE_BODY = (
    '{"bundle": "coins_100", "region": "US", "channel": "app", "store": "apple", '
    '"receipt": "{receipt}"}'
)


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    method: str
    path: str
    users: str  # whose tokens: "senders" or "buyers"
    expect: int  # the one status that counts as success; any other is an error
    body: str = ""
    idempotent: bool = False  # sends a unique Idempotency-Key per request
    creators: str = ""  # "all" or "hot": which creators the gifts go to
    conditional: bool = False  # sends If-None-Match with the current ETag
    target: float | None = None  # the target ratio to bare


SCENARIOS = [
    Scenario(
        "bare", "token auth + one indexed read", "GET", "/bench/bare/", "senders", 200
    ),
    Scenario(
        "catalog",
        "GET /api/v1/gifts/?region=US",
        "GET",
        "/api/v1/gifts/?region=US",
        "senders",
        200,
        target=0.9,
    ),
    Scenario(
        "catalog_304",
        "same, If-None-Match: ETag -> 304",
        "GET",
        "/api/v1/gifts/?region=US",
        "senders",
        304,
        conditional=True,
        target=1.0,
    ),
    Scenario(
        "wallet",
        "GET /api/v1/wallet/",
        "GET",
        "/api/v1/wallet/",
        "senders",
        200,
        target=0.8,
    ),
    Scenario(
        "purchase",
        "POST /api/v1/purchases/ (coins_100)",
        "POST",
        "/api/v1/purchases/",
        "buyers",
        201,
        body=PURCHASE_BODY,
        idempotent=True,
        target=0.5,
    ),
    Scenario(
        "gifts_spread",
        "POST /api/v1/gift-sends/, 1,000 creators",
        "POST",
        "/api/v1/gift-sends/",
        "senders",
        201,
        body=GIFT_BODY,
        idempotent=True,
        creators="all",
        target=0.6,
    ),
    Scenario(
        "gifts_hot",
        "POST /api/v1/gift-sends/, one creator",
        "POST",
        "/api/v1/gift-sends/",
        "senders",
        201,
        body=GIFT_BODY,
        idempotent=True,
        creators="hot",
        target=0.5,
    ),
]
# What an endpoint issuing as many ORM statements as a gift send (15 with the token
# lookup and the region; payouts/tests/test_api.py pins the count) or a purchase (17,
# with the read of the buyer's home region) can reach at best on this stack: the
# bare request plus one-row reads in a transaction. Their ratio to bare bounds the
# gift and purchase targets.
GIFT_STATEMENTS, PURCHASE_STATEMENTS = 15, 17
SCENARIOS += [
    Scenario(
        "floor_gift",
        f"bare + reads: a gift's {GIFT_STATEMENTS} statements, nothing else",
        "GET",
        f"/bench/floor/?statements={GIFT_STATEMENTS}",
        "senders",
        200,
    ),
    Scenario(
        "floor_purchase",
        f"bare + reads: a purchase's {PURCHASE_STATEMENTS} statements, nothing else",
        "GET",
        f"/bench/floor/?statements={PURCHASE_STATEMENTS}",
        "senders",
        200,
    ),
]
# Measured again at the end: how far the machine drifted during the run.
BARE_AGAIN = Scenario(
    "bare_end", "bare again, after everything", "GET", "/bench/bare/", "senders", 200
)
# The growth runs repeat these after topping the ledger up (BENCH_GROWTH).
GROWTH_SCENARIOS = ("bare", "wallet", "gifts_spread", "gifts_hot")
HOT_OVER_SPREAD_TARGET = 0.85
WORKER_RSS_TARGET_MB = 150
ADMIN_PAGE_TARGET_MS = 300
CELERY_RATE_TARGET = 0.5  # payouts paid per second over no-op tasks per second
CELERY_RSS_TARGET_MB = 200
# Above this share of the machine used by other processes, figures are noisy.
NOISY_OTHER_PCT = 10


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


def config_from(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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


class Stack:
    """Every process the harness starts, so each one ends however the run ends."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []
        self.started_pids: list[int] = []

    def start(self, command: list[str], *, env: dict, log_name: str, **kwargs):
        # The log stays open for the process's life; the child holds its own copy.
        with open(self.workdir / log_name, "ab") as log:
            process = self._popen(command, env=env, log=log, **kwargs)
        self.processes.append(process)
        self.started_pids.append(process.pid)
        return process

    def _popen(self, command, *, env, log, **kwargs):
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own process group, so stopping it reaches its children too; and
            # on Linux it dies with this harness even on SIGKILL.
            start_new_session=True,
            preexec_fn=_die_with_parent,
            **kwargs,
        )

    def stop(self, process) -> None:
        """Stop one process (and its children) the harness started."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def step(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def django_env(config: Config, workdir: Path) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "DATABASE_", "CELERY_", "PAYMENT_STORE_", "PAYOUT_PROVIDER")
        )
    }
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        # Production mode on the sandbox store and provider, as a staging deployment
        # runs: the switch and fresh secrets (the commands that mint the receipts
        # get this same environment).
        DJANGO_ALLOW_SANDBOX="1",
        PAYMENT_STORE_SANDBOX_SECRET=secrets.token_urlsafe(32),
        PAYOUT_PROVIDER_SANDBOX_SECRET=secrets.token_urlsafe(32),
        DATABASE_URL=config.database_url,
        DJANGO_MEDIA_ROOT=str(workdir / "media"),
        BENCH_STATIC_ROOT=str(workdir / "static"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def manage(env: dict, *args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BenchError(
            f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        )
    return result.stdout if capture else ""


class BenchError(Exception):
    pass


def database_recreate(config: Config, *, create: bool = True) -> None:
    with psycopg.connect(config.server_url + "postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{config.database}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{config.database}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_start(stack: Stack, config: Config, env: dict, port: int):
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(config.workers),
        "--worker-class", config.worker_class,
        "--threads", str(config.threads),
        "--log-level", "warning",
        "--timeout", "60",
        "--graceful-timeout", "5",
    ]  # fmt: skip
    help_text = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True
    ).stdout
    if "--no-control-socket" in help_text:
        # Else every gunicorn on the machine shares ~/.gunicorn/gunicorn.ctl.
        command.append("--no-control-socket")
    return stack.start(command, env=env, log_name="gunicorn.log")


def http_get(url: str, token: str, timeout: float = 5) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def wait_ready(process, url: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            if http_get(url, token, timeout=2)[0] == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"gunicorn did not answer in 60 s:\n{log.read_text()[-3000:]}")


def wrk_run(
    config: Config,
    scenario: Scenario,
    *,
    base_url: str,
    workdir: Path,
    duration: int,
    etag: str = "",
) -> dict:
    out = workdir / f"wrk-{scenario.name}.json"
    creators = {
        "all": workdir / "creators.txt",
        "hot": workdir / "hot_creator.txt",
    }.get(scenario.creators, "")
    env = {
        **os.environ,
        "BENCH_METHOD": scenario.method,
        "BENCH_PATH": scenario.path,
        "BENCH_TOKENS": str(workdir / f"{scenario.users}.txt"),
        "BENCH_CREATORS": str(creators),
        "BENCH_BODY": scenario.body,
        "BENCH_IDEMPOTENCY": "1" if scenario.idempotent else "0",
        "BENCH_IF_NONE_MATCH": etag,
        # Unique per run and scenario: keys and receipts never repeat.
        "BENCH_RUN": f"{scenario.name}-{secrets.token_hex(4)}",
        "BENCH_THREADS": str(config.wrk_threads),
        "BENCH_OUT": str(out),
    }
    command = [
        "wrk",
        f"--threads={config.wrk_threads}",
        f"--connections={config.connections}",
        f"--duration={duration}s",
        "--timeout=5s",
        f"--script={LUA}",
        base_url + scenario.path,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0 or not out.exists():
        raise BenchError(f"wrk failed on {scenario.name}:\n{result.stderr}")
    raw = json.loads(out.read_text())
    seconds = raw["duration_us"] / 1e6
    statuses = {int(code): count for code, count in raw["statuses"].items()}
    socket_errors = sum(
        raw["errors"][kind] for kind in ("connect", "read", "write", "timeout")
    )
    bad_statuses = sum(
        count for code, count in statuses.items() if code != scenario.expect
    )
    return {
        "what": scenario.what,
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(raw["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(raw["latency_us"]["max"] / 1000, 2),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "expected_status": scenario.expect,
        "errors": bad_statuses + socket_errors,
        "socket_errors": raw["errors"],
        "target_ratio": scenario.target,
    }


def pgbench_run(config: Config, workdir: Path, duration: int) -> dict:
    """tps of a one-row UPDATE from as many clients as wrk has connections: the
    ceiling for any design where every gift updates one creator's row; and of each
    client updating its own row, the same without the lock queue."""
    binary = pgbench_path()
    if binary is None:
        return {"skipped": "pgbench not found (Debian: postgresql-client)"}
    with psycopg.connect(config.database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_pgbench_row "
            "(id integer PRIMARY KEY, n bigint NOT NULL DEFAULT 0)"
        )
        conn.execute(
            "INSERT INTO bench_pgbench_row (id) SELECT generate_series(0, %s) "
            "ON CONFLICT DO NOTHING",
            [config.connections],
        )
    scripts = {
        "one_row": "UPDATE bench_pgbench_row SET n = n + 1 WHERE id = 0;\n",
        "own_row": (
            "UPDATE bench_pgbench_row SET n = n + 1 WHERE id = :client_id + 1;\n"
        ),
    }
    url = urlsplit(config.server_url)
    results = {}
    for name, sql in scripts.items():
        script = workdir / f"pgbench-{name}.sql"
        script.write_text(sql)
        command = [
            binary, "--no-vacuum",
            f"--client={config.connections}",
            f"--jobs={min(config.wrk_threads, config.connections)}",
            f"--time={duration}",
            f"--file={script}",
            f"--host={url.hostname or '127.0.0.1'}",
            f"--port={url.port or 5432}",
            f"--username={url.username or 'postgres'}",
            config.database,
        ]  # fmt: skip
        env = dict(os.environ)
        if url.password:
            env["PGPASSWORD"] = url.password
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        tps = re.search(r"tps = ([\d.]+) \(without initial", result.stdout)
        latency = re.search(r"latency average = ([\d.]+) ms", result.stdout)
        if result.returncode != 0 or tps is None:
            raise BenchError(f"pgbench {name} failed:\n{result.stdout}{result.stderr}")
        results[name] = {
            "tps": round(float(tps.group(1)), 1),
            "latency_avg_ms": float(latency.group(1)) if latency else None,
        }
    return results


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def admin_time(
    base_url: str, path: str, cookie: str, requests: int, cpu: CpuMeter
) -> dict:
    """Sequential GETs of one changelist through gunicorn: what staff wait for."""
    request = urllib.request.Request(base_url + path, headers={"Cookie": cookie})

    def get() -> float:
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
            if response.status != 200 or b'id="result_list"' not in body:
                raise BenchError(f"{path}: {response.status}, no result list.")
        return (time.perf_counter() - started) * 1000

    get()  # the worker's first render of this page compiles its templates
    cpu.start()
    times = [get() for _ in range(requests)]
    return {
        "requests": requests,
        "median_ms": round(statistics.median(times), 1),
        "p99_ms": round(_percentile(times, 0.99), 1),
        "max_ms": round(max(times), 1),
        "cpu": cpu.stop(requests),
    }


def admin_stage(
    config: Config, env: dict, base_url: str, cpu: CpuMeter, small: dict
) -> dict:
    """Fill to config.admin_rows, count each page's queries again, time each page."""
    big = json.loads(
        manage(
            env,
            "bench_admin",
            f"--rows={config.admin_rows}",
            "--session",
            capture=True,
        )
    )
    session = big.pop("session_cookie")
    cookie = f"{session['name']}={session['value']}"
    pages = {}
    for name, views in big["pages"].items():
        pages[name] = {}
        for view, found in views.items():
            step(f"admin {name} {view}: {config.admin_requests} GETs {found['url']}")
            timing = admin_time(
                base_url, found["url"], cookie, config.admin_requests, cpu
            )
            few = small["pages"][name][view]
            pages[name][view] = {
                "url": found["url"],
                "rows_shown": found["rows_shown"],
                "queries": found["queries"],
                "queries_small": few["queries"],
                "rows_shown_small": few["rows_shown"],
                **timing,
                "sql": found["sql"],
            }
    every = [page for views in pages.values() for page in views.values()]
    return {
        "rows": big["rows"],
        "rows_small": small["rows"],
        "fill": big.get("fill"),
        "fill_small": small.get("fill"),
        "pages": pages,
        "queries_constant": all(p["queries"] == p["queries_small"] for p in every),
        "all_under_target": all(p["p99_ms"] < ADMIN_PAGE_TARGET_MS for p in every),
        "target_ms": ADMIN_PAGE_TARGET_MS,
    }


def broker_reachable(url: str) -> str:
    """'' when the broker answers and its queue is empty, else why not."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=2)
        client.ping()
    except (redis.RedisError, OSError) as error:
        return f"no broker at {url}: {error}"
    if client.llen("celery") or client.hlen("unacked"):
        return f"{url} holds queued tasks: give the benchmark its own Redis database"
    return ""


def _wait(condition, *, timeout: float, what: str, worker, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if worker.poll() is not None:
            raise BenchError(f"celery worker exited:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not done in {timeout:.0f} s")
        time.sleep(0.05)


def control(command, queue: str, hostname: str) -> None:
    """A remote-control command to the benchmark's worker, confirmed."""
    # A busy machine can delay a reply past the timeout; the command is idempotent.
    for _ in range(3):
        if command(queue, destination=[hostname], reply=True, timeout=10):
            return
    raise BenchError(f"the celery worker did not answer {command.__name__}")


def celery_stage(config: Config, stack: Stack, env: dict, workdir: Path) -> dict:
    """Approved payouts paid by real workers, against the same workers' no-op rate."""
    import redis
    from celery import Celery

    # Celery lets these variables override the broker an app is given: under the
    # test suite they name the suite's broker, and the client below would publish
    # and send its control commands there instead of to the benchmark's worker.
    for key in ("URL", "READ_URL", "WRITE_URL"):
        os.environ.pop(f"CELERY_BROKER_{key}", None)
    manage(env, "bench_celery", f"--payouts={config.celery_payouts}")
    worker_env = {
        **env,
        "CELERY_BROKER_URL": config.broker_url,
        # The sandbox provider answers at once: the figure is the app's own cost.
        "PAYOUT_SANDBOX_MS_PER_ITEM": "0",
    }
    if config.payout_provider:
        worker_env["PAYOUT_PROVIDER"] = config.payout_provider
    hostname = f"bench-{secrets.token_hex(3)}@{socket.gethostname()}"
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "--concurrency", str(config.celery_concurrency),
        "--pool", "prefork",
        "--loglevel", "warning",
        "--hostname", hostname,
        "--without-heartbeat", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    worker = stack.start(command, env=worker_env, log_name="celery.log")
    log = workdir / "celery.log"
    sampler = MemorySampler(worker.pid)
    sampler.start()
    cpu = CpuMeter(worker.pid, config.database)
    broker = redis.Redis.from_url(config.broker_url)
    app = Celery("bench-client", broker=config.broker_url)
    try:

        def drained() -> bool:
            return broker.llen("celery") == 0 and broker.hlen("unacked") == 0

        # Both pool processes have started and taken a task: the worker is ready.
        for _ in range(4 * config.celery_concurrency):
            app.send_task("bench.noop")
        _wait(drained, timeout=120, what="warm-up", worker=worker, log=log)

        step(f"celery: {config.celery_noop:,} no-op tasks")
        # Queued while the worker does not consume, so the publisher's speed is
        # not what is measured: the clock runs from consuming again to drained.
        control(app.control.cancel_consumer, "celery", hostname)
        started = time.perf_counter()
        for _ in range(config.celery_noop):
            app.send_task("bench.noop")
        published = time.perf_counter() - started
        cpu.start()
        started = time.perf_counter()
        control(app.control.add_consumer, "celery", hostname)
        _wait(drained, timeout=600, what="no-op tasks", worker=worker, log=log)
        noop_seconds = time.perf_counter() - started
        noop = {
            "tasks": config.celery_noop,
            "seconds": round(noop_seconds, 2),
            "publish_seconds_not_timed": round(published, 2),
            "per_second": round(config.celery_noop / noop_seconds, 1),
            "cpu": cpu.stop(config.celery_noop),
        }

        step(f"celery: dispatch_payouts, {config.celery_payouts:,} approved payouts")
        with psycopg.connect(config.database_url, autocommit=True) as conn:

            def paid() -> bool:
                done = conn.execute(
                    "SELECT count(*) FROM payouts_payout WHERE status = 'paid' "
                    "AND idempotency_key LIKE 'bench-celery-%%'"
                ).fetchone()[0]
                return done >= config.celery_payouts

            sampler.take_peak_mb()
            cpu.start()
            started = time.perf_counter()
            app.send_task("payouts.dispatch_payouts")
            _wait(paid, timeout=1800, what="payouts", worker=worker, log=log)
            payout_seconds = time.perf_counter() - started
            payouts = {
                "payouts": config.celery_payouts,
                "seconds": round(payout_seconds, 2),
                "per_second": round(config.celery_payouts / payout_seconds, 1),
                "cpu": cpu.stop(config.celery_payouts),
                "worker_rss_peak_mb": sampler.take_peak_mb(),
            }
        _wait(drained, timeout=60, what="last batches", worker=worker, log=log)
    finally:
        sampler.stopped.set()
        sampler.join()
        hwm_kb = {pid: proc_status_kb(pid, "VmHWM") for pid in [worker.pid]}
        # The pool as it ends; the sampler may also have seen a short-lived child
        # the master ran (its peak is in the figure, it is not a pool process).
        pool = worker_pids(worker.pid)
        stack.stop(worker)
        app.close()
    children = sampler.hwm_kb
    return {
        "workers": f"1 celery worker, prefork, concurrency {config.celery_concurrency}",
        "broker": config.broker_url,
        "sandbox_ms_per_item": 0,
        "payout_provider": config.payout_provider or "the project's setting",
        "noop": noop,
        "payouts": payouts,
        "ratio": round(payouts["per_second"] / noop["per_second"], 3),
        "ratio_target": CELERY_RATE_TARGET,
        "memory": {
            "worker_vmhwm_mb": round(max(children.values(), default=0) / 1024, 1),
            "worker_pids": sorted(pool),
            "sampled_pids": sorted(children),
            "main_process_vmhwm_mb": round(max(hwm_kb.values()) / 1024, 1),
            "target_mb": CELERY_RSS_TARGET_MB,
        },
        "check": json.loads(manage(env, "bench_celery", "--check", capture=True)),
        "ledger": json.loads(manage(env, "bench_check", capture=True)),
    }


def run(config: Config) -> dict:
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk).")
    workdir = Path(tempfile.mkdtemp(prefix="giftshop-bench-"))
    stack = Stack(workdir)
    env = django_env(config, workdir)
    duration = config.duration
    report: dict = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if config.quick else "full",
        "settings": {
            "duration_s": duration,
            "warmup_s": config.warmup,
            "connections": config.connections,
            "wrk_threads": config.wrk_threads,
            "gunicorn": f"{config.workers} {config.worker_class} worker(s)"
            + (f" x {config.threads} threads" if config.threads > 1 else ""),
            "database": config.database,
            "population": {
                "senders": config.senders,
                "buyers": config.buyers,
                "creators": config.creators,
            },
        },
    }
    try:
        report["machine"] = machine_info(server_url=config.server_url, root=ROOT)
        step(f"database {config.database}: recreate, migrate, collectstatic, seed")
        database_recreate(config)
        collect = stack.start(
            [sys.executable, "manage.py", "collectstatic", "--noinput"],
            env=env,
            log_name="collectstatic.log",
        )
        manage(env, "migrate", "--noinput")
        if collect.wait() != 0:
            log = (workdir / "collectstatic.log").read_text()
            raise BenchError(f"collectstatic failed:\n{log}")
        manage(
            env,
            "bench_seed",
            f"--out={workdir / 'population.json'}",
            f"--senders={config.senders}",
            f"--buyers={config.buyers}",
            f"--creators={config.creators}",
        )
        population = json.loads((workdir / "population.json").read_text())
        for name, items in (
            ("senders", population["sender_tokens"]),
            ("buyers", population["buyer_tokens"]),
            ("creators", population["creator_ids"]),
            ("hot_creator", population["creator_ids"][:1]),
        ):
            (workdir / f"{name}.txt").write_text("\n".join(map(str, items)) + "\n")
        token = population["sender_tokens"][0]
        if config.admin:
            step("admin: a few gift sends and payouts; each changelist's queries")
            admin_small = json.loads(
                manage(env, "bench_admin", "--small", capture=True)
            )

        port = env_int("BENCH_PORT", 0) or free_port()
        base_url = f"http://127.0.0.1:{port}"
        step(f"gunicorn on {base_url}: {report['settings']['gunicorn']}")
        server = gunicorn_start(stack, config, env, port)
        wait_ready(server, base_url + "/bench/bare/", token, workdir / "gunicorn.log")
        sampler = MemorySampler(server.pid)
        sampler.start()
        cpu = CpuMeter(server.pid, config.database)
        # Every worker imports its code and opens its connection before timing.
        wrk_run(config, SCENARIOS[0], base_url=base_url, workdir=workdir, duration=1)

        def measure(scenarios: list[Scenario]) -> dict[str, dict]:
            results = {}
            for scenario in scenarios:
                results[scenario.name] = measure_one(scenario)
            return results

        def measure_one(scenario: Scenario) -> dict:
            etag = ""
            if scenario.conditional:
                status, headers = http_get(base_url + scenario.path, token)
                etag = headers.get("ETag", "")
                if status != 200 or not etag:
                    raise BenchError(f"{scenario.path} gave {status} without ETag.")
            step(
                f"{scenario.name}: {scenario.what}, {duration} s x "
                f"{config.connections} connections"
            )
            if config.wait_quiet and Path("/proc/stat").exists():
                wait_until_quiet(config.wait_quiet)
            run_wrk = functools.partial(
                wrk_run, config, scenario, base_url=base_url, workdir=workdir, etag=etag
            )
            # Each worker's first requests to an endpoint import and compile what
            # it uses: a warm-up of the same scenario, checked for errors too.
            warmup = run_wrk(duration=config.warmup) if config.warmup else None
            sampler.take_peak_mb()
            cpu.start()
            result = run_wrk(duration=duration)
            result["cpu"] = cpu.stop(result["requests"])
            result["worker_rss_peak_mb"] = sampler.take_peak_mb()
            if warmup is not None:
                result["warmup"] = {
                    key: warmup[key] for key in ("seconds", "requests", "statuses")
                }
                result["errors"] += warmup["errors"]
            return result

        wanted = [s for s in SCENARIOS if not config.only or s.name in config.only]
        report["scenarios"] = measure([*wanted, BARE_AGAIN])

        step("ledger_reconcile; diamonds and coins against the gift sends; fold")
        report["checks"] = json.loads(manage(env, "bench_check", capture=True))

        step(f"pgbench reference: {duration} s x {config.connections} clients")
        report["pgbench"] = pgbench_run(config, workdir, duration)

        for size in config.growth:
            step(f"growth: history added until the ledger holds {size:,} transfers")
            grown = json.loads(
                manage(env, "bench_grow", f"--transfers={size}", capture=True)
            )
            report.setdefault("growth", {})[str(size)] = {
                "history": grown,
                "scenarios": measure(
                    [s for s in SCENARIOS if s.name in GROWTH_SCENARIOS]
                ),
                "checks": json.loads(manage(env, "bench_check", capture=True)),
            }

        if config.celery != "0":
            why_not = broker_reachable(config.broker_url)
            if why_not and config.celery == "1":
                raise BenchError(why_not)
            if why_not:
                step(f"celery: skipped, {why_not}")
                report["celery"] = {"skipped": why_not}
            else:
                step(
                    f"celery: {config.celery_payouts:,} approved payouts, "
                    f"{config.celery_concurrency} worker processes, {config.broker_url}"
                )
                report["celery"] = celery_stage(config, stack, env, workdir)

        if config.admin:
            step(f"admin: tables filled to {config.admin_rows:,} rows")
            report["admin"] = admin_stage(config, env, base_url, cpu, admin_small)

        sampler.stopped.set()
        sampler.join()
        peak_kb = max(sampler.hwm_kb.values(), default=0)
        report["memory"] = {
            "worker_rss_peak_mb": round(peak_kb / 1024, 1),
            "worker_pids": sorted(sampler.hwm_kb),
            "target_mb": WORKER_RSS_TARGET_MB,
        }
        summarize(report)
        if not config.keep_db:
            shutil.rmtree(workdir, ignore_errors=True)
        return report
    except BaseException:
        print(f"[bench] logs kept in {workdir}", file=sys.stderr)
        raise
    finally:
        stack.stop_all()
        pids = stack.started_pids + report.get("memory", {}).get("worker_pids", [])
        report["processes_left_running"] = [pid for pid in pids if _alive(pid)]
        if not config.keep_db:
            with contextlib.suppress(psycopg.Error):
                database_recreate(config, create=False)


def _ratios(scenarios: dict[str, dict]) -> None:
    bare = scenarios["bare"]["rps"] or 1
    for result in scenarios.values():
        result["ratio_to_bare"] = round(result["rps"] / bare, 3)
        target = result["target_ratio"]
        result["meets_target"] = (
            None if target is None else (result["ratio_to_bare"] >= target)
        )


def _clean(checks: dict) -> bool:
    return (
        checks["ledger_reconcile"]["clean"]
        and checks["diamonds"]["mismatch_count"] == 0
        and checks["coins"]["mismatch_count"] == 0
        and checks["after_fold"]["ledger_reconcile"]["clean"]
        and checks["after_fold"]["diamonds"]["mismatch_count"] == 0
    )


def summarize(report: dict) -> None:
    """Ratios to bare, the targets' verdicts and the overall outcome."""
    scenarios = report["scenarios"]
    _ratios(scenarios)
    growth = report.get("growth", {}).values()
    for stage in growth:
        _ratios(stage["scenarios"])
    every_run = [*scenarios.values()] + [
        result for stage in growth for result in stage["scenarios"].values()
    ]
    spread, hot = scenarios.get("gifts_spread"), scenarios.get("gifts_hot")
    report["targets"] = {
        "zero_errors": all(r["errors"] == 0 for r in every_run),
        "hot_over_spread": round(hot["rps"] / spread["rps"], 3)
        if hot and spread and spread["rps"]
        else None,
        "hot_over_spread_target": HOT_OVER_SPREAD_TARGET,
        "worker_rss_under_target": report["memory"]["worker_rss_peak_mb"]
        < WORKER_RSS_TARGET_MB,
    }
    report["ledger_clean"] = _clean(report["checks"]) and all(
        _clean(stage["checks"]) for stage in growth
    )
    celery = report.get("celery", {})
    if "ratio" in celery:
        check = celery["check"]
        celery["all_paid_once"] = (
            check["by_status"] == {"paid": check["payouts"]}
            and check["paid_transfers"] == check["payouts"]
            and check["provider_paid_once"] == check["payouts"]
        )
        report["targets"]["celery_ratio_meets_target"] = (
            celery["ratio"] >= CELERY_RATE_TARGET
        )
        report["targets"]["celery_rss_under_target"] = (
            celery["memory"]["worker_vmhwm_mb"] < CELERY_RSS_TARGET_MB
        )
        report["ledger_clean"] = (
            report["ledger_clean"]
            and celery["all_paid_once"]
            and _clean(celery["ledger"])
        )
    if "admin" in report:
        report["targets"]["admin_queries_constant"] = report["admin"][
            "queries_constant"
        ]
        report["targets"]["admin_pages_under_target"] = report["admin"][
            "all_under_target"
        ]
    report["ok"] = report["targets"]["zero_errors"] and report["ledger_clean"]


def print_table(report: dict) -> None:
    machine = report["machine"]
    settings = report["settings"]
    print()
    print(
        f"Machine: {machine['cpu_model']}, {machine['cpus_usable']} CPU(s), "
        f"{machine['memory_gib']} GiB; PostgreSQL "
        f"{machine['postgresql']['server_version']} (autovacuum "
        f"{machine['postgresql']['autovacuum']}); {report['date']}"
    )
    print(
        f"Load: wrk {settings['connections']} connections x {settings['duration_s']} "
        f"s per scenario; gunicorn {settings['gunicorn']}"
    )
    header = (
        f"{'scenario':<13}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
        f"{'x bare':>7}{'target':>11}{'app ms':>8}{'db ms':>7}{'other%':>7}"
        f"{'RSS MB':>7}"
    )
    print()
    print(header)
    print("-" * len(header))
    busy_elsewhere = []
    for name, r in report["scenarios"].items():
        target = r["target_ratio"]
        verdict = "" if target is None else ("ok" if r["meets_target"] else "MISS")
        target_text = "" if target is None else f">={target:g} {verdict}"
        cpu = r.get("cpu") or {}
        if cpu.get("other_pct", 0) > NOISY_OTHER_PCT:
            busy_elsewhere.append(name)
        print(
            f"{name:<13}{r['rps']:>8.1f}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}"
            f"{r['errors']:>7}{r['ratio_to_bare']:>7.2f}{target_text:>11}"
            f"{cpu.get('app_ms_per_request', 0):>8.2f}"
            f"{cpu.get('db_ms_per_request', 0):>7.2f}"
            f"{cpu.get('other_pct', 0):>7.1f}{r['worker_rss_peak_mb']:>7.1f}"
        )
    for name, r in report.get("pgbench", {}).items():
        if isinstance(r, dict):
            print(f"{'pg ' + name:<13}{r['tps']:>8.1f}  pgbench UPDATE tps (reference)")
    print()
    for name, r in report["scenarios"].items():
        print(f"  {name}: {r['what']}")
    print(
        "  app ms, db ms: CPU time per request in gunicorn and in PostgreSQL; "
        "other%: machine CPU used by anything else"
    )
    if busy_elsewhere:
        print(
            f"WARNING: other processes used over {NOISY_OTHER_PCT}% of the machine "
            f"during {', '.join(busy_elsewhere)}: those figures are noisy."
        )
    for stage in report.get("growth", {}).values():
        history = stage["history"]
        print(
            f"\nGrowth: {history['transfers']:,} transfers in the ledger "
            f"(history added in {history['seconds']} s)"
        )
        for name, r in stage["scenarios"].items():
            cpu = r.get("cpu") or {}
            print(
                f"{name:<13}{r['rps']:>8.1f}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}"
                f"{r['errors']:>7}{r['ratio_to_bare']:>7.2f}{'':>11}"
                f"{cpu.get('app_ms_per_request', 0):>8.2f}"
                f"{cpu.get('db_ms_per_request', 0):>7.2f}"
                f"{cpu.get('other_pct', 0):>7.1f}{r['worker_rss_peak_mb']:>7.1f}"
            )
        print(
            "  ledger_reconcile: "
            + stage["checks"]["ledger_reconcile"]["output"].splitlines()[-1]
        )
    targets = report["targets"]
    memory = report["memory"]
    print()
    if targets["hot_over_spread"] is not None:
        verdict = (
            "ok" if targets["hot_over_spread"] >= HOT_OVER_SPREAD_TARGET else "MISS"
        )
        print(
            f"gifts hot / spread: {targets['hot_over_spread']:.2f} "
            f"(target >= {HOT_OVER_SPREAD_TARGET}) {verdict}"
        )
    print(
        f"gunicorn worker peak RSS: {memory['worker_rss_peak_mb']} MB "
        f"(target < {WORKER_RSS_TARGET_MB}) "
        + ("ok" if targets["worker_rss_under_target"] else "MISS")
    )
    print_celery(report.get("celery"))
    print_admin(report.get("admin"))
    checks = report["checks"]
    print(f"ledger_reconcile: {checks['ledger_reconcile']['output']}")
    print(
        f"diamonds == gift shares for {checks['diamonds']['creators_checked']} "
        f"creators: {checks['diamonds']['mismatch_count']} mismatch(es); coins for "
        f"{checks['coins']['senders_checked']} senders: "
        f"{checks['coins']['mismatch_count']} mismatch(es); "
        f"fold of {checks['after_fold']['fold']['pending_credits']} pending credits: "
        f"{checks['after_fold']['fold']['seconds']} s"
    )
    print(
        "errors: "
        + ("none" if targets["zero_errors"] else "SOME (see statuses in the JSON)")
        + f"; ledger {'clean' if report['ledger_clean'] else 'NOT CLEAN'}"
    )


def print_celery(celery: dict | None) -> None:
    if not celery:
        return
    if "skipped" in celery:
        print(f"celery: skipped ({celery['skipped']})")
        return
    noop, payouts, memory = celery["noop"], celery["payouts"], celery["memory"]
    print(
        f"Celery: {celery['workers']}, broker {celery['broker']}, provider "
        f"{celery['payout_provider']}, sandbox 0 ms/item"
    )
    for name, r, unit in (("no-op", noop, "tasks"), ("payouts", payouts, "paid")):
        cpu = r.get("cpu") or {}
        print(
            f"  {name:<8}{r.get('tasks', r.get('payouts')):>7,} {unit} in "
            f"{r['seconds']:>6.1f} s = {r['per_second']:>7.1f}/s; worker "
            f"{cpu.get('app_ms_per_request', 0):.2f} ms, db "
            f"{cpu.get('db_ms_per_request', 0):.2f} ms each; other "
            f"{cpu.get('other_pct', 0)}%"
        )
    verdict = "ok" if celery["ratio"] >= CELERY_RATE_TARGET else "MISS"
    print(
        f"  payouts / no-op rate: {celery['ratio']:.2f} "
        f"(target >= {CELERY_RATE_TARGET}) {verdict}; all paid once: "
        f"{'yes' if celery.get('all_paid_once') else 'NO'}"
    )
    verdict = "ok" if memory["worker_vmhwm_mb"] < CELERY_RSS_TARGET_MB else "MISS"
    print(
        f"  celery worker process peak (VmHWM): {memory['worker_vmhwm_mb']} MB "
        f"(target < {CELERY_RSS_TARGET_MB}) {verdict}; main process "
        f"{memory['main_process_vmhwm_mb']} MB"
    )


def print_admin(admin: dict | None) -> None:
    if not admin:
        return
    rows, small = admin["rows"], admin["rows_small"]
    print(
        "\nAdmin changelists at "
        + ", ".join(f"{name} {count:,}" for name, count in rows.items())
        + " rows (queries also at "
        + ", ".join(f"{count:,}" for count in small.values())
        + f"); {admin['pages']['transfers']['default']['requests']} sequential GETs"
        " through gunicorn per page"
    )
    header = (
        f"{'page':<22}{'queries':>8}{'small':>6}{'rows':>5}{'median':>8}"
        f"{'p99 ms':>8}{'app ms':>8}{'db ms':>7}{'other%':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, views in admin["pages"].items():
        for view, r in views.items():
            cpu = r.get("cpu") or {}
            flag = "" if r["p99_ms"] < admin["target_ms"] else " MISS"
            if r["queries"] != r["queries_small"]:
                flag += " QUERIES GROW"
            print(
                f"{name + ' ' + view:<22}{r['queries']:>8}{r['queries_small']:>6}"
                f"{r['rows_shown']:>5}{r['median_ms']:>8.1f}{r['p99_ms']:>8.1f}"
                f"{cpu.get('app_ms_per_request', 0):>8.1f}"
                f"{cpu.get('db_ms_per_request', 0):>7.1f}"
                f"{cpu.get('other_pct', 0):>7.1f}{flag}"
            )
    print(
        f"  queries constant: {'yes' if admin['queries_constant'] else 'NO'}; "
        f"every page p99 < {admin['target_ms']} ms: "
        f"{'yes' if admin['all_under_target'] else 'NO'}"
    )


def main(argv: list[str] | None = None) -> int:
    config = config_from(sys.argv[1:] if argv is None else argv)
    # SIGTERM (e.g. from a test's timeout) unwinds like Ctrl-C: processes stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        report = run(config)
    except BenchError as error:
        print(f"[bench] FAILED: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("[bench] interrupted", file=sys.stderr)
        return 130
    if report["processes_left_running"]:
        report["ok"] = False
        print(f"[bench] still running: {report['processes_left_running']}")
    config.out.parent.mkdir(parents=True, exist_ok=True)
    config.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"\nResults: {config.out}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
