"""A bounded soak of the real stack under faults (PostgreSQL + a real broker only).

gunicorn (2 workers) and two Celery workers run as processes on the test database;
the test drives beat's periodic work itself. Eight clients send a random mix of
purchases, gifts (spread and to one hot creator), store refunds, payout requests,
replays and racing duplicates of one Idempotency-Key, while two finance users
approve payouts (four eyes for the larger ones). Meanwhile a Celery worker is
SIGKILLed at random and restarted, and now and then a web process's database
connection is terminated. Then the load stops, the workers drain, and the test
checks that no money moved twice or went missing.

`SOAK_SECONDS` sets the length of the load (150 by default); the figures go to
`soak.json` in the test's tmp dir (and to `SOAK_REPORT` if set).
"""

import datetime
import io
import json
import os
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.models import F, Sum
from django.utils import timezone
from openpyxl import load_workbook
from rest_framework.authtoken.models import Token

from catalog.tests.factories import gift_create
from config.celery import app as celery_app
from core.api.exceptions import connection_lost
from core.errors import ServiceError
from gifting.models import GiftSend, HoldRecovery
from gifting.tests.factories import rich_creator
from payouts import services as payout_services
from payouts.models import Payout, PayoutRules, SandboxPayoutRecord
from reports.exports import books_xlsx
from reports.selectors import books_for
from wallets import ledger
from wallets import services as wallet_services
from wallets.models import (
    DIAMOND_SCALE,
    AccountKind,
    LedgerAccount,
    PendingCredit,
    Purchase,
    ReconciliationRun,
    Transfer,
    UnrecoveredStoreRefund,
)
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.stores import sandbox_receipt, sandbox_signature
from wallets.tests.factories import on_sale, staff_create, user_create

from .soak_helpers import (
    REAL_STACK,
    STACK_SECRETS,
    WEB_APP_NAME,
    WORKER_APP_NAME,
    Answer,
    Recorder,
    Stack,
    app_backends,
    database_url,
    free_port,
    server_dsn,
    terminate_backend,
    wait_for,
    wait_ready,
)

SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS") or 150)
CLIENTS = 8
SENDERS_PER_CLIENT = 2
CREATORS = 5  # the first is the hot one
SEED_DIAMONDS = 20_000
SKU = "soak_coins_100"
GIFTS = {"soak-rose": 1, "soak-live": 5, "soak-cheer": 10}
WORKERS = ("soak1", "soak2")
# Refusals the mix provokes on purpose; any other 4xx is a finding.
EXPECTED_REFUSALS = {
    "gift 409 insufficient_balance",
    "gift race 409 insufficient_balance",
    "payout 409 payout_open",
    "payout 400 ",  # above the balance or the day's maximum: a field error
}
# What a request answered when the database killed its connection.
KILLED_CONNECTION = re.compile(
    r"terminating connection due to administrator command|server closed the "
    r"connection unexpectedly|connection is (?:lost|closed)|consuming input failed|"
    r"the connection is lost|no connection to the server|SSL SYSCALL|"
    # Through PgBouncer: its word for a killed server connection, and psycopg's
    # for the broken reply to the COMMIT that followed.
    r"server conn crashed|received \d+ results from command",
    re.IGNORECASE,
)

pytestmark = REAL_STACK


@pytest.fixture(autouse=True)
def _sign_as_the_stack_verifies(settings):
    """The stack runs in production mode on staging secrets of its own: this
    process signs receipts and notifications for it with the same."""
    for name, value in STACK_SECRETS.items():
        setattr(settings, name, value)


def mint_receipt(user_id: int, txn: str) -> str:
    """A receipt the sandbox store signs for this user's purchase of the bundle."""
    return sandbox_receipt(user_id, SKU, txn, store="apple")


BOOKS = {
    "purchase": lambda book: book.purchases,
    "gift_send": lambda book: book.gifts,
    "payout": lambda book: book.payouts,
}


@dataclass(frozen=True)
class Actor:
    user_id: int
    token: str
    creator_id: int = 0


