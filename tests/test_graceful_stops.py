"""Graceful stops of the real processes mid-load (PostgreSQL + a real broker only).

gunicorn: SIGTERM to the master while clients send purchases and gifts; requests in
flight finish (gunicorn's graceful timeout), a fresh gunicorn takes over, and every
request the clients got no answer to is retried with its Idempotency-Key.

Celery: SIGTERM to a worker (a warm shutdown) while it sends payouts; the payouts it
had started are finished and acknowledged, the tasks it had taken but not started go
back to the broker (late acks) and a second worker runs them.

Either way: nothing lost, nothing twice, the ledger clean.
"""

import contextlib
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass

import psycopg
import pytest
from django.db import connection
from django.db.models import Count, Sum
from rest_framework.authtoken.models import Token

from accounts.models import User
from catalog.tests.factories import gift_create
from config.celery import app as celery_app
from gifting.models import GiftSend
from gifting.tests.factories import rich_creator
from payouts import services as payout_services
from payouts import tasks as payout_tasks
from payouts.models import Payout, SandboxPayoutRecord
from wallets import ledger
from wallets import services as wallet_services
from wallets.models import DIAMOND_SCALE, Purchase, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.stores import sandbox_receipt
from wallets.tests.factories import on_sale, purchase_buy, staff_create, user_create

from .soak_helpers import (
    REAL_STACK,
    STACK_SECRETS,
    Answer,
    Recorder,
    Stack,
    database_url,
    free_port,
    server_dsn,
    wait_for,
    wait_ready,
)

pytestmark = REAL_STACK

SKU = "graceful_coins_100"
GIFT = "graceful-rose"
CLIENTS = 4
# The production value the README's deploy command gives gunicorn.
GRACEFUL_TIMEOUT = 30
# How long the test holds the slow request in flight after the SIGTERM.
HELD_AFTER_SIGTERM = 1.5
# What a client may meet while no gunicorn listens, and nothing else.
SWAP_ERRORS = ("ConnectionRefusedError", "ConnectionResetError", "RemoteDisconnected")


@pytest.fixture(autouse=True)
def _sign_as_the_stack_verifies(settings):
    for name, value in STACK_SECRETS.items():
        setattr(settings, name, value)


@pytest.fixture(autouse=True)
def _empty_queue():
    celery_app.control.purge()
    yield
    celery_app.control.purge()  # nothing of this test reaches the next one


@dataclass
class Sent:
    """One money request as its client saw it, retries included."""

    kind: str  # "purchase" or "gift_send"
    key: str
    started: float
    answered: float = 0.0
    status: int = 0  # the last answer's; 0 when none came
    row: int = 0
    unanswered: int = 0  # tries that got no answer before the last


def send_until_answered(recorder, kind, path, token, key, body) -> tuple[Answer, int]:
    """POST with the key until an answer comes, as a client app would; returns
    the answer and how many tries got none."""
    deadline = time.monotonic() + 60
    unanswered = 0
    while True:
        answer = recorder.request(
            kind, "POST", path, token=token, body=body,
            headers={"Idempotency-Key": key},
        )  # fmt: skip
        if answer.status != 0 or time.monotonic() > deadline:
            return answer, unanswered
        unanswered += 1
        time.sleep(0.1)


