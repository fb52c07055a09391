"""The Celery step of a run: approved payouts (bench/background.py, in the app)
paid by a real worker, against the same worker's rate of no-op tasks."""

import json
import os
import secrets
import socket
import sys
import time
from pathlib import Path

import psycopg

from .config import Config
from .machine import CpuMeter, MemorySampler, proc_status_kb, worker_pids
from .scenarios import CELERY_RATE_TARGET, CELERY_RSS_TARGET_MB
from .stack import BenchError, Stack, manage, step


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
        # Polled many times: psycopg would prepare the query after five, and behind
        # PgBouncer in transaction mode the next poll may reach a server connection
        # that never saw it ("prepared statement _pg3_0 does not exist").
        with psycopg.connect(
            config.database_url, autocommit=True, prepare_threshold=None
        ) as conn:

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