@dataclass
class Book:
    """What the clients were told: the source of truth the database must match."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    # key -> (token, row id), for every money request finally answered 2xx
    purchases: dict = field(default_factory=dict)
    gifts: dict = field(default_factory=dict)
    payouts: dict = field(default_factory=dict)
    # store transaction id -> how many notifications answered "refunded"
    refunded: Counter = field(default_factory=Counter)
    refund_answers: Counter = field(default_factory=Counter)
    retries_after_503: int = 0
    unfinished: list = field(default_factory=list)  # keys never answered 2xx/4xx
    replays: int = 0
    races: int = 0
    anomalies: list = field(default_factory=list)

    def note(self, what: str) -> None:
        with self.lock:
            self.anomalies.append(what)


class Client(threading.Thread):
    """One app client: its own senders and buyer, any creator, a random mix."""

    def __init__(self, n, recorder, book, stop, *, senders, buyer, creators):
        super().__init__(name=f"soak-client-{n}", daemon=True)
        self.n, self.rec, self.book, self.stop = n, recorder, book, stop
        self.senders, self.buyer, self.creators = senders, buyer, creators
        self.rng = random.Random(1000 + n)
        self.seq = 0
        self.done: list[tuple] = []  # (op, path, token, key, body, row id)
        self.buyer_txns: list[str] = []
        self.sender_txns: list[str] = []
        self.refunded_txns: list[str] = []

    def key(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}-{self.n}-{self.seq}"

    def run(self):
        ops = [
            (self.gift, 45),
            (self.buy, 10),
            (self.buy_and_refund, 10),
            (self.payout, 10),
            (self.replay, 8),
            (self.race, 4),
            (self.read, 13),
        ]
        actions, weights = zip(*ops, strict=True)
        try:
            while not self.stop.is_set():
                self.rng.choices(actions, weights)[0]()
        except Exception as error:  # a bug in the client itself fails the test
            self.book.note(f"client {self.n} crashed: {error!r}")
            raise

    # One money request, retried with the same key after a 503 as the API asks.
    def money(self, op, path, token, key, body, kind) -> Answer:
        for attempt in range(8):
            answer = self.rec.request(
                op,
                "POST",
                path,
                token=token,
                body=body,
                headers={"Idempotency-Key": key},
            )
            if answer.status not in (0, 503):
                break
            with self.book.lock:
                self.book.retries_after_503 += 1
            time.sleep(0.2 * (attempt + 1))
        if 200 <= answer.status < 300:
            row = answer.body[kind]["id"]
            with self.book.lock:
                BOOKS[kind](self.book).setdefault(key, (token, row))
            self.done.append((op, path, token, key, body, kind, row))
        elif answer.status in (0, 503) or answer.status >= 500:
            with self.book.lock:
                self.book.unfinished.append((op, key, answer.status))
        return answer

    def buy_for(self, user: Actor) -> Answer:
        key = self.key("buy")
        txn = f"txn-{key}"
        body = {
            "bundle": SKU,
            "region": "US",
            "channel": "app",
            "store": "apple",
            "receipt": mint_receipt(user.user_id, txn),
        }
        answer = self.money(
            "purchase", "/api/v1/purchases/", user.token, key, body, "purchase"
        )
        if answer.status == 201:
            if user is self.buyer:
                self.buyer_txns.append(txn)
            else:
                self.sender_txns = [*self.sender_txns[-9:], txn]
        return answer

    def buy(self):
        self.buy_for(self.rng.choice(self.senders))

    def buy_and_refund(self):
        if len(self.buyer_txns) < 2 or self.rng.random() < 0.5:
            self.buy_for(self.buyer)
            return
        chance = self.rng.random()
        if self.refunded_txns and chance < 0.2:
            txn = self.rng.choice(self.refunded_txns)  # the store says it again
        elif self.sender_txns and chance < 0.5:
            # A sender's purchase, maybe spent, maybe racing that sender's gifts.
            txn = self.sender_txns.pop(self.rng.randrange(len(self.sender_txns)))
        else:
            txn = self.buyer_txns.pop(self.rng.randrange(len(self.buyer_txns)))
        raw = json.dumps({"type": "refund", "transaction_id": txn}).encode()
        answer = self.rec.request(
            "refund",
            "POST",
            "/api/v1/stores/apple/notifications/",
            raw=raw,
            headers={"X-Store-Signature": sandbox_signature(raw, store="apple")},
        )
        outcome = answer.body.get("status") if answer.status == 200 else None
        # Partly: the coins left were taken back, the spent ones put on record.
        refunded = outcome in ("refunded", "refunded_partly")
        with self.book.lock:
            self.book.refund_answers[outcome or answer.status] += 1
            if refunded:
                self.book.refunded[txn] += 1
        if refunded:
            self.refunded_txns.append(txn)
        elif outcome is None and answer.status in (0, 503):
            self.buyer_txns.append(txn)  # the store would notify again

    def gift_body(self, creator: Actor) -> dict:
        return {
            "gift": self.rng.choice(list(GIFTS)),
            "creator": creator.creator_id,
            "quantity": self.rng.randint(1, 5),
            "placement": "live",
            "stream_id": f"soak-stream-{creator.creator_id}",
            "region": "US",
        }

    def pick_creator(self) -> Actor:
        # Half of all gifts go to one creator: the hot stream.
        return (
            self.creators[0]
            if self.rng.random() < 0.5
            else self.rng.choice(self.creators)
        )

    def gift(self):
        sender = self.rng.choice(self.senders)
        body = self.gift_body(self.pick_creator())
        answer = self.money(
            "gift", "/api/v1/gift-sends/", sender.token, self.key("gift"), body,
            "gift_send",
        )  # fmt: skip
        if answer.status == 409 and answer.code == "insufficient_balance":
            self.buy_for(sender)

    def payout(self):
        creator = self.rng.choice(self.creators)
        # 1.00 to 3.50 USD at 0.005 a diamond; from 2.00 in 24 hours, two approvers.
        body = {"diamonds": str(self.rng.randint(200, 700))}
        self.money(
            "payout", "/api/v1/payouts/", creator.token, self.key("payout"), body,
            "payout",
        )  # fmt: skip

    def replay(self):
        if not self.done:
            return
        op, path, token, key, body, kind, row = self.rng.choice(self.done)
        answer = self.rec.request(
            f"{op} replay",
            "POST",
            path,
            token=token,
            body=body,
            headers={"Idempotency-Key": key},
        )
        with self.book.lock:
            self.book.replays += 1
        if answer.status == 503:
            return
        if answer.status != 200 or answer.body[kind]["id"] != row:
            self.book.note(f"replay of {key} answered {answer.status} {answer.body}")

    def race(self):
        """The same gift sent twice at the same moment: one gift, two answers."""
        sender = self.rng.choice(self.senders)
        key, body = self.key("race"), self.gift_body(self.pick_creator())
        barrier, answers = threading.Barrier(2), []

        def send():
            barrier.wait()
            answers.append(
                self.rec.request(
                    "gift race",
                    "POST",
                    "/api/v1/gift-sends/",
                    token=sender.token,
                    body=body,
                    headers={"Idempotency-Key": key},
                )
            )

        twins = [threading.Thread(target=send) for _ in range(2)]
        for twin in twins:
            twin.start()
        for twin in twins:
            twin.join()
        with self.book.lock:
            self.book.races += 1
        statuses = sorted(a.status for a in answers)
        if any(s in (0, 503) for s in statuses):
            # A killed connection: settle it as a client would, by retrying.
            self.money("gift", "/api/v1/gift-sends/", sender.token, key, body,
                       "gift_send")  # fmt: skip
            return
        if statuses == [409, 409]:
            return  # not enough coins, twice: nothing moved
        rows = {a.body["gift_send"]["id"] for a in answers}
        if statuses != [200, 201] or len(rows) != 1:
            self.book.note(f"race {key}: {statuses} {rows}")
            return
        with self.book.lock:
            self.book.gifts.setdefault(key, (sender.token, rows.pop()))

    def read(self):
        choice = self.rng.random()
        if choice < 0.5:
            self.rec.request(
                "wallet", "GET", "/api/v1/wallet/",
                token=self.rng.choice(self.senders).token,
            )  # fmt: skip
        elif choice < 0.8:
            self.rec.request(
                "earnings", "GET", "/api/v1/creator/earnings/",
                token=self.rng.choice(self.creators).token,
            )  # fmt: skip
        else:
            hot = self.creators[0].creator_id
            self.rec.request(
                "leaderboard", "GET", f"/api/v1/streams/soak-stream-{hot}/leaderboard/"
            )


class Finance(threading.Thread):
    """A finance user working the approval queue, as the admin action does."""

    def __init__(self, user, stop, counts, errors, seed):
        super().__init__(name=f"soak-finance-{user.username}", daemon=True)
        self.user, self.stop, self.counts, self.errors = user, stop, counts, errors
        self.rng = random.Random(seed)

    def run(self):
        try:
            while not self.stop.is_set():
                self.work_once()
                time.sleep(0.3)
        except Exception as error:
            self.errors.append(f"{self.name}: {error!r}")
        finally:
            connections.close_all()

    def work_once(self):
        try:
            self.decide_some()
        except Exception as error:
            if not connection_lost(error):
                raise
            # Through PgBouncer a backend the chaos kills as the web's may be
            # serving this thread at that moment: start again, as staff would.
            self.counts["connection lost"] += 1
            connections.close_all()

    def decide_some(self):
        waiting = list(
            Payout.objects.filter(status__in=Payout.OPEN[:2])
            .exclude(first_approver=self.user)
            .order_by("?")[:6]
        )
        for payout in waiting:
            try:
                if (
                    payout.status == Payout.Status.REQUESTED
                    and self.rng.random() < 0.05
                ):
                    payout_services.payout_reject(
                        payout=payout, actor=self.user, reason="Soak spot check."
                    )
                    self.counts["rejected"] += 1
                else:
                    payout_services.payout_approve(payout=payout, actor=self.user)
                    self.counts["approvals"] += 1
            except ServiceError as refusal:
                # The other finance user acted first: refused, as it should be.
                self.counts[f"refused {refusal.code}"] += 1


class Beat(threading.Thread):
    """What celery beat does, on a faster clock: work goes through the broker."""

    def __init__(self, stop, counts, errors):
        super().__init__(name="soak-beat", daemon=True)
        self.stop, self.counts, self.errors = stop, counts, errors

    def run(self):
        tick = 0
        while not self.stop.wait(1):
            tick += 1
            try:
                if tick % 2 == 0:
                    celery_app.send_task("payouts.dispatch_payouts")
                    self.counts["dispatch"] += 1
                if tick % 3 == 0:
                    celery_app.send_task("wallets.fold_pending_credits")
                    self.counts["fold"] += 1
                if tick % 20 == 0:
                    celery_app.send_task("wallets.reconcile_ledger")
                    self.counts["reconcile"] += 1
            except Exception as error:
                self.errors.append(f"beat: {error!r}")


def token_for(user) -> str:
    return Token.objects.create(user=user).key


def client_user_create(us):
    """A client user whose home region is the one every soak request names."""
    user = user_create()
    wallet_services.home_region_set(
        user=user, region=us, actor=None, reason="Soak clients buy and gift in US."
    )
    return user


def seed_world():
    _, us = on_sale(coins=100, amount="0.99", sku=SKU)
    for slug, price in GIFTS.items():
        gift_create(slug=slug, name=slug, coin_price=price)
    # Small payouts so creators cash out often; from 2.00 USD in 24 hours a second
    # approver.
    PayoutRules.objects.filter(currency="USD").update(
        minimum_cashout=Decimal("1.00"),
        fee_fixed=Decimal("0.00"),
        fee_percent=Decimal("1.00"),
        second_approval_from=Decimal("2.00"),
        daily_maximum=Decimal("5000.00"),
    )
    creators = []
    for n in range(CREATORS):
        profile = rich_creator(
            diamonds=SEED_DIAMONDS, paypal_email=f"soak-creator-{n}@example.com"
        )
        creators.append(Actor(profile.user_id, token_for(profile.user), profile.id))
    clients = []
    for _ in range(CLIENTS):
        senders = []
        for _ in range(SENDERS_PER_CLIENT):
            user = client_user_create(us)
            senders.append(Actor(user.id, token_for(user)))
        buyer = client_user_create(us)
        clients.append((senders, Actor(buyer.id, token_for(buyer))))
    finance = [staff_create("Finance"), staff_create("Finance")]
    return creators, clients, finance


def worker_sending_payouts(within: float) -> str:
    """The name of a worker running a payout batch, if one does within the time."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        active = celery_app.control.inspect(timeout=0.3).active() or {}
        for hostname, running in active.items():
            if any(t["name"] == "payouts.send_payout_batch" for t in running):
                return hostname.split("@")[0]
    return ""


