"""Machinery of the soak test (tests/test_soak.py): the real stack as processes,
HTTP clients that record every answer, and the faults it injects."""

import contextlib
import ctypes
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
WEB_APP_NAME = "soak-web"
WORKER_APP_NAME = "soak-worker-"  # + the worker's name


# The marks of a test that runs the stack: committed data, visible to the
# processes (serialized rollback puts the migrations' data, roles and terms, back
# afterwards), and the real database and broker the processes need.
REAL_STACK = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"]
        or settings.CELERY_TASK_ALWAYS_EAGER,
        reason="needs PostgreSQL and a broker (DATABASE_URL, CELERY_BROKER_URL)",
    ),
    # Under pytest-xdist (`make test`), the tests that start processes take turns on
    # one worker: two stacks at once on two cores would starve each other's timing.
    pytest.mark.xdist_group("stack"),
]


def _die_with_parent() -> None:
    # Linux sends the child SIGTERM when the thread that started it ends, so
    # processes are only ever started from the test's main thread.
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Production mode allows the sandbox store and provider only as a staging
# deployment, with secrets of its own: the stack gets these, and the test process,
# which signs receipts and notifications for it, uses the same (test_soak.py).
STACK_SECRETS = {
    "PAYMENT_STORE_SANDBOX_SECRET": secrets.token_urlsafe(32),
    "PAYOUT_PROVIDER_SANDBOX_SECRET": secrets.token_urlsafe(32),
}


def postgres_server(settings_dict: dict) -> dict:
    """PostgreSQL itself, for the tools that must not go through a pooler: killing
    a backend (through PgBouncer the killer's own query may share the server
    connection it kills), dumping and restoring. CI's PgBouncer run says where
    the server is in DATABASE_DIRECT_URL; otherwise it is the suite's database."""
    direct = urlsplit(os.environ.get("DATABASE_DIRECT_URL") or "")
    return {
        "host": direct.hostname or settings_dict["HOST"] or "127.0.0.1",
        "port": str(direct.port or settings_dict["PORT"] or 5432),
        "user": direct.username or settings_dict["USER"] or "postgres",
        "password": direct.password or settings_dict["PASSWORD"] or "",
    }


def database_url() -> str:
    """The test database's URL, for the processes the stack starts."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def server_dsn() -> str:
    """A libpq connection string for PostgreSQL itself (see postgres_server)."""
    server = postgres_server(connection.settings_dict)
    return " ".join(
        f"{key}={server[key]}"
        for key in ("host", "port", "user", "password")
        if server[key]
    )


def wait_for(condition, seconds: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def stack_env(database_url: str, app_name: str, **overrides: str) -> dict:
    """Production mode on the test database, rate limits off (the clients are few
    and fast), each process's connections tagged so faults can pick them;
    `overrides` replace or add variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "DATABASE_", "PYTEST_", "PAYMENT_STORE_", "PAYOUT_PROVIDER")
        )
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_ALLOW_SANDBOX="1",
        **STACK_SECRETS,
        DATABASE_URL=f"{database_url}?application_name={app_name}",
        # Behind CI's PgBouncer, as the suite's own connections are.
        DATABASE_TRANSACTION_POOLING=os.environ.get("DATABASE_TRANSACTION_POOLING", ""),
        THROTTLE_PURCHASES="1000000/minute",
        THROTTLE_GIFT_SENDS="1000000/minute",
        THROTTLE_PAYOUTS="1000000/minute",
        # The soak's readers share one address: the leaderboards' per-address
        # rate would refuse them, as it should refuse one scraper.
        THROTTLE_LEADERBOARDS_ANON="1000000/minute",
        THROTTLE_LEADERBOARDS="1000000/minute",
        THROTTLE_SUBSCRIPTIONS="1000000/minute",
        LOG_LEVEL="WARNING",
        # Small batches, slow sends and a short stuck threshold: a killed worker
        # is likely to die mid-batch, and the sweeper picks its payouts up soon.
        PAYOUT_BATCH_SIZE="4",
        PAYOUT_SANDBOX_MS_PER_ITEM="200",
        PAYOUT_STUCK_AFTER_SECONDS="4",
        CELERY_VISIBILITY_TIMEOUT="8",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(overrides)
    return env


