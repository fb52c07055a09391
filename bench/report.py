"""The report: ratios to bare, the targets' verdicts, and the printed tables."""

from .scenarios import (
    CELERY_RATE_TARGET,
    CELERY_RSS_TARGET_MB,
    GROWTH_LATENCY_SCENARIOS,
    GROWTH_LATENCY_TARGET,
    HOT_OVER_SPREAD_TARGET,
    WORKER_RSS_TARGET_MB,
)

# Above this share of the machine used by other processes, figures are noisy.
NOISY_OTHER_PCT = 10


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
        # The peer scenario's django-hordak accounts: outside our ledger, checked too.
        and checks["hordak"]["clean"]
    )


def _growth(stages: dict[str, dict]) -> dict | None:
    """p50 latency at the largest growth size over the smallest, per scenario, and
    the ledger's bytes on disk per transfer at the largest."""
    if len(stages) < 2:
        return None
    sizes = sorted(stages, key=int)
    small, large = stages[sizes[0]], stages[sizes[-1]]
    latency = {
        name: round(
            large["scenarios"][name]["p50_ms"] / small["scenarios"][name]["p50_ms"], 2
        )
        for name in GROWTH_LATENCY_SCENARIOS
        if name in small["scenarios"] and name in large["scenarios"]
    }
    disk = large["history"].get("disk", {})
    transfers = large["history"]["transfers"] or 1
    return {
        "from": int(sizes[0]),
        "to": int(sizes[-1]),
        "p50_latency_ratio": latency,
        "target": GROWTH_LATENCY_TARGET,
        "meets_target": all(r <= GROWTH_LATENCY_TARGET for r in latency.values()),
        # Every ledger table over the transfers: what a million transfers cost.
        "bytes_per_transfer": {
            table: round((size["table_bytes"] + size["index_bytes"]) / transfers, 1)
            for table, size in disk.items()
        },
    }


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
    report["targets"]["growth"] = _growth(report.get("growth", {}))
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
        f"{'scenario':<16}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
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
            f"{name:<16}{r['rps']:>8.1f}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}"
            f"{r['errors']:>7}{r['ratio_to_bare']:>7.2f}{target_text:>11}"
            f"{cpu.get('app_ms_per_request', 0):>8.2f}"
            f"{cpu.get('db_ms_per_request', 0):>7.2f}"
            f"{cpu.get('other_pct', 0):>7.1f}{r['worker_rss_peak_mb']:>7.1f}"
        )
    for name, r in report.get("pgbench", {}).items():
        if isinstance(r, dict):
            print(f"{'pg ' + name:<16}{r['tps']:>8.1f}  pgbench UPDATE tps (reference)")
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
                f"{name:<16}{r['rps']:>8.1f}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}"
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
    growth = targets.get("growth")
    if growth:
        ratios = ", ".join(f"{n} x{r}" for n, r in growth["p50_latency_ratio"].items())
        verdict = "ok" if growth["meets_target"] else "MISS"
        print(
            f"\nGrowth {growth['from']:,} -> {growth['to']:,} transfers, p50 latency: "
            f"{ratios} (target <= {growth['target']}) {verdict}"
        )
        per_million = {
            table: size * 1_000_000 / 2**20
            for table, size in growth["bytes_per_transfer"].items()
        }
        print(
            f"  on disk per million transfers: {sum(per_million.values()):,.0f} MB ("
            + ", ".join(f"{t} {mb:,.0f}" for t, mb in per_million.items())
            + "; tables with their indexes)"
        )
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
    hordak = checks["hordak"]
    print(
        f"hordak (peer): {hordak['transfers']} transfers; accounting equation "
        f"{'holds' if hordak.get('accounting_equation') else 'BROKEN'}; "
        f"{hordak.get('senders_checked', 0)} senders' coins + spent == opening: "
        f"{hordak['mismatch_count']} mismatch(es)"
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