def chaos(stack, rng, deadline, faults, web):
    """Until the deadline: SIGKILL a Celery worker every 6-15 s (the one sending
    payouts, if one starts within 3 s) and restart it; terminate a database
    connection every 4-10 s, two times in three one of the web's (preferably
    running a query), else one of a worker's."""
    dsn, database = server_dsn(), connection.settings_dict["NAME"]
    next_kill = time.monotonic() + rng.uniform(6, 15)
    next_db_kill = time.monotonic() + rng.uniform(4, 10)
    while time.monotonic() < deadline:
        assert web.poll() is None, "gunicorn died"
        now = time.monotonic()
        if now >= next_kill:
            sending = worker_sending_payouts(within=3)
            name = sending or rng.choice(stack.workers_alive() or list(WORKERS))
            stack.kill_worker(name)
            faults["worker_sigkills"] += 1
            faults["worker_sigkills_while_sending"] += bool(sending)
            time.sleep(rng.uniform(0.5, 3))
            stack.start_worker(name)
            next_kill = time.monotonic() + rng.uniform(6, 15)
        if now >= next_db_kill:
            web_side = rng.random() < 2 / 3
            app = WEB_APP_NAME if web_side else WORKER_APP_NAME + "%"
            backends = app_backends(dsn, database, app)
            busy = [pid for pid, state in backends if state and state != "idle"]
            pids = busy or [pid for pid, _ in backends]
            if pids and terminate_backend(dsn, database, rng.choice(pids)):
                side = "web" if web_side else "worker"
                faults[f"db_connection_kills_{side}"] += 1
                faults[f"db_connection_kills_{side}_mid_query"] += bool(busy)
            next_db_kill = time.monotonic() + rng.uniform(4, 10)
        time.sleep(0.1)


