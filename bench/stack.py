"""The processes a run starts and the calls it makes to them: gunicorn, manage.py
commands, the dedicated database; every process ends however the run ends."""

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg

from .config import ROOT, Config


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


def process_alive(pid: int) -> bool:
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
        # Through a pooler in transaction mode (CI's PgBouncer), nothing prepared.
        DATABASE_TRANSACTION_POOLING=os.environ.get("DATABASE_TRANSACTION_POOLING", ""),
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
        "--config", "config/gunicorn.py",
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
    # As production runs it: every worker counts its metrics into files there.
    metrics_env = {"PROMETHEUS_MULTIPROC_DIR": str(stack.workdir / "metrics-web")}
    return stack.start(command, env={**env, **metrics_env}, log_name="gunicorn.log")


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
