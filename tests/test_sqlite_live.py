"""The embedded default under concurrent money requests: `make run`'s runserver on
a SQLite file, hit by real threads (SQLite only; PostgreSQL has its own tests).

The test database (in memory) is seeded here, copied to a file with SQLite's backup
API (a fresh `migrate` would take 20 s), served by `manage.py runserver` (threaded,
as `make run` serves it), and copied back afterwards so the ORM can check what the
server wrote.
"""

import contextlib
import http.client
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from rest_framework.authtoken.models import Token

from gifting.models import GiftSend
from gifting.tests.factories import funded_sender, rich_creator, rose
from payouts import services as payout_services
from payouts.models import Payout
from wallets.models import Purchase
from wallets.reconciliation import ledger_reconcile
from wallets.stores import sandbox_receipt
from wallets.tests.factories import on_sale, staff_create, user_create

from .soak_helpers import Recorder, free_port, wait_ready

ROOT = Path(__file__).resolve().parent.parent
REAL_ANSWERS = {200, 201, 409, 429}

pytestmark = [
    # Committed data, copied to the file; serialized rollback puts the migrations'
    # data (roles, levels, terms) back afterwards.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
        reason="tests the embedded SQLite default; PostgreSQL has its own "
        "concurrency tests",
    ),
]


def database_to_file(path: Path) -> None:
    connection.ensure_connection()
    target = sqlite3.connect(path)
    try:
        connection.connection.backup(target)
    finally:
        target.close()


def database_from_file(path: Path) -> None:
    connection.ensure_connection()
    source = sqlite3.connect(path)
    try:
        source.backup(connection.connection)
    finally:
        source.close()