def drain(stack, finance):
    """No more load: workers back, every waiting payout approved by both finance
    users, then dispatch (the sweeper included) until nothing is left in flight."""
    for name in WORKERS:
        if stack.workers[name].poll() is not None:
            stack.start_worker(name)
    first, second = finance
    for payout in Payout.objects.filter(status__in=Payout.OPEN[:2]):
        for approver in (first, second):
            payout.refresh_from_db()
            if payout.status in Payout.OPEN[:2] and payout.first_approver != approver:
                payout_services.payout_approve(payout=payout, actor=approver)

    def settled():
        celery_app.send_task("payouts.dispatch_payouts")
        celery_app.send_task("wallets.fold_pending_credits")
        in_flight = Payout.objects.filter(
            status__in=[Payout.Status.APPROVED, Payout.Status.PROCESSING]
        ).exists()
        return not in_flight and not PendingCredit.objects.exists()

    return wait_for(settled, 90, every=2)


def test_soak_under_worker_and_database_kills_moves_every_coin_exactly_once(
    tmp_path, capsys
):
    celery_app.control.purge()
    first_day = timezone.now().date().replace(day=1)  # UTC, as the books count days
    creators, client_users, finance = seed_world()
    port = free_port()
    stack = Stack(tmp_path, database_url())
    recorder, book = Recorder(port), Book()
    stop = threading.Event()
    faults: Counter = Counter()
    finance_counts, beat_counts, errors = Counter(), Counter(), []
    threads: list[threading.Thread] = []
    rng = random.Random(7)
    started = time.monotonic()
    try:
        web = stack.start_web(port)
        for name in WORKERS:
            stack.start_worker(name)
        wait_ready(web, port, tmp_path / "gunicorn.log")

        threads = [
            Client(
                n, recorder, book, stop,
                senders=senders, buyer=buyer, creators=creators,
            )
            for n, (senders, buyer) in enumerate(client_users)
        ]  # fmt: skip
        threads += [
            Finance(user, stop, finance_counts, errors, seed=n)
            for n, user in enumerate(finance)
        ]
        threads.append(Beat(stop, beat_counts, errors))
        for thread in threads:
            thread.start()
        chaos(stack, rng, time.monotonic() + SOAK_SECONDS, faults, web)
        stop.set()
        for thread in threads:
            thread.join(120)
        assert not any(t.is_alive() for t in threads), "a client did not stop"
        load_seconds = time.monotonic() - started
        settled = drain(stack, finance)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        stack.stop_all()
        celery_app.control.purge()  # nothing of this test reaches the next one
    ledger.pending_credits_fold_all()
    web_log = stack.log("gunicorn.log")

    summary = soak_summary(
        recorder, book, faults, finance_counts, beat_counts, load_seconds, web_log
    )
    checks = money_checks(book, creators, client_users)
    checks["books"] = books_checks(first_day, seeded=len(creators))
    summary.update(checks)
    summary["money_lost"] = checks["money_lost"]["total"]
    summary["line"] = summary_line(summary)
    report = json.dumps(summary, indent=2, sort_keys=True)
    (tmp_path / "soak.json").write_text(report)
    if os.environ.get("SOAK_REPORT"):
        with open(os.environ["SOAK_REPORT"], "w") as out:
            out.write(report)
    with capsys.disabled():  # shown in every run, not only when the test fails
        print(f"\n{summary_line(summary)}\nreport: {tmp_path / 'soak.json'}")

    assert not errors, errors
    assert not book.anomalies, book.anomalies[:10]
    assert settled, "payouts or pending credits still in flight after the drain"
    # Every 5xx is a 503 from a connection the soak killed, at most one per kill.
    assert summary["server_errors_other"] == [], summary["server_errors_other"]
    assert summary["answers_503"] <= faults["db_connection_kills_web"]
    assert summary["db_errors_not_from_kills"] == []
    assert not book.unfinished, book.unfinished[:10]
    unexpected = set(summary["refusals"]) - EXPECTED_REFUSALS
    assert not unexpected, {r: summary["refusals"][r] for r in unexpected}
    assert faults["worker_sigkills"] >= 1 and faults["db_connection_kills_web"] >= 1
    assert checks["requests_match_rows"] == {
        "purchases": True,
        "gifts": True,
        "payouts": True,
        "refunds": True,
    }, checks["row_mismatches"]
    assert checks["reconciliation"]["clean"], checks["reconciliation"]["problems"]
    assert checks["reconciliation"]["runs_during_soak_with_problems"] == 0
    assert checks["payouts"]["open_or_in_flight"] == 0
    assert checks["payouts"]["provider_times_paid_max"] <= 1
    assert checks["payouts"]["paid_without_one_provider_payment"] == []
    assert checks["payouts"]["four_eyes_broken"] == []
    assert checks["money_lost"]["total"] == 0, checks["money_lost"]
    assert checks["payouts"]["paid"] > 0 and checks["gift_sends"] > 0
    assert checks["books"]["ties"], checks["books"]["tie_outs"]
    assert checks["books"]["figures"] == checks["books"]["from_rows"]
    assert checks["books"]["xlsx_figures"] == checks["books"]["figures"]