class Client(threading.Thread):
    """Gifts to the creator and purchases, one after another, until told to stop."""

    def __init__(self, n, recorder, stop, *, user, token, creator_id):
        super().__init__(name=f"graceful-client-{n}", daemon=True)
        self.n, self.rec, self.stop = n, recorder, stop
        self.user, self.token, self.creator_id = user, token, creator_id
        self.rng = random.Random(n)
        self.sent: list[Sent] = []

    def run(self):
        seq = 0
        while not self.stop.is_set():
            seq += 1
            if self.rng.random() < 0.7:
                self.post("gift_send", "/api/v1/gift-sends/", f"gift-{self.n}-{seq}", {
                    "gift": GIFT,
                    "creator": self.creator_id,
                    "quantity": self.rng.randint(1, 3),
                    "placement": "live",
                    "stream_id": "graceful-stream",
                    "region": "US",
                })  # fmt: skip
            else:
                key = f"buy-{self.n}-{seq}"
                self.post("purchase", "/api/v1/purchases/", key, {
                    "bundle": SKU,
                    "region": "US",
                    "channel": "app",
                    "store": "apple",
                    "receipt": sandbox_receipt(
                        self.user.id, SKU, f"txn-{key}", store="apple"
                    ),
                })  # fmt: skip

    def post(self, kind, path, key, body):
        sent = Sent(kind, key, started=time.monotonic())
        answer, sent.unanswered = send_until_answered(
            self.rec, kind, path, self.token, key, body
        )
        sent.answered, sent.status = time.monotonic(), answer.status
        if 200 <= answer.status < 300:
            sent.row = answer.body[kind]["id"]
        self.sent.append(sent)


def client_user(us, seed_bundle, n: int) -> tuple[User, str]:
    """A user at home in US with 10,000 coins, bought before the load starts."""
    user = user_create()
    wallet_services.home_region_set(
        user=user, region=us, actor=None, reason="The clients buy and gift in US."
    )
    purchase_buy(user, seed_bundle, us, key=f"seed-{n}")
    return user, Token.objects.create(user=user).key


def coins_held_as_bought_minus_given(user_id: int) -> bool:
    bought = sum(
        p.coins + p.bonus_coins
        for p in Purchase.objects.filter(
            user_id=user_id, status=Purchase.Status.COMPLETED
        )
    )
    given = GiftSend.objects.filter(sender_id=user_id).aggregate(c=Sum("coins"))["c"]
    held = wallet_balances(user=User.objects.get(id=user_id)).coins
    return held == bought - (given or 0)


@contextlib.contextmanager
def accounts_locked(user_id: int):
    """Hold the user's ledger rows locked from a connection of PostgreSQL itself, so
    that a gift from this user waits in the database; yields that backend's pid."""
    with psycopg.connect(server_dsn(), dbname=connection.settings_dict["NAME"]) as db:
        db.execute(
            "SELECT id FROM wallets_ledgeraccount WHERE owner_id = %s FOR UPDATE",
            [user_id],
        )
        yield db.info.backend_pid
        db.rollback()


def waiting_on(locker_pid: int) -> int:
    with psycopg.connect(
        server_dsn(), dbname=connection.settings_dict["NAME"], autocommit=True
    ) as db:
        return db.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE %s = ANY(pg_blocking_pids(pid))",
            [locker_pid],
        ).fetchone()[0]


