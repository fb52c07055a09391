"""Liveness and readiness against the real database, migrations table and broker.

A dependency is made to fail for real: the probe's connection goes to a port
nothing listens on (or a file that cannot be opened), the broker URL to a closed
port, a migration's record is removed from `django_migrations`.
"""

import os
import socket

import pytest
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder

# The probe reads in a thread of its own, so the data is committed; serialized
# rollback puts the migrations' data back (a plain flush would leave content types
# that the next serialized test then inserts twice).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unreachable_database():
    """New connections (the probe opens its own, in another thread) fail to open;
    the test's own connection stays open and working."""
    settings_dict = connections.settings["default"]
    saved = dict(settings_dict)
    if settings_dict["ENGINE"].endswith("sqlite3"):
        settings_dict["NAME"] = "/nonexistent-directory/giftshop.sqlite3"
    else:
        settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
        settings_dict.setdefault("OPTIONS", {})["connect_timeout"] = 1
    settings_dict.setdefault("TEST", {})
    yield
    settings_dict.clear()
    settings_dict.update(saved)


def test_liveness_answers_without_touching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert "no-cache" in response["Cache-Control"]


def test_readiness_times_each_check_and_answers_200(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "migrations", "cache"}
    for entry in body["checks"].values():
        assert entry["ok"] is True
        assert entry["ms"] >= 0


def test_probes_answer_any_host_over_plain_http(client, settings):
    """A load balancer probes a worker by its address, over HTTP: neither the host
    list nor the HTTPS redirect may fail a healthy worker."""
    settings.ALLOWED_HOSTS = ["giftshop.example"]
    settings.SECURE_SSL_REDIRECT = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    for path in ("/healthz", "/readyz/"):
        response = client.get(path, HTTP_HOST="10.1.2.3:8000")
        assert response.status_code == 200, (path, response.status_code)
    # Every other path still goes through both.
    assert client.get("/api/v1/gifts/", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_a_stopped_database_makes_readiness_503_naming_it(
    client, settings, unreachable_database
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert "database" in body["failing"]
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["cache"]["ok"] is True
    # Nothing about the server (host, port, user) in an unauthenticated answer.
    assert "5432" not in response.content.decode()
    assert "error" not in body["checks"]["database"]


def test_an_unapplied_migration_makes_readiness_503(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    recorder = MigrationRecorder(connections["default"])
    applied = recorder.migration_qs.filter(app="payouts").order_by("-id").first()
    recorder.record_unapplied(applied.app, applied.name)
    try:
        response = client.get("/readyz")
    finally:
        recorder.record_applied(applied.app, applied.name)
    assert response.status_code == 503
    assert response.json()["failing"] == ["migrations"]
    assert client.get("/readyz").status_code == 200


def test_an_unreachable_broker_makes_readiness_503_naming_it(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]


@pytest.mark.skipif(
    not os.environ.get("CELERY_BROKER_URL"),
    reason="needs a real broker: set CELERY_BROKER_URL",
)
def test_a_real_broker_is_checked_when_configured(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["broker"]["ok"] is True


def test_probes_take_get_only(client):
    response = client.post("/readyz")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