def server_env(db_file: Path) -> dict:
    """`make run`'s settings (debug, eager Celery, default rate limits) on the file."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "DATABASE_", "PYTEST_", "CELERY_", "THROTTLE_")
        )
        and key != "CACHE_URL"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{db_file}",
        LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


@contextlib.contextmanager
def runserver(db_file: Path, log_path: Path):
    port = free_port()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runserver",
                f"127.0.0.1:{port}",
                "--noreload",
                "--skip-checks",
            ],  # fmt: skip
            cwd=ROOT,
            env=server_env(db_file),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(process, port, log_path, seconds=30)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def at_once(calls) -> list:
    """Run each call in its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [
        threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    return results


@dataclass(frozen=True)
class Call:
    op: str
    token: str
    path: str
    key: str
    body: dict


def _token(user) -> str:
    return Token.objects.create(user=user).key


def money_calls(*, creators, senders, buyers, bundle, region, gift) -> list[Call]:
    """Payout requests (two per creator), gift sends (half to one creator),
    purchases, and two requests sent twice: 50 in all."""
    run = uuid.uuid4().hex[:8]
    calls = []
    for n, creator in enumerate(creators):
        # Two cash-outs of one creator at once: one is held, the other is refused.
        token = _token(creator.user)
        for attempt in range(2):
            calls.append(
                Call("payout", token, "/api/v1/payouts/", f"po-{run}-{n}-{attempt}",
                     {"all": True})
            )  # fmt: skip
    for n, sender in enumerate(senders):
        token = _token(sender)
        for g in range(4):
            target = creators[0] if g % 2 else creators[1 + n % 5]
            body = {"gift": gift.slug, "creator": target.id, "quantity": 1 + g,
                    "placement": "live", "stream_id": f"live-{run}"}  # fmt: skip
            calls.append(
                Call("gift", token, "/api/v1/gift-sends/", f"gift-{run}-{n}-{g}", body)
            )
    for n, buyer in enumerate(buyers):
        token = _token(buyer)
        for p in range(4):
            receipt = sandbox_receipt(
                buyer.id, bundle.sku, f"txn-{run}-{n}-{p}", store="apple"
            )
            body = {"bundle": bundle.sku, "region": region.code, "channel": "app",
                    "store": "apple", "receipt": receipt}  # fmt: skip
            calls.append(
                Call("purchase", token, "/api/v1/purchases/", f"buy-{run}-{n}-{p}",
                     body)
            )  # fmt: skip
    # A gift and a purchase sent twice at the same moment: one applies, one replays.
    first_gift = next(call for call in calls if call.op == "gift")
    first_purchase = next(call for call in calls if call.op == "purchase")
    return [*calls, first_gift, first_purchase]


def test_fifty_concurrent_money_requests_each_get_a_real_answer(tmp_path):
    bundle, region = on_sale(coins=100, amount="0.99")
    creators = [rich_creator(diamonds=50_000) for _ in range(6)]
    senders = [funded_sender(1000) for _ in range(5)]
    buyers = [user_create() for _ in range(4)]
    calls = money_calls(
        creators=creators,
        senders=senders,
        buyers=buyers,
        bundle=bundle,
        region=region,
        gift=rose(coin_price=1),
    )
    assert len(calls) == 50
    db_file = tmp_path / "db.sqlite3"
    database_to_file(db_file)

    with runserver(db_file, tmp_path / "runserver.log") as port:
        recorder = Recorder(port)
        started = time.monotonic()
        answers = at_once(
            [
                lambda c=c: recorder.request(
                    c.op,
                    "POST",
                    c.path,
                    token=c.token,
                    body=c.body,
                    headers={"Idempotency-Key": c.key},
                )
                for c in calls
            ]  # fmt: skip
        )
        seconds = time.monotonic() - started

    errors = {repr(error)[:300] for error in recorder.server_errors}
    assert {a.status for a in answers} <= REAL_ANSWERS, (recorder.by_op, errors)
    assert seconds < 45, (seconds, recorder.by_op)
    by_key = {}
    for call, answer in zip(calls, answers, strict=True):
        by_key.setdefault(call.key, []).append(answer)
    for key, pair in by_key.items():
        if len(pair) == 2:  # the same request twice: the same row, created once
            assert sorted(a.status for a in pair) in ([200, 201], [201, 429]), key

    database_from_file(db_file)
    created = Counter(
        c.op for c, a in zip(calls, answers, strict=True) if a.status == 201
    )
    # Each creator's first cash-out is held; the second is refused (payout_open).
    assert created["payout"] == Payout.objects.count() == len(creators)
    assert created["gift"] == GiftSend.objects.count()
    assert created["purchase"] == Purchase.objects.filter(user__in=buyers).count()
    assert ledger_reconcile().is_clean


class AdminBrowser:
    """A staff member's session in the admin over plain HTTP: cookies and CSRF."""

    def __init__(self, port: int):
        self.port, self.cookies = port, {}

    def request(self, method: str, path: str, fields: dict | None = None) -> int:
        """The answer's status; 0 for no answer at all (a reset, say)."""
        headers = {"Referer": f"http://127.0.0.1:{self.port}{path}"}
        body = None
        if fields is not None:
            # The csrftoken cookie holds the secret, which the form may send as is.
            csrf = {"csrfmiddlewaretoken": self.cookies["csrftoken"]}
            body = urlencode({**csrf, **fields})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            client.request(method, path, body=body, headers=headers)
            response = client.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            return 0
        finally:
            client.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status

    def log_in(self, user) -> None:
        self.request("GET", "/admin/login/")
        fields = {"username": user.username, "password": "pw"}
        assert self.request("POST", "/admin/login/?next=/admin/", fields) == 302


def test_two_finance_users_approving_and_refunding_at_once_get_no_error(tmp_path):
    # The server checks passwords with the project's hashers, not the tests' MD5;
    # few iterations keep the log-in quick.
    password = PBKDF2PasswordHasher().encode("pw", "finance-salt", iterations=1000)
    finance = [staff_create("Finance") for _ in range(2)]
    for user in finance:
        user.password = password
        user.save(update_fields=["password"])
    payouts = []
    for n in range(3):
        creator = rich_creator(diamonds=50_000)
        payouts.append(
            payout_services.payout_request(
                creator=creator, diamond_units=None, idempotency_key=f"adm-{n}"
            ).payout
        )
    buyers = [funded_sender(100) for _ in range(3)]
    purchases = list(Purchase.objects.filter(user__in=buyers))
    db_file = tmp_path / "db.sqlite3"
    database_to_file(db_file)

    with runserver(db_file, tmp_path / "runserver.log") as port:
        browsers = [AdminBrowser(port) for _ in finance]
        for browser, user in zip(browsers, finance, strict=True):
            browser.log_in(user)
        # Confirmed as the confirmation page posts it: new creators are flagged.
        approve = {
            "action": "approve",
            "index": 0,
            "apply": "1",
            "risks_reviewed": "on",
        }
        refund = {"action": "refund", "apply": "1", "reason": "Asked by the user."}
        calls = []
        for browser in browsers:
            for payout in payouts:
                fields = {**approve, "_selected_action": payout.id}
                calls.append(
                    lambda b=browser, f=fields: b.request(
                        "POST", "/admin/payouts/payout/", f
                    )
                )
            for purchase in purchases:
                fields = {**refund, "_selected_action": purchase.id}
                calls.append(
                    lambda b=browser, f=fields: b.request(
                        "POST", "/admin/wallets/purchase/", f
                    )
                )
        statuses = at_once(calls)
    assert statuses == [302] * len(calls), statuses

    database_from_file(db_file)
    for payout in payouts:
        payout.refresh_from_db()
        assert payout.status in {Payout.Status.APPROVED, Payout.Status.PAID}
        assert payout.events.filter(to_status=Payout.Status.APPROVED).count() == 1
    for purchase in purchases:
        purchase.refresh_from_db()
        assert purchase.status == Purchase.Status.REFUNDED
    assert ledger_reconcile().is_clean