def test_gunicorn_sigterm_mid_load_finishes_in_flight_requests_and_loses_none(
    tmp_path,
):
    _, us = on_sale(coins=100, amount="0.99", sku=SKU)
    seed_bundle, _ = on_sale(coins=10_000, amount="99.99", sku="graceful_seed")
    gift_create(slug=GIFT, name="Graceful Rose", coin_price=1)
    creator = rich_creator(diamonds=1)
    users = [client_user(us, seed_bundle, n) for n in range(CLIENTS + 1)]
    (slow_user, slow_token), users = users[0], users[1:]

    port = free_port()
    stack = Stack(tmp_path, database_url())
    recorder, stop = Recorder(port), threading.Event()
    clients = [
        Client(n, recorder, stop, user=user, token=token, creator_id=creator.id)
        for n, (user, token) in enumerate(users)
    ]
    slow: list = []

    def send_slow_gift():
        body = {
            "gift": GIFT,
            "creator": creator.id,
            "quantity": 1,
            "placement": "live",
            "stream_id": "graceful-stream",
            "region": "US",
        }
        answer = send_until_answered(
            recorder, "gift_send", "/api/v1/gift-sends/", slow_token, "slow", body
        )
        slow.append((*answer, time.monotonic()))

    try:
        web = stack.start_web(port, graceful_timeout=GRACEFUL_TIMEOUT)
        wait_ready(web, port, tmp_path / "gunicorn.log")
        for client in clients:
            client.start()
        time.sleep(3)

        with accounts_locked(slow_user.id) as locker:
            slow_gift = threading.Thread(target=send_slow_gift)
            slow_gift.start()
            assert wait_for(lambda: waiting_on(locker) >= 1, 15, every=0.05), slow
            os.kill(web.pid, signal.SIGTERM)
            sigterm_at = time.monotonic()
            time.sleep(HELD_AFTER_SIGTERM)
        old_exit = web.wait(timeout=GRACEFUL_TIMEOUT + 10)
        old_exited_at = time.monotonic()
        slow_gift.join(30)

        web = stack.start_web(port, graceful_timeout=GRACEFUL_TIMEOUT)
        wait_ready(web, port, tmp_path / "gunicorn.log")
        time.sleep(3)
        stop.set()
        for client in clients:
            client.join(90)
        assert not any(c.is_alive() for c in clients), "a client did not stop"
    finally:
        stop.set()
        stack.stop_all()
    ledger.pending_credits_fold_all()
    log = stack.log("gunicorn.log")

    # The old gunicorn stopped on its own, after its last request, with success.
    assert old_exit == 0, log[-3000:]
    assert "WORKER TIMEOUT" not in log and "Traceback" not in log, log[-3000:]
    (slow_answer, slow_unanswered, slow_answered_at) = slow[0]
    assert (slow_answer.status, slow_unanswered) == (201, 0), slow_answer.body
    # Answered after the test let it go: in flight for the whole SIGTERM, finished.
    assert slow_answered_at - sigterm_at >= HELD_AFTER_SIGTERM
    assert slow_answered_at <= old_exited_at

    sent = [s for c in clients for s in c.sent]
    assert all(200 <= s.status < 300 for s in sent), [
        (s.key, s.status) for s in sent if not 200 <= s.status < 300
    ]
    # No 5xx at all; no answer only while no gunicorn was there to give one.
    assert all(0 < status < 500 for status in recorder.statuses if status), dict(
        recorder.statuses
    )
    no_answer = Counter(
        body["error"].split("(")[0] for _, status, body in recorder.server_errors
    )
    assert set(no_answer) <= set(SWAP_ERRORS), no_answer
    before_stop = [s for s in sent if s.answered < sigterm_at]
    retried = [s for s in sent if s.unanswered]
    # Sent before the SIGTERM, answered after it, at the first try.
    in_flight = [
        s for s in sent if s.started < sigterm_at < s.answered and not s.unanswered
    ]
    replayed = [s for s in retried if s.status == 200]
    assert before_stop and retried, (len(before_stop), len(retried))

    # Every request is in the database once, as the row its answer named.
    user_ids = [user.id for user, _ in users]
    stored = {
        ("gift_send", key): row
        for key, row in GiftSend.objects.filter(sender_id__in=user_ids).values_list(
            "idempotency_key", "id"
        )
    } | {
        ("purchase", key): row
        for key, row in Purchase.objects.filter(user_id__in=user_ids)
        .exclude(idempotency_key__startswith="seed-")
        .values_list("idempotency_key", "id")
    }
    assert stored == {(s.kind, s.key): s.row for s in sent}
    assert GiftSend.objects.filter(sender=slow_user).count() == 1
    for user_id in [*user_ids, slow_user.id]:
        assert coins_held_as_bought_minus_given(user_id), user_id
    run = ledger_reconcile()
    assert run.is_clean, run.problems[:10]
    print(
        f"\nGRACEFUL gunicorn: {len(sent)} money requests, {len(before_stop)} "
        f"answered before the SIGTERM, {len(in_flight)} in flight across it, "
        f"{len(retried)} retried after no answer ({dict(no_answer)}), of which "
        f"{len(replayed)} had been applied already; the slow gift "
        f"answered {slow_answered_at - sigterm_at:.1f} s after the SIGTERM"
    )


PAYOUTS = 12
# Long enough that a SIGTERM finds payouts in the provider's hands.
PROVIDER_MS = 1500


