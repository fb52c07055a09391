"""Faults on the money paths: the database connection killed mid-transaction."""

import threading
import time

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from kombu.exceptions import OperationalError as KombuOperationalError
from rest_framework.test import APIClient

from gifting.models import GiftSend
from gifting.tests.factories import creator_create, funded_sender, rose
from wallets import ledger
from wallets.models import PendingCredit, Purchase, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.stores import sandbox_receipt
from wallets.tests.factories import on_sale, user_create

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="kills a PostgreSQL backend (set DATABASE_URL)",
    ),
]


def _started(request_in_thread):
    """The request running in a thread of its own, and where its response goes."""
    result = {}

    def run():
        try:
            result["response"] = request_in_thread()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def kill_mid_transfer(monkeypatch, request_in_thread):
    """Run a request in a thread and kill its database connection after its first
    transfers are written, before the transaction commits; returns the response."""
    reached, killed = threading.Event(), threading.Event()
    backend = {}
    real_post = ledger.transfers_post

    def post_then_wait(legs, **kwargs):
        transfers = real_post(legs, **kwargs)
        if not reached.is_set():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend["pid"] = cursor.fetchone()[0]
            reached.set()
            killed.wait(10)
        return transfers

    monkeypatch.setattr(ledger, "transfers_post", post_then_wait)
    thread, result = _started(request_in_thread)
    assert reached.wait(10), "the request never reached its first transfer"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend["pid"]])
    killed.set()
    thread.join(20)
    return result["response"]


def kill_while_blocked(user, request_in_thread):
    """Run a request in a thread while this connection holds `user`'s coin accounts
    locked, kill the request's database connection once it waits on that lock, in
    the middle of its statement, and return its response.

    A gift send on PostgreSQL is one statement: there is no moment between two
    statements to kill it at, so it is killed inside the one."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM wallets_ledgeraccount WHERE owner_id = %s FOR UPDATE",
            [user.id],
        )
        thread, result = _started(request_in_thread)
        pid = None
        for _ in range(200):
            # Statistics are read once per transaction unless cleared.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND pid <> pg_backend_pid()"
            )
            row = cursor.fetchone()
            if row:
                pid = row[0]
                break
            time.sleep(0.05)
        assert pid, "the gift send never waited inside its statement"
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    thread.join(20)
    return result["response"]


@pytest.mark.parametrize("posting", ["database", "python"])
def test_a_gift_send_whose_connection_dies_leaves_no_partial_transfer(
    monkeypatch, settings, posting
):
    settings.LEDGER_POSTING = posting
    sender, creator = funded_sender(100), creator_create()
    rose(coin_price=3)
    transfers_before = Transfer.objects.count()
    client = APIClient()
    client.force_authenticate(sender)

    def send():
        return client.post(
            "/api/v1/gift-sends/",
            {
                "gift": "rose",
                "creator": creator.id,
                "placement": "live",
                "stream_id": "s",
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="dies",
        )

    if posting == "database":
        response = kill_while_blocked(sender, send)
    else:
        response = kill_mid_transfer(monkeypatch, send)
    assert response.status_code == 503
    assert response.json()["code"] == "temporarily_unavailable"
    assert not GiftSend.objects.exists()
    assert Transfer.objects.count() == transfers_before
    assert not PendingCredit.objects.exists()
    assert wallet_balances(user=sender).coins == 100
    assert ledger_reconcile().is_clean


def test_a_purchase_whose_connection_dies_leaves_nothing_and_can_be_retried(
    monkeypatch,
):
    buyer = user_create()
    on_sale(coins=100, sku="coins_100")
    client = APIClient()
    client.force_authenticate(buyer)

    def buy():
        return client.post(
            "/api/v1/purchases/",
            {
                "bundle": "coins_100",
                "region": "US",
                "channel": "app",
                "store": "apple",
                "receipt": sandbox_receipt(buyer.id, "coins_100", "t-1", store="apple"),
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="buy-1",
        )

    response = kill_mid_transfer(monkeypatch, buy)

    assert response.status_code == 503
    assert not Purchase.objects.exists()
    assert not Transfer.objects.exists()
    monkeypatch.undo()
    retry = buy()
    assert retry.status_code == 201
    assert wallet_balances(user=buyer).paid_coins == 100
    assert ledger_reconcile().is_clean


def test_with_the_broker_down_approvals_and_gifts_go_on_and_no_payout_is_lost(
    client, monkeypatch
):
    from django.contrib.auth.models import Group

    from config.celery import app as celery_app
    from gifting.tests.factories import rich_creator
    from payouts import services, tasks
    from payouts.models import Payout, SandboxPayoutRecord
    from wallets.models import DIAMOND_SCALE

    def broker_down(*args, **kwargs):
        raise KombuOperationalError("Error 111 connecting to the broker: refused.")

    # What `.delay()` raises when the broker cannot be reached.
    monkeypatch.setattr(tasks.dispatch_payouts, "delay", broker_down)
    finance = user_create(is_staff=True)
    finance.groups.add(Group.objects.get(name="Finance"))
    payout = services.payout_request(
        creator=rich_creator(),
        diamond_units=20_000 * DIAMOND_SCALE,
        idempotency_key="k",
    ).payout
    client.force_login(finance)

    response = client.post(
        "/admin/payouts/payout/",
        {
            "action": "approve",
            "_selected_action": [payout.id],
            "apply": "1",
            "risks_reviewed": "on",
        },
        follow=True,
    )

    assert response.status_code == 200
    payout.refresh_from_db()
    assert payout.status == Payout.Status.APPROVED  # recorded, waiting to be sent
    sender, creator = funded_sender(100), creator_create()
    gift = rose(slug="tulip", coin_price=2)
    api = APIClient()
    api.force_authenticate(sender)
    sent = api.post(
        "/api/v1/gift-sends/",
        {
            "gift": gift.slug,
            "creator": creator.id,
            "placement": "live",
            "stream_id": "s",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="g",
    )
    assert sent.status_code == 201

    # The broker is back: beat's next dispatches send it, once.
    monkeypatch.undo()
    celery_app.conf.task_always_eager = True
    try:
        tasks.dispatch_payouts.apply()
        tasks.dispatch_payouts.apply()
    finally:
        celery_app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert SandboxPayoutRecord.objects.get(reference=payout.reference).times_paid == 1
    assert ledger_reconcile().is_clean
