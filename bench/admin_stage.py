"""The admin step of a run: changelists filled to size (bench/admin_pages.py, in
the app), then timed through gunicorn as staff load them."""

import json
import statistics
import time
import urllib.request

from .config import Config
from .machine import CpuMeter
from .scenarios import ADMIN_PAGE_TARGET_MS
from .stack import BenchError, manage, step


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