def queued_messages() -> int:
    with celery_app.connection_for_read() as conn:
        # Not passive: Redis keeps no empty queue, and declaring it creates nothing.
        return conn.default_channel.queue_declare(
            celery_app.conf.task_default_queue
        ).message_count


def test_celery_sigterm_finishes_running_payouts_and_hands_back_the_rest(tmp_path):
    finance = staff_create("Finance")
    ids = []
    for n in range(PAYOUTS):
        payout = payout_services.payout_request(
            creator=rich_creator(diamonds=30_000),
            diamond_units=20_000 * DIAMOND_SCALE,
            idempotency_key=f"graceful-{n}",
        ).payout
        Payout.objects.filter(id=payout.id).update(
            status=Payout.Status.APPROVED, first_approver=finance
        )
        ids.append(payout.id)
    for payout_id in ids:
        payout_tasks.send_payout_batch.delay([payout_id])
    assert queued_messages() == PAYOUTS

    def statuses() -> Counter:
        return Counter(Payout.objects.values_list("status", flat=True))

    def mid_run() -> bool:
        now = statuses()
        return now[Payout.Status.PAID] >= 2 and now[Payout.Status.PROCESSING] == 2

    stack = Stack(tmp_path, database_url())
    # No sweep re-sends a processing payout and the broker gives no task back on its
    # own within the test: whatever runs twice or comes back is the stop's doing.
    worker_env = {
        "PAYOUT_SANDBOX_MS_PER_ITEM": str(PROVIDER_MS),
        "PAYOUT_STUCK_AFTER_SECONDS": "3600",
        "CELERY_VISIBILITY_TIMEOUT": "3600",
    }
    try:
        # Two tasks a process, production one: besides the two it runs, the worker
        # holds two it has not started when the SIGTERM comes.
        first = stack.start_worker(
            "graceful1", concurrency=2, prefetch_multiplier=2, **worker_env
        )
        assert wait_for(mid_run, 60, every=0.05), statuses()
        held = celery_app.control.inspect(timeout=5, limit=1).reserved() or {}
        os.kill(first.pid, signal.SIGTERM)
        at_sigterm = statuses()
        first_exit = first.wait(timeout=60)
        at_exit = statuses()
        handed_back = queued_messages()

        stack.start_worker("graceful2", concurrency=2, **worker_env)
        drained = wait_for(
            lambda: statuses()[Payout.Status.PAID] == PAYOUTS, 60, every=0.2
        )
    finally:
        stack.stop_all()
    log = stack.log("graceful1.log")

    assert sum(len(tasks) for tasks in held.values()) == 2, held
    assert first_exit == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    # It finished what it had started and started nothing more.
    first_paid = at_exit[Payout.Status.PAID]
    assert first_paid >= at_sigterm[Payout.Status.PAID] + 2, (at_sigterm, at_exit)
    assert at_exit[Payout.Status.PROCESSING] == 0, at_exit
    assert at_exit[Payout.Status.APPROVED] == PAYOUTS - first_paid > 0, at_exit
    # What it had not started, held or not, went back to the broker, and the
    # second worker ran it.
    assert handed_back == PAYOUTS - first_paid
    assert drained, statuses()
    assert queued_messages() == 0

    # Each payout sent to the provider once, paid once, posted once.
    records = SandboxPayoutRecord.objects.all()
    assert records.count() == PAYOUTS
    assert set(records.values_list("times_received", "times_paid")) == {(1, 1)}
    posted = Counter(
        Transfer.objects.filter(kind=Transfer.Kind.PAYOUT)
        .values("reference")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    assert posted == {1: PAYOUTS}
    run = ledger_reconcile()
    assert run.is_clean, run.problems[:10]
    print(
        f"\nGRACEFUL celery: {at_sigterm[Payout.Status.PAID]} paid and "
        f"{at_sigterm[Payout.Status.PROCESSING]} with the provider and "
        f"{sum(len(t) for t in held.values())} held unstarted at SIGTERM; the "
        f"first worker exited {first_exit} with {first_paid} paid, "
        f"{handed_back} tasks handed back and run by the second"
    )