def books_checks(first_day: datetime.date, *, seeded: int) -> dict:
    """The month's books over the soak's traffic: they tie out, each figure equals
    the same sum taken straight from the rows, and the XLSX export reads back
    with the same figures."""
    books = books_for(start=first_day, end=timezone.now().date())
    paid_out = Payout.objects.filter(status=Payout.Status.PAID)
    balances = dict(
        LedgerAccount.objects.values_list("kind").annotate(total=Sum("balance"))
    )
    figures = {
        "purchases": sum(line.purchases for line in books.sales),
        "paid_coins_sold": sum(line.paid_coins for line in books.sales),
        "bonus_coins_granted": sum(line.bonus_coins for line in books.sales),
        "refunds": sum(line.refunds for line in books.sales),
        "gift_coins": books.gift_paid_coins + books.gift_bonus_coins,
        "diamonds_to_creators": books.diamonds_to_creators,
        "payouts_paid": sum(line.payouts for line in books.payouts),
        "payouts_net": str(sum(line.net.amount for line in books.payouts)),
        "paid_coins_closing": books.paid_coins_closing,
        "diamonds_outstanding_closing": books.diamonds_outstanding_closing,
    }
    from_rows = {
        "purchases": Purchase.objects.count(),
        "paid_coins_sold": Purchase.objects.aggregate(n=Sum("coins"))["n"] or 0,
        "bonus_coins_granted": Purchase.objects.aggregate(
            n=Sum(F("bundle_bonus_coins") + F("promotion_bonus_coins"))
        )["n"]
        or 0,
        "refunds": Purchase.objects.filter(status=Purchase.Status.REFUNDED).count(),
        "gift_coins": GiftSend.objects.aggregate(n=Sum("coins"))["n"] or 0,
        # The seeded creators' diamonds are posted as earnings without a gift.
        "diamonds_to_creators": seeded * SEED_DIAMONDS * DIAMOND_SCALE
        + (GiftSend.objects.aggregate(n=Sum("creator_diamond_units"))["n"] or 0),
        "payouts_paid": paid_out.count(),
        "payouts_net": str(
            sum((p.net_amount for p in paid_out), Decimal("0")).quantize(
                Decimal("0.01")
            )
        ),
        # The cached balances, kept by the services, against the transfers' sums.
        "paid_coins_closing": balances.get(AccountKind.PAID_COINS, 0),
        "diamonds_outstanding_closing": balances.get(AccountKind.DIAMONDS, 0)
        + balances.get(AccountKind.PAYOUT_HOLD, 0),
    }
    sheet = load_workbook(io.BytesIO(books_xlsx(books)), read_only=True).active
    counted: Counter = Counter()  # per section and line, over currencies and stores
    for section, line, _, _, unit, value in list(sheet.iter_rows(values_only=True))[1:]:
        if unit in ("count", "coins"):
            counted[section, line] += value
    xlsx_figures = dict(
        figures,
        purchases=counted["Sales", "Purchases"],
        paid_coins_sold=counted["Sales", "Paid coins sold"],
        bonus_coins_granted=counted["Sales", "Bonus coins granted"],
        refunds=counted["Refunds", "Purchases refunded"],
        gift_coins=counted["Gifts", "Bonus coins spent"]
        + counted["Gifts", "Paid coins spent"],
        paid_coins_closing=counted["Liability", "Paid coins at end"],
    )
    return {
        "range": [str(books.first_day), str(books.last_day)],
        "ties": books.ties,
        "tie_outs": [
            (line.kind, line.difference) for line in books.tie_outs if not line.ties
        ],
        "figures": figures,
        "from_rows": from_rows,
        "xlsx_figures": xlsx_figures,
    }


