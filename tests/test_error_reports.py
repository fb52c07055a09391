"""Error reports: off without SENTRY_DSN; with one, a view's exception reaches a
Sentry-compatible server with its request id and without personal data."""

import gzip
import http.server
import json
import os
import threading

import pytest
import sentry_sdk
from rest_framework.test import APIClient

from core.error_reports import error_reports_init, personal_data_scrubbed
from wallets.api import views as wallet_views
from wallets.stores import sandbox_receipt
from wallets.tests.factories import user_create

IBAN = "DE89370400440532013000"
EMAIL = "jane.doe@example.com"


class Collector(http.server.BaseHTTPRequestHandler):
    """A stand-in for Sentry's ingestion endpoint: keeps every envelope it gets."""

    received: list[bytes]

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def sentry_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def reporting(sentry_server):
    port = sentry_server.server_address[1]
    assert error_reports_init(
        dsn=f"http://public@127.0.0.1:{port}/42",
        environment="test",
        traces_sample_rate=None,
    )
    yield sentry_server
    client = sentry_sdk.get_client()
    client.close(timeout=5)
    sentry_sdk.get_global_scope().set_client(None)


def events(received) -> list[dict]:
    """The events in the envelopes: each is lines of header, item header, item."""
    found = []
    for _, body in received:
        lines = body.split(b"\n")
        for item_header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(item_header).get("type") == "event":
                found.append(json.loads(payload))
    return found


@pytest.mark.skipif(bool(os.environ.get("SENTRY_DSN")), reason="SENTRY_DSN is set")
def test_without_a_dsn_nothing_is_reported():
    assert error_reports_init(dsn="", environment="test", traces_sample_rate=None) is (
        False
    )
    assert not sentry_sdk.get_client().is_active()


@pytest.mark.django_db
def test_a_view_error_reaches_sentry_with_the_request_id_and_no_personal_data(
    reporting, monkeypatch
):
    user = user_create(email=EMAIL)
    receipt = sandbox_receipt(user.id, "coins_100", "txn-1", store="apple")

    def broken(user):
        destination = IBAN  # a frame variable under a secret-looking name
        raise RuntimeError(f"cannot pay {EMAIL} at {destination} for {receipt}")

    monkeypatch.setattr(wallet_views, "wallet_data", broken)
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(user)

    response = api.get(
        "/api/v1/wallet/?email=" + EMAIL,
        HTTP_X_REQUEST_ID="req-sentry-1",
        HTTP_COOKIE="sessionid=very-secret-session",
    )
    sentry_sdk.flush(timeout=5)

    assert response.status_code == 500
    assert response["X-Request-ID"] == "req-sentry-1"
    reported = events(reporting.received)
    errors = [
        event
        for event in reported
        if event.get("exception", {}).get("values", [{}])[-1].get("type")
        == "RuntimeError"
    ]
    assert errors, reporting.received
    assert errors[0]["tags"]["request_id"] == "req-sentry-1"
    assert errors[0]["environment"] == "test"
    assert "cannot pay [email] at [account] for [receipt]" in json.dumps(errors[0])
    everything = b"".join(body for _, body in reporting.received).decode()
    leaked = [
        name
        for name, secret in {
            "e-mail": EMAIL,
            "IBAN": IBAN,
            "receipt": receipt,
            "receipt signature": receipt.rsplit(".", 1)[1],
            "session": "very-secret-session",
        }.items()
        if secret in everything
    ]
    assert leaked == []


def test_personal_data_is_masked_in_any_text_of_a_report():
    event = {
        "message": f"payout to {EMAIL}, account DE89 3704 0044 0532 0130 00",
        "extra": {"note": ["card 4111111111111111", ("token", "a" * 40)]},
        "event_id": "0" * 32,
    }

    scrubbed = personal_data_scrubbed(event, {})

    assert scrubbed["message"] == "payout to [email], account [account]"
    assert scrubbed["extra"]["note"] == ["card [number]", ["token", "[token]"]]
    assert scrubbed["event_id"] == "0" * 32
