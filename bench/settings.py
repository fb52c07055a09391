"""Benchmark settings: the production settings unchanged, plus the bench app.

The bench app adds one bare endpoint (to measure the framework's own cost) and the
seeding and checking commands; none of it is in the production URLconf.
"""

import os

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS, STATIC_ROOT

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"
# collectstatic writes here, so a benchmark never touches the repository's files.
STATIC_ROOT = os.environ.get("BENCH_STATIC_ROOT") or STATIC_ROOT
