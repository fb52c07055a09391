"""`make bench`: the real stack under load, figures comparable on any machine.

Creates a dedicated PostgreSQL database, migrates and seeds it with the project's own
commands plus `bench_seed`, serves the app with gunicorn in production mode, loads it
from wrk (one scenario at a time, fixed duration and connections), checks the ledger,
measures pgbench's single-row update as a reference, and reports each scenario as
requests/s and as a ratio to the bare endpoint measured in the same run: absolute
figures depend on the machine, ratios much less. See bench/README.md.
"""

import contextlib
import datetime
import functools
import importlib.util
import json
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import psycopg

from .admin_stage import admin_stage
from .celery_stage import broker_reachable, celery_stage
from .config import ROOT, Config, config_from, env_int
from .load import pgbench_run, wrk_run
from .machine import CpuMeter, MemorySampler, machine_info, wait_until_quiet
from .report import print_table, summarize
from .scenarios import (
    BARE_AGAIN,
    GROWTH_SCENARIOS,
    SCENARIOS,
    WORKER_RSS_TARGET_MB,
    Scenario,
)
from .stack import (
    BenchError,
    Stack,
    database_recreate,
    django_env,
    free_port,
    gunicorn_start,
    http_get,
    manage,
    process_alive,
    step,
    wait_ready,
)


def run(config: Config) -> dict:
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk).")
    if importlib.util.find_spec("hordak") is None:
        raise BenchError(
            "django-hordak, the peer scenario's library, is not installed: "
            "pip install -e '.[dev,bench]' (make install does)."
        )
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
        report["processes_left_running"] = [pid for pid in pids if process_alive(pid)]
        if not config.keep_db:
            with contextlib.suppress(psycopg.Error):
                database_recreate(config, create=False)


def main(argv: list[str] | None = None) -> int:
    config = config_from(
        sys.argv[1:] if argv is None else argv, __doc__.splitlines()[0]
    )
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
