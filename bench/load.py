"""The load generators: wrk for one scenario, pgbench for the reference of a
one-row update."""

import json
import os
import re
import secrets
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from .config import ROOT, Config
from .machine import pgbench_path
from .scenarios import Scenario
from .stack import BenchError

LUA = ROOT / "bench" / "lua" / "scenario.lua"


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