def summary_line(summary: dict) -> str:
    f = summary["faults_injected"]
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(summary["by_status"].items()))
    return (
        f"SOAK {summary['seconds']} s, {summary['clients']} clients: "
        f"{summary['requests_sent']} requests ({statuses}); faults injected "
        f"{f['total']}: {f.get('worker_sigkills', 0)} worker SIGKILLs "
        f"({f.get('worker_sigkills_while_sending', 0)} mid-batch), "
        f"{f.get('db_connection_kills_web', 0)} web and "
        f"{f.get('db_connection_kills_worker', 0)} worker DB connections "
        f"terminated; 503s from them: {summary['answers_503']}; other 5xx: "
        f"{len(summary['server_errors_other'])}; money lost: {summary['money_lost']}"
    )


def soak_summary(recorder, book, faults, finance_counts, beat_counts, seconds, log):
    db_errors = re.findall(r"Database operational error answered as 503: (.*)", log)
    from_kills = [e for e in db_errors if KILLED_CONNECTION.search(e)]
    answers_503 = sum(
        1
        for _, status, body in recorder.server_errors
        if status == 503
        and isinstance(body, dict)
        and body.get("code") == "temporarily_unavailable"
    )
    faults = Counter(faults)
    faults["total"] = (
        faults["worker_sigkills"]
        + faults["db_connection_kills_web"]
        + faults["db_connection_kills_worker"]
    )
    return {
        "seconds": round(seconds),
        "clients": CLIENTS,
        "requests_sent": recorder.sent,
        "by_status": {str(k): v for k, v in recorder.statuses.items()},
        "by_operation": dict(sorted(recorder.by_op.items())),
        "refusals": dict(recorder.refusals),
        "faults_injected": dict(faults),
        "answers_503": answers_503,
        "server_errors_other": [
            (op, status, str(body)[:300])
            for op, status, body in recorder.server_errors
            if not (
                status == 503
                and isinstance(body, dict)
                and body.get("code") == "temporarily_unavailable"
            )
        ],
        "db_errors_not_from_kills": [e for e in db_errors if e not in from_kills],
        "retries_after_503": book.retries_after_503,
        "replays": book.replays,
        "races": book.races,
        "refund_answers": {str(k): v for k, v in book.refund_answers.items()},
        "finance": dict(finance_counts),
        "beat_sends": dict(beat_counts),
    }


