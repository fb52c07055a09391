"""The benchmark's peer scenario (bench/peer.py) under its own settings.

django-hordak is installed in bench.settings only, and its migrations run on
PostgreSQL (or MySQL) only, so bench/tests runs in a pytest of its own with
`--ds=bench.settings`, on the suite's PostgreSQL server in a database of its own.
"""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# pytest-django creates and drops test_<this>; its own name beside another run on
# the same server: BENCH_PEER_TEST_DATABASE.
PEER_DATABASE = os.environ.get("BENCH_PEER_TEST_DATABASE") or "giftshop_bench_peer"


def test_production_settings_and_urls_have_neither_hordak_nor_the_bench():
    assert not {"hordak", "mptt", "bench"} & set(settings.INSTALLED_APPS)
    with pytest.raises(Resolver404):
        resolve("/bench/hordak-transfer/")


@pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgres://", "postgresql://")),
    reason="django-hordak's migrations run on PostgreSQL: set DATABASE_URL",
)
def test_the_peer_scenarios_own_tests_pass_under_the_benchmark_settings():
    env = {
        **os.environ,
        "DATABASE_URL": urlunsplit(
            urlsplit(DATABASE_URL)._replace(path=f"/{PEER_DATABASE}")
        ),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        + ["--ds=bench.settings", "--create-db", "bench/tests"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout
