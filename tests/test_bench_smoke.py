"""`make bench` in quick mode, end to end, so the benchmark cannot rot.

It needs what the benchmark needs: PostgreSQL (the suite's DATABASE_URL names the
server; the harness uses its own database there) and wrk. Without them it skips.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("DATABASE_URL", "")
SMOKE_DATABASE = "giftshop_bench_smoke"
SCENARIOS = {
    "bare",
    "catalog",
    "catalog_304",
    "wallet",
    "purchase",
    "gifts_spread",
    "gifts_hot",
    "bare_end",
}

pytestmark = [
    pytest.mark.skipif(
        not DATABASE_URL.startswith(("postgres://", "postgresql://")),
        reason="the benchmark runs against PostgreSQL: set DATABASE_URL",
    ),
    pytest.mark.skipif(
        shutil.which("wrk") is None,
        reason="the benchmark's load generator is wrk: apt-get install wrk",
    ),
]


def _on_server(database: str) -> str:
    return urlunsplit(urlsplit(DATABASE_URL)._replace(path=f"/{database}"))


def _run_quick_benchmark(out: Path) -> str:
    env = {**os.environ, "BENCH_DATABASE_URL": _on_server(SMOKE_DATABASE)}
    for name in ("BENCH_DURATION", "BENCH_WARMUP", "BENCH_SCENARIOS", "BENCH_KEEP_DB"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.run", "--quick", f"--out={out}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        # SIGTERM lets the harness stop gunicorn and drop its database.
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        pytest.fail(f"The quick benchmark took over 120 s:\n{output}")
    assert process.returncode == 0, output
    return output


def test_quick_benchmark_runs_every_scenario_without_errors_and_leaves_a_clean_ledger(
    tmp_path,
):
    out = tmp_path / "bench.json"

    output = _run_quick_benchmark(out)

    report = json.loads(out.read_text())
    assert set(report["scenarios"]) == SCENARIOS
    for name, result in report["scenarios"].items():
        assert result["requests"] > 0, name
        assert result["errors"] == 0, (name, result["statuses"])
        assert result["statuses"] == {
            str(result["expected_status"]): result["requests"]
        }, name
        assert result["rps"] > 0 and result["p99_ms"] >= result["p50_ms"] > 0, name
        assert "ratio_to_bare" in result
    checks = report["checks"]
    assert checks["ledger_reconcile"]["clean"], checks["ledger_reconcile"]["output"]
    assert checks["after_fold"]["ledger_reconcile"]["clean"]
    assert checks["diamonds"]["mismatch_count"] == 0, checks["diamonds"]
    assert checks["coins"]["mismatch_count"] == 0, checks["coins"]
    assert checks["after_fold"]["diamonds"]["mismatch_count"] == 0
    assert checks["diamonds"]["creators_checked"] == 1000
    # Every 201 wrk saw recorded one gift send; a request still in flight when wrk
    # stopped may have recorded one more per connection.
    answered = sum(
        report["scenarios"][name]["requests"] for name in ("gifts_spread", "gifts_hot")
    )
    in_flight = 2 * report["settings"]["connections"]
    assert answered <= checks["diamonds"]["gift_sends"] <= answered + in_flight
    assert checks["diamonds"]["pending_credits"] > 0
    assert checks["after_fold"]["diamonds"]["pending_credits"] == 0
    assert report["pgbench"]["one_row"]["tps"] > 0
    assert 0 < report["memory"]["worker_rss_peak_mb"]
    assert report["machine"]["cpus"] >= 1
    assert report["ok"] is True
    assert report["processes_left_running"] == []
    assert "gifts_hot" in output
    with psycopg.connect(_on_server("postgres"), autocommit=True) as conn:
        left = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [SMOKE_DATABASE]
        ).fetchall()
    assert left == [], "the benchmark's database was not dropped"