def money_checks(book, creators, client_users) -> dict:
    tokens = {t.key: t.user_id for t in Token.objects.all()}
    row_mismatches = {}

    def compare(name, model, owner_field, answered):
        stored = {
            (owner, key): row
            for owner, key, row in model.objects.values_list(
                owner_field, "idempotency_key", "id"
            )
        }
        told = {(tokens[token], key): row for key, (token, row) in answered.items()}
        if stored != told:
            row_mismatches[name] = {
                "only_in_db": sorted(set(stored.items()) - set(told.items()))[:10],
                "only_answered": sorted(set(told.items()) - set(stored.items()))[:10],
            }
        return stored == told

    creator_user = {c.creator_id: c.user_id for c in creators}
    stored_payouts = {
        (creator_user[creator], key): row
        for creator, key, row in Payout.objects.values_list(
            "creator_id", "idempotency_key", "id"
        )
    }
    told_payouts = {
        (tokens[token], key): row for key, (token, row) in book.payouts.items()
    }
    if stored_payouts != told_payouts:
        row_mismatches["payouts"] = {
            "only_in_db": sorted(
                set(stored_payouts.items()) - set(told_payouts.items())
            ),
            "only_answered": sorted(
                set(told_payouts.items()) - set(stored_payouts.items())
            ),
        }
    refunded_in_db = set(
        Purchase.objects.filter(status=Purchase.Status.REFUNDED).values_list(
            "store_transaction_id", flat=True
        )
    )
    refunds_match = refunded_in_db == set(book.refunded) and all(
        count == 1 for count in book.refunded.values()
    )
    if not refunds_match:
        row_mismatches["refunds"] = {
            "db": sorted(refunded_in_db ^ set(book.refunded))[:10],
            "twice": [t for t, c in book.refunded.items() if c != 1],
        }
    matches = {
        "purchases": compare("purchases", Purchase, "user_id", book.purchases),
        "gifts": compare("gifts", GiftSend, "sender_id", book.gifts),
        "payouts": stored_payouts == told_payouts,
        "refunds": refunds_match,
    }

    # Each user's coins: what their live purchases credited, and what store refunds
    # could not take back (spent already), minus what they gave.
    coins_off = {}
    users = [a for senders, buyer in client_users for a in (*senders, buyer)]
    for actor in users:
        bought = sum(
            p.coins + p.bonus_coins
            for p in Purchase.objects.filter(
                user_id=actor.user_id, status=Purchase.Status.COMPLETED
            )
        ) + sum(
            r.paid_coins_spent + r.bonus_coins_missing
            for r in UnrecoveredStoreRefund.objects.filter(
                purchase__user_id=actor.user_id
            )
        )
        given = (
            GiftSend.objects.filter(sender_id=actor.user_id).aggregate(
                total=Sum("coins")
            )["total"]
            or 0
        )
        held = wallet_balances(user=_user(actor.user_id)).coins
        if held != bought - given:
            coins_off[actor.user_id] = held - (bought - given)

    # Each creator's diamonds: the seed plus what gifts stamped minus payouts taken.
    diamonds_off = {}
    for creator in creators:
        earned = (
            GiftSend.objects.filter(creator_id=creator.creator_id).aggregate(
                total=Sum("creator_diamond_units")
            )["total"]
            or 0
        )
        taken = (
            Payout.objects.filter(creator_id=creator.creator_id)
            .exclude(status__in=[Payout.Status.REJECTED, Payout.Status.RETURNED])
            .aggregate(total=Sum("diamond_units"))["total"]
            or 0
        )
        # A store refund takes back from the hold what its gifts earned there.
        taken_back = (
            HoldRecovery.objects.filter(
                gift_send__creator_id=creator.creator_id
            ).aggregate(total=Sum("diamond_units"))["total"]
            or 0
        )
        held = wallet_balances(user=_user(creator.user_id)).diamond_units
        expected = SEED_DIAMONDS * DIAMOND_SCALE + earned - taken - taken_back
        if held != expected:
            diamonds_off[creator.creator_id] = held - expected

    records = {r.reference: r for r in SandboxPayoutRecord.objects.all()}
    paid = list(Payout.objects.filter(status=Payout.Status.PAID))
    paid_badly = [
        p.reference
        for p in paid
        if p.reference not in records
        or records[p.reference].times_paid != 1
        or records[p.reference].amount != p.net_amount
        or Transfer.objects.filter(
            kind=Transfer.Kind.PAYOUT, reference=f"payout:{p.id}"
        ).count()
        != 1
    ]
    paid_refs = {p.reference for p in paid}
    paid_for_nothing = [
        ref for ref, r in records.items() if r.times_paid and ref not in paid_refs
    ]
    four_eyes_broken = [
        p.reference
        for p in paid
        if p.first_approver_id is None
        or p.first_approver_id == p.requester_id
        or (
            p.needs_second_approval
            and (
                p.second_approver_id is None
                or p.second_approver_id == p.first_approver_id
            )
        )
    ]
    over_paid_cash = sum(
        (r.amount * (r.times_paid - 1) for r in records.values() if r.times_paid > 1),
        Decimal("0"),
    ) + sum((records[ref].amount for ref in paid_for_nothing), Decimal("0"))

    run = ledger_reconcile()
    soak_runs = ReconciliationRun.objects.exclude(id=run.id)
    money_lost = {
        "coins": sum(abs(v) for v in coins_off.values()),
        "diamond_units": sum(abs(v) for v in diamonds_off.values()),
        "cash_paid_twice_or_for_nothing": str(over_paid_cash),
        "ledger_problems": len(run.problems),
    }
    money_lost["total"] = (
        money_lost["coins"]
        + money_lost["diamond_units"]
        + (1 if over_paid_cash else 0)
        + money_lost["ledger_problems"]
    )
    statuses = Counter(Payout.objects.values_list("status", flat=True))
    return {
        "requests_match_rows": matches,
        "row_mismatches": row_mismatches,
        "accepted": {
            "purchases": len(book.purchases),
            "gift_sends": len(book.gifts),
            "payouts": len(book.payouts),
            "refunds": len(book.refunded),
        },
        "gift_sends": GiftSend.objects.count(),
        "coins_off_by_user": coins_off,
        "diamonds_off_by_creator": diamonds_off,
        "payouts": {
            "by_status": dict(statuses),
            "paid": statuses.get(Payout.Status.PAID, 0),
            "open_or_in_flight": sum(statuses.get(s, 0) for s in Payout.OPEN),
            "needing_two_approvers_paid": sum(
                1 for p in paid if p.needs_second_approval
            ),
            "provider_times_paid_max": max(
                (r.times_paid for r in records.values()), default=0
            ),
            "provider_references_sent_more_than_once": sum(
                1 for r in records.values() if r.times_received > 1
            ),
            "paid_without_one_provider_payment": paid_badly + paid_for_nothing,
            "four_eyes_broken": four_eyes_broken,
        },
        "reconciliation": {
            "clean": run.is_clean,
            "problems": run.problems[:10],
            "transfers_checked": run.transfers_checked,
            "runs_during_soak": soak_runs.count(),
            "runs_during_soak_with_problems": sum(1 for r in soak_runs if r.problems),
        },
        "money_lost": money_lost,
    }


def _user(user_id: int):
    from accounts.models import User

    return User.objects.get(id=user_id)