class Stack:
    """Every process the soak starts, each in its own process group, so a kill
    reaches its children and nothing outlives the test."""

    def __init__(self, workdir: Path, database_url: str):
        self.workdir = workdir
        self.database_url = database_url
        self.processes: list[subprocess.Popen] = []
        self.workers: dict[str, subprocess.Popen] = {}
        self.web: subprocess.Popen | None = None

    def _start(self, command: list[str], *, env: dict, log_name: str):
        assert threading.current_thread() is threading.main_thread()
        with open(self.workdir / log_name, "ab") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.processes.append(process)
        return process

    def start_web(
        self, port: int, workers: int = 2, *, graceful_timeout: int = 5, **env: str
    ) -> subprocess.Popen:
        command = [
            sys.executable, "-m", "gunicorn", "config.wsgi",
            "--config", "config/gunicorn.py",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers),
            "--log-level", "warning",
            "--timeout", "60",
            "--graceful-timeout", str(graceful_timeout),
        ]  # fmt: skip
        help_text = subprocess.run(
            [sys.executable, "-m", "gunicorn", "--help"],
            capture_output=True,
            text=True,
        ).stdout
        if "--no-control-socket" in help_text:
            # Else every gunicorn on the machine shares ~/.gunicorn/gunicorn.ctl.
            command.append("--no-control-socket")
        self.web = self._start(
            command,
            env=stack_env(self.database_url, WEB_APP_NAME, **env),
            log_name="gunicorn.log",
        )
        return self.web

    def start_worker(
        self,
        name: str,
        *,
        concurrency: int = 1,
        prefetch_multiplier: int | None = None,
        **env: str,
    ) -> subprocess.Popen:
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "-c", str(concurrency), "-n", f"{name}@%h",
            "--loglevel=warning",
            "--without-heartbeat", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        if prefetch_multiplier is not None:
            command += ["--prefetch-multiplier", str(prefetch_multiplier)]
        self.workers[name] = self._start(
            command,
            env=stack_env(self.database_url, WORKER_APP_NAME + name, **env),
            log_name=f"{name}.log",
        )
        return self.workers[name]

    def kill_worker(self, name: str) -> None:
        process = self.workers[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def workers_alive(self) -> list[str]:
        return [n for n, p in self.workers.items() if p.poll() is None]

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

    def log(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""


def wait_ready(process: subprocess.Popen, port: int, log: Path, seconds=60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/gifts/")
            if connection.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer:\n{log.read_text()[-3000:]}")


@dataclass
class Answer:
    status: int  # 0: no answer at all (connection refused, reset, timed out)
    body: dict | list | None = None

    @property
    def code(self) -> str:
        return self.body.get("code", "") if isinstance(self.body, dict) else ""


@dataclass
class Recorder:
    """Every request's answer, counted by status and by operation."""

    port: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter = field(default_factory=Counter)
    by_op: Counter = field(default_factory=Counter)
    refusals: Counter = field(default_factory=Counter)
    server_errors: list = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    def request(
        self,
        op: str,
        method: str,
        path: str,
        *,
        token: str = "",
        body: dict | None = None,
        headers: dict | None = None,
        raw: bytes | None = None,
    ) -> Answer:
        send_headers = {"Accept": "application/json", **(headers or {})}
        if token:
            send_headers["Authorization"] = f"Token {token}"
        payload = raw
        if payload is None and body is not None:
            payload = json.dumps(body).encode()
        if payload is not None:
            send_headers["Content-Type"] = "application/json"
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            connection.request(method, path, body=payload, headers=send_headers)
            response = connection.getresponse()
            text = response.read()
            connection.close()
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = {"raw": text[:300].decode(errors="replace")}
            answer = Answer(response.status, parsed)
        except (OSError, http.client.HTTPException) as error:
            answer = Answer(0, {"error": repr(error)})
        with self.lock:
            self.statuses[answer.status] += 1
            self.by_op[f"{op} {answer.status}"] += 1
            if 400 <= answer.status < 500:
                self.refusals[f"{op} {answer.status} {answer.code}"] += 1
            if answer.status >= 500 or answer.status == 0:
                self.server_errors.append((op, answer.status, answer.body))
        return answer


def app_backends(server_dsn: str, database: str, app_name: str) -> list[tuple]:
    """(pid, state) of the connections one kind of process holds on the database;
    `app_name` may end in % to match several."""
    with psycopg.connect(server_dsn, dbname=database, autocommit=True) as conn:
        return conn.execute(
            "SELECT pid, state FROM pg_stat_activity "
            "WHERE datname = %s AND application_name LIKE %s",
            [database, app_name],
        ).fetchall()


def terminate_backend(server_dsn: str, database: str, pid: int) -> bool:
    with psycopg.connect(server_dsn, dbname=database, autocommit=True) as conn:
        return bool(
            conn.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        )
