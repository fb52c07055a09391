"""/metrics: who may read it, what every answer adds, and the processes' figures
added up (core/metrics.py). The business figures: reports/tests/test_metrics.py."""

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from celery import shared_task
from django.conf import settings
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import UNMATCHED, QueueLengths, worker_metrics_started
from gifting.tests.factories import rose

pytestmark = pytest.mark.django_db
TOKEN = "t" * 32
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    return TOKEN


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(response) -> dict[tuple, float]:
    """An exposition's samples by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer wrong-token-of-the-right-length!!", f"Basic {TOKEN}", TOKEN],
)
def test_without_the_token_a_scrape_is_refused(client, token, authorization):
    response = client.get("/metrics", HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 403
    assert b"giftshop" not in response.content
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_with_nothing_configured_nobody_may_read_the_figures(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []

    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_the_token_opens_the_figures_whatever_host_the_scrape_names(client, token):
    # Prometheus scrapes a worker by its address, not a name in ALLOWED_HOSTS.
    response = client.get(
        "/metrics", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="10.0.0.7:8000"
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-cache" in response["Cache-Control"]
    assert ("giftshop_metrics_database_up", ()) in scraped(response)


@pytest.mark.parametrize(
    ("address", "status"),
    [("10.1.2.3", 200), ("192.168.0.9", 200), ("172.16.0.1", 403), ("::1", 403)],
)
def test_an_allowed_network_opens_the_figures_without_a_token(
    client, settings, address, status
):
    import ipaddress

    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.0.9/32"),
    ]

    assert client.get("/metrics", REMOTE_ADDR=address).status_code == status


def test_only_reads_are_answered(client, token):
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_every_answer_is_counted_by_view_method_and_status_with_its_statements(
    client, token
):
    rose()
    before = {
        "ok": sample(
            "giftshop_http_requests_total", view="gift-list", method="GET", status="200"
        ),
        "missing": sample(
            "giftshop_http_requests_total",
            view=UNMATCHED,
            method="GET",
            status="404",
        ),
        "timed": sample(
            "giftshop_http_request_duration_seconds_count", view="gift-list"
        ),
        "statements": sample("giftshop_db_queries_total", view="gift-list"),
    }

    assert client.get("/api/v1/gifts/").status_code == 200
    assert client.get("/no/such/page/").status_code == 404

    assert (
        sample(
            "giftshop_http_requests_total", view="gift-list", method="GET", status="200"
        )
        == before["ok"] + 1
    )
    assert (
        sample(
            "giftshop_http_requests_total", view=UNMATCHED, method="GET", status="404"
        )
        == before["missing"] + 1
    )
    assert (
        sample("giftshop_http_request_duration_seconds_count", view="gift-list")
        == before["timed"] + 1
    )
    assert sample("giftshop_db_queries_total", view="gift-list") > before["statements"]


def test_a_scrape_is_neither_counted_nor_logged(client, token, capfd):
    before = sample(
        "giftshop_http_requests_total", view=UNMATCHED, method="GET", status="200"
    )

    client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert "/metrics" not in capfd.readouterr().err
    assert (
        sample(
            "giftshop_http_requests_total", view=UNMATCHED, method="GET", status="200"
        )
        == before
    )


@shared_task(name="core.tests.metrics_probe", autoretry_for=(), bind=True)
def metrics_probe(self, outcome: str):
    if outcome == "retry" and self.request.retries == 0:
        raise self.retry(countdown=0, max_retries=1)
    if outcome == "failure":
        raise ValueError("asked to fail")
    return outcome


def test_celery_tasks_are_counted_by_outcome(eager_celery):
    name = "core.tests.metrics_probe"
    before = {
        outcome: sample("giftshop_celery_tasks_total", task=name, outcome=outcome)
        for outcome in ("success", "failure", "retry")
    }

    metrics_probe.apply(args=["success"], throw=False)
    metrics_probe.apply(args=["failure"], throw=False)
    metrics_probe.apply(args=["retry"], throw=False)

    after = {
        outcome: sample("giftshop_celery_tasks_total", task=name, outcome=outcome)
        for outcome in ("success", "failure", "retry")
    }
    # The retried one succeeds on its second run.
    assert after["success"] == before["success"] + 2
    assert after["failure"] == before["failure"] + 1
    assert after["retry"] == before["retry"] + 1


def test_a_workers_own_endpoint_is_closed_as_the_webs_is(token):
    server = worker_metrics_started("127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/metrics", timeout=5)
        assert refused.value.code == 403
        with pytest.raises(urllib.error.HTTPError) as elsewhere:
            urllib.request.urlopen(f"{base}/admin/", timeout=5)
        assert elsewhere.value.code == 404

        request = urllib.request.Request(
            f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            body = answer.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status == 200
    # A worker shows what it counts; the database's figures are the web's to show.
    assert "giftshop_metrics_database_up" not in body


COUNT_IN_A_PROCESS = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from gifting.metrics import GIFT_SENDS
GIFT_SENDS.labels("rose", "US").inc({n})
"""

SCRAPE = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from core.metrics import exposition
print(exposition(with_scrape_collectors=False).decode())
"""


def test_in_multiprocess_mode_a_scrape_adds_up_every_process(tmp_path):
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.pop("DATABASE_URL", None)

    def run(code: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    run(COUNT_IN_A_PROCESS.format(n=3))
    run(COUNT_IN_A_PROCESS.format(n=4))
    body = run(SCRAPE)

    assert 'giftshop_gift_sends_total{gift="rose",region="US"} 7.0' in body


def family_values(collector) -> dict[tuple, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in collector.collect()
        for s in family.samples
    }


def test_a_broker_out_of_reach_is_a_zero_not_a_failed_scrape():
    figures = family_values(QueueLengths("redis://127.0.0.1:1/0", ["celery"]))

    assert figures == {("giftshop_metrics_broker_up", ()): 0}


@pytest.mark.skipif(
    settings.CELERY_TASK_ALWAYS_EAGER, reason="needs a broker (CELERY_BROKER_URL)"
)
def test_queue_lengths_are_read_from_the_real_broker():
    from kombu import Connection, Exchange, Producer, Queue

    name = f"metrics-test-{os.getpid()}"
    queue = Queue(name, Exchange(name), routing_key=name)
    with Connection(settings.CELERY_BROKER_URL) as broker:
        bound = queue(broker.default_channel)
        bound.declare()
        try:
            producer = Producer(broker.default_channel)
            for n in range(3):
                producer.publish({"n": n}, exchange=queue.exchange, routing_key=name)
            figures = family_values(
                QueueLengths(settings.CELERY_BROKER_URL, [name, f"{name}-empty"])
            )
        finally:
            bound.delete()

    assert figures[("giftshop_metrics_broker_up", ())] == 1
    assert figures[("giftshop_celery_queue_length", (("queue", name),))] == 3
    assert figures[("giftshop_celery_queue_length", (("queue", f"{name}-empty"),))] == 0


def test_a_made_up_method_is_not_a_series_of_its_own(client):
    before = sample(
        "giftshop_http_requests_total", view=UNMATCHED, method="other", status="404"
    )

    for n in range(3):
        client.generic(f"BREW{n}", "/no/such/page/")

    assert (
        sample(
            "giftshop_http_requests_total", view=UNMATCHED, method="other", status="404"
        )
        == before + 3
    )
    assert (
        REGISTRY.get_sample_value(
            "giftshop_http_requests_total",
            {"view": UNMATCHED, "method": "BREW0", "status": "404"},
        )
        is None
    )
