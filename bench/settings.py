"""Benchmark settings: the production settings unchanged, plus the bench app.

The bench app adds one bare endpoint (to measure the framework's own cost) and the
seeding and checking commands; none of it is in the production URLconf. django-hordak
(and django-mptt, which it builds its account tree on) is installed here only: the
peer scenario posts the same coin transfer through it (bench/peer.py). Its tables and
triggers exist in the benchmark's database alone.
"""

import os

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS, STATIC_ROOT

INSTALLED_APPS = [*INSTALLED_APPS, "mptt", "hordak", "bench"]
ROOT_URLCONF = "bench.urls"
# collectstatic writes here, so a benchmark never touches the repository's files.
STATIC_ROOT = os.environ.get("BENCH_STATIC_ROOT") or STATIC_ROOT
