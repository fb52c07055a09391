import pytest
from django.conf import settings

if "hordak" not in settings.INSTALLED_APPS:
    raise pytest.UsageError(
        "bench/tests run under the benchmark's settings, on PostgreSQL: "
        "pytest --ds=bench.settings bench/tests (tests/test_bench_peer.py does)."
    )
