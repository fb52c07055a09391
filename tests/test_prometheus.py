"""A real Prometheus (Debian's `prometheus`) scrapes the running stack: gunicorn
with two workers and a Celery worker, each process group in multiprocess mode
with a directory of its own, both closed by a bearer token. What the test makes
(gift sends through the API, a reconciliation run by the worker) is what
Prometheus's queries answer.

PostgreSQL and a broker only; skipped without the `prometheus` binary, except
where REQUIRE_PROMETHEUS=1 (CI), where it fails instead.
"""

import http.client
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from rest_framework.authtoken.models import Token

from catalog.tests.factories import gift_create
from config.celery import app as celery_app
from gifting.tests.factories import creator_create, funded_sender
from wallets.models import ReconciliationRun
from wallets.tasks import reconcile_ledger

from .soak_helpers import (
    REAL_STACK,
    STACK_SECRETS,
    Stack,
    database_url,
    free_port,
    wait_for,
    wait_ready,
)

PROMETHEUS = shutil.which("prometheus")
TOKEN = secrets.token_urlsafe(32)
GIFT = "prom-rose"
SENDS = 7

pytestmark = REAL_STACK


@pytest.fixture
def prometheus_binary() -> str:
    if PROMETHEUS is None:
        if os.environ.get("REQUIRE_PROMETHEUS") == "1":
            pytest.fail("REQUIRE_PROMETHEUS=1 but no prometheus binary on PATH")
        pytest.skip("no prometheus binary (apt-get install prometheus)")
    return PROMETHEUS


@pytest.fixture(autouse=True)
def _sign_as_the_stack_verifies(settings):
    for name, value in STACK_SECRETS.items():
        setattr(settings, name, value)


def prometheus_config(web_port: int, worker_port: int) -> str:
    jobs = []
    for job, port in (("web", web_port), ("worker", worker_port)):
        jobs.append(
            f"""
  - job_name: {job}
    scrape_interval: 1s
    scrape_timeout: 1s
    authorization:
      credentials: {TOKEN}
    static_configs:
      - targets: ["127.0.0.1:{port}"]"""
        )
    return "global:\n  scrape_interval: 1s\nscrape_configs:" + "".join(jobs) + "\n"


def query(port: int, promql: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode(
        {"query": promql}
    )
    with urllib.request.urlopen(url, timeout=5) as answer:
        body = json.load(answer)
    assert body["status"] == "success", body
    return body["data"]["result"]


def value_when(port: int, promql: str, wanted, seconds: float = 30) -> float | None:
    """The query's single value once `wanted(value)` holds; the last one seen if
    it never does in time."""
    deadline = time.monotonic() + seconds
    value = None
    while time.monotonic() < deadline:
        result = query(port, promql)
        if result:
            value = float(result[0]["value"][1])
            if wanted(value):
                return value
        time.sleep(0.5)
    return value


def gift_sent(port: int, token: str, creator_id: int, key: str) -> int:
    # A connection of its own per send: gunicorn's two workers share them.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(
        "POST",
        "/api/v1/gift-sends/",
        body=json.dumps(
            {
                "gift": GIFT,
                "creator": creator_id,
                "quantity": 1,
                "placement": "live",
                "stream_id": "prom",
            }
        ),
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
    )
    status = connection.getresponse().status
    connection.close()
    return status


def test_prometheus_scrapes_the_web_and_a_worker(tmp_path, prometheus_binary):
    gift_create(slug=GIFT, name="Prom rose", coin_price=2)
    sender, creator = funded_sender(100), creator_create()
    token = Token.objects.create(user=sender).key
    # Tasks other tests left in the broker would run on this worker too.
    celery_app.control.purge()

    web_port, worker_port, prom_port = free_port(), free_port(), free_port()
    metrics_env = {"METRICS_TOKEN": TOKEN}
    stack = Stack(tmp_path, database_url())
    config = tmp_path / "prometheus.yml"
    config.write_text(prometheus_config(web_port, worker_port))
    prometheus = None
    try:
        web = stack.start_web(
            web_port,
            **metrics_env,
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics-web"),
        )
        stack.start_worker(
            "prom1",
            **metrics_env,
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics-worker"),
            METRICS_WORKER_PORT=str(worker_port),
            METRICS_WORKER_ADDRESS="127.0.0.1",
        )
        with open(tmp_path / "prometheus.log", "wb") as log:
            prometheus = subprocess.Popen(
                [
                    prometheus_binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_ready(web, web_port, tmp_path / "gunicorn.log")

        statuses = [
            gift_sent(web_port, token, creator.id, key=f"prom-{n}")
            for n in range(SENDS)
        ]
        assert statuses == [201] * SENDS
        reconcile_ledger.delay()
        assert wait_for(ReconciliationRun.objects.exists, 60), stack.log("prom1.log")
        run = ReconciliationRun.objects.get()

        up = 'up{job="%s"}'
        for job in ("web", "worker"):
            assert value_when(prom_port, up % job, lambda v: v == 1) == 1, (
                job,
                (tmp_path / "prometheus.log").read_text()[-2000:],
            )
        sends = value_when(
            prom_port,
            f'sum(giftshop_gift_sends_total{{job="web",gift="{GIFT}"}})',
            lambda v: v == SENDS,
        )
        assert sends == SENDS
        finished = value_when(
            prom_port,
            "giftshop_reconciliation_last_finished_timestamp_seconds",
            lambda v: abs(v - run.finished_at.timestamp()) < 0.001,
        )
        assert finished == pytest.approx(run.finished_at.timestamp(), abs=0.001)
        age = value_when(
            prom_port, "giftshop_reconciliation_age_seconds", lambda v: v >= 0
        )
        assert 0 <= age < 120
        tasks = value_when(
            prom_port,
            'sum(giftshop_celery_tasks_total{job="worker",'
            'task="wallets.reconcile_ledger",outcome="success"})',
            lambda v: v == 1,
        )
        assert tasks == 1
        # The web's requests, from both of its workers, added up.
        answered = value_when(
            prom_port,
            'sum(giftshop_http_requests_total{job="web",status="201"})',
            lambda v: v == SENDS,
        )
        assert answered == SENDS
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(timeout=10)
        stack.stop_all()
