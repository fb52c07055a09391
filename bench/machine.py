"""What the harness reads from the machine: CPU time and memory of the processes
under test, how busy the machine is, and what it is (CPU, memory, versions)."""

import contextlib
import os
import platform
import re
import resource
import shutil
import subprocess
import threading
import time
from importlib import metadata
from pathlib import Path

import psycopg

MB = 1024 * 1024
QUIET_BUSY_FRACTION = 0.1


def worker_pids(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text()
        return [int(pid) for pid in children.split()]
    except OSError:
        return []


def proc_status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class CpuMeter:
    """CPU time spent during a scenario by the app (gunicorn), PostgreSQL (this
    database's backends and the server's own processes), wrk, and anything else
    on the machine. CPU ms per request is comparable across machines far better
    than requests/s; a large "other" share says the figures are noisy."""

    def __init__(self, master: int, database: str):
        self.master = master
        self.database = database
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _snapshot(self) -> dict:
        app = {self.master, *worker_pids(self.master)}
        processes = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            seconds = (int(fields[11]) + int(fields[12])) / self.tick
            if int(entry.name) in app:
                processes[entry.name] = ("app", seconds)
            elif name.startswith("postgres") and self._ours(command):
                processes[entry.name] = ("db", seconds)
        values = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
        # wrk has ended when the scenario does: its time is a waited-for child's.
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "processes": processes,
            "wrk": children.ru_utime + children.ru_stime,
            # user+nice+system+irq+softirq+steal; idle and iowait are not busy.
            "busy": (sum(values[:3]) + sum(values[5:8])) / self.tick,
            "at": time.monotonic(),
        }

    def _ours(self, command: str) -> bool:
        # A backend reads "postgres: 15/main: user database host(port) state";
        # server processes (checkpointer, WAL writer) name no database.
        return self.database in command or "(" not in command

    def start(self) -> None:
        self.before = self._snapshot() if Path("/proc/stat").exists() else None

    def stop(self, requests: int) -> dict | None:
        if self.before is None:
            return None
        after = self._snapshot()
        delta = {"app": 0.0, "db": 0.0}
        # A process that ended meanwhile (a recycled connection) is left out.
        for pid, (kind, seconds) in after["processes"].items():
            delta[kind] += seconds - self.before["processes"].get(pid, (kind, 0))[1]
        for key in ("wrk", "busy", "at"):
            delta[key] = after[key] - self.before[key]
        capacity = delta.pop("at") * (os.cpu_count() or 1)
        other = max(0.0, delta["busy"] - delta["app"] - delta["db"] - delta["wrk"])
        per_request = max(requests, 1)
        return {
            "app_ms_per_request": round(1000 * delta["app"] / per_request, 2),
            "db_ms_per_request": round(1000 * delta["db"] / per_request, 2),
            "wrk_ms_per_request": round(1000 * delta["wrk"] / per_request, 3),
            "machine_busy_pct": round(100 * delta["busy"] / capacity, 1),
            "other_pct": round(100 * other / capacity, 1),
        }


def machine_busy_fraction(seconds: float = 1.0) -> float:
    def busy_and_total() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split()[1:11]]
        return sum(values[:3]) + sum(values[5:8]), sum(values[:8])

    busy_before, total_before = busy_and_total()
    time.sleep(seconds)
    busy_after, total_after = busy_and_total()
    return (busy_after - busy_before) / max(total_after - total_before, 1)


def wait_until_quiet(max_seconds: int) -> float:
    """On a shared machine, wait (at most max_seconds) until it is nearly idle
    before a scenario; returns the busy fraction seen last."""
    deadline = time.monotonic() + max_seconds
    busy = machine_busy_fraction()
    while busy > QUIET_BUSY_FRACTION and time.monotonic() < deadline:
        busy = machine_busy_fraction()
    return busy


class MemorySampler(threading.Thread):
    """Samples every gunicorn worker's resident memory; keeps the peak per scenario
    and, at the end, each worker's own high-water mark (VmHWM)."""

    def __init__(self, master: int):
        super().__init__(daemon=True)
        self.master = master
        self.current_peak_kb = 0
        self.stopped = threading.Event()
        self.hwm_kb: dict[int, int] = {}

    def run(self):
        while not self.stopped.wait(0.2):
            for pid in worker_pids(self.master):
                rss = proc_status_kb(pid, "VmRSS")
                self.current_peak_kb = max(self.current_peak_kb, rss)
                self.hwm_kb[pid] = max(
                    self.hwm_kb.get(pid, 0), proc_status_kb(pid, "VmHWM")
                )

    def take_peak_mb(self) -> float:
        peak, self.current_peak_kb = self.current_peak_kb, 0
        return round(peak / 1024, 1)


def pgbench_path() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    return str(candidates[-1]) if candidates else None


def machine_info(*, server_url: str, root: Path) -> dict:
    def first(pattern: str, text: str) -> str:
        match = re.search(pattern, text, re.MULTILINE)
        return match.group(1).strip() if match else "unknown"

    cpuinfo = meminfo = ""
    with contextlib.suppress(OSError):
        cpuinfo = Path("/proc/cpuinfo").read_text()
        meminfo = Path("/proc/meminfo").read_text()
    mem_kb = first(r"^MemTotal:\s+(\d+)", meminfo)
    versions = {
        package: _version(package)
        for package in ("Django", "djangorestframework", "gunicorn", "psycopg")
    }
    versions["python"] = platform.python_version()
    versions["wrk"] = _command_line(["wrk", "--version"])
    versions["pgbench"] = _command_line([pgbench_path() or "pgbench", "--version"])
    with psycopg.connect(server_url + "postgres", autocommit=True) as conn:
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in (
                "server_version",
                "shared_buffers",
                "synchronous_commit",
                "fsync",
                "max_connections",
                "autovacuum",
            )
        }
    return {
        "cpu_model": first(r"^model name\s*:(.*)$", cpuinfo),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_gib": round(int(mem_kb) / MB, 1) if mem_kb.isdigit() else None,
        "os": f"{platform.system()} {platform.release()}",
        "postgresql": settings,
        "versions": versions,
        "git": _command_line(
            ["git", "-C", str(root), "describe", "--always", "--dirty"]
        ),
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command_line(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"
