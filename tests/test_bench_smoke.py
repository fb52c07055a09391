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
# Its own name beside another run on the same server: BENCH_SMOKE_DATABASE.
SMOKE_DATABASE = os.environ.get("BENCH_SMOKE_DATABASE") or "giftshop_bench_smoke"
SCENARIOS = {
    "bare",
    "catalog",
    "catalog_304",
    "wallet",
    "purchase",
    "gifts_spread",
    "gifts_hot",
    "hordak_transfer",
    "floor_gift",
    "floor_purchase",
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
    pytest.mark.xdist_group("stack"),  # one stack at a time (soak_helpers.REAL_STACK)
]


def _on_server(database: str) -> str:
    return urlunsplit(urlsplit(DATABASE_URL)._replace(path=f"/{database}"))


def _broker_url() -> str:
    """A Redis database of the benchmark's own (BENCH_SMOKE_BROKER_URL), by default
    database 13 of the suite's Redis: the suite leaves tasks queued in its own."""
    if os.environ.get("BENCH_SMOKE_BROKER_URL"):
        return os.environ["BENCH_SMOKE_BROKER_URL"]
    suite = os.environ.get("CELERY_BROKER_URL", "")
    server = suite if suite.startswith("redis://") else "redis://127.0.0.1:6379/0"
    return urlunsplit(urlsplit(server)._replace(path="/13"))


def _broker_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except (redis.RedisError, OSError):
        return False


def _run_quick_benchmark(out: Path) -> str:
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": _on_server(SMOKE_DATABASE),
        "BENCH_BROKER_URL": _broker_url(),
    }
    for name in (
        "BENCH_DURATION",
        "BENCH_WARMUP",
        "BENCH_SCENARIOS",
        "BENCH_KEEP_DB",
        "BENCH_ADMIN",
        "BENCH_ADMIN_ROWS",
        "BENCH_CELERY",
        "BENCH_CELERY_PAYOUTS",
        "BENCH_CELERY_NOOP",
    ):
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
        output, _ = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        # SIGTERM lets the harness stop gunicorn and drop its database.
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        pytest.fail(f"The quick benchmark took over 240 s:\n{output}")
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
    # Besides the load's, the few the admin step sends before it.
    answered += report["admin"]["fill_small"]["gift_sends"]
    assert answered <= checks["diamonds"]["gift_sends"] <= answered + in_flight
    # The same for the peer scenario's hordak transfers, one per 201.
    hordak = checks["hordak"]
    answered = report["scenarios"]["hordak_transfer"]["requests"]
    assert answered <= hordak["transfers"] <= answered + in_flight
    assert hordak["clean"] and hordak["accounting_equation"], hordak
    assert hordak["senders_checked"] == report["settings"]["population"]["senders"]
    assert checks["diamonds"]["pending_credits"] > 0
    assert checks["after_fold"]["diamonds"]["pending_credits"] == 0
    assert report["pgbench"]["one_row"]["tps"] > 0
    assert 0 < report["memory"]["worker_rss_peak_mb"]
    assert report["machine"]["cpus"] >= 1
    assert report["ok"] is True
    assert report["processes_left_running"] == []
    assert "gifts_hot" in output
    _assert_admin_pages_measured(report["admin"])
    if _broker_answers(_broker_url()):
        _assert_payouts_paid_by_workers(report["celery"])
    else:
        assert "skipped" in report["celery"]
    with psycopg.connect(_on_server("postgres"), autocommit=True) as conn:
        left = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [SMOKE_DATABASE]
        ).fetchall()
    assert left == [], "the benchmark's database was not dropped"


def _assert_admin_pages_measured(admin):
    assert set(admin["pages"]) == {"transfers", "gift_sends", "payouts"}
    assert admin["rows"]["gift_sends"] >= 1000
    for name, views in admin["pages"].items():
        assert set(views) == {"default", "page_2", "filtered"}, name
        for view, page in views.items():
            # Ten-odd rows first, a full page later: the same queries.
            assert page["queries"] == page["queries_small"], (name, view, page["sql"])
            assert page["rows_shown"] > 0 and page["rows_shown_small"] > 0
            assert page["p99_ms"] >= page["median_ms"] > 0, (name, view)
    assert admin["queries_constant"] is True


def _assert_payouts_paid_by_workers(celery):
    payouts = celery["payouts"]["payouts"]
    assert celery["check"]["by_status"] == {"paid": payouts}
    assert celery["check"]["paid_transfers"] == payouts
    assert celery["check"]["provider_paid_once"] == payouts
    assert celery["all_paid_once"] is True
    assert celery["ledger"]["ledger_reconcile"]["clean"]
    assert celery["noop"]["per_second"] > 0 and celery["payouts"]["per_second"] > 0
    assert celery["memory"]["worker_vmhwm_mb"] > 0
    assert len(celery["memory"]["worker_pids"]) == 2
