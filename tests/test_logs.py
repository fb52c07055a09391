"""Structured logs: request ids in and out, the user on each line, money events once
after commit, and no secret in any line of the main flows."""

import io
import json
import logging
import threading
import time
import uuid
from decimal import Decimal

import pytest
import structlog
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.test import APIClient

from accounts.roles import FINANCE
from config.logs import LineHandler
from core.logs import account_masked, money_logger, request_id_sane
from core.middleware import RequestLogMiddleware
from gifting import services as gifting_services
from gifting.models import CreatorProfile
from gifting.tests.factories import creator_create, funded_sender, rich_creator, rose
from payouts import services as payout_services
from payouts import tasks as payout_tasks
from payouts.models import Payout
from payouts.tests.test_worker_faults import kill, start_worker
from wallets import services as wallet_services
from wallets.models import DIAMOND_SCALE, Purchase
from wallets.stores import sandbox_receipt
from wallets.tests.factories import on_sale, staff_create, user_create

GIFTS = "/api/v1/gifts/"
IBAN = "DE89370400440532013000"


class Lines:
    """What the project's JSON formatter wrote while the test ran, as dicts."""

    def __init__(self, stream: io.StringIO):
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def all(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines() if line]

    def events(self, name: str) -> list[dict]:
        return [line for line in self.all() if line["event"] == name]


@pytest.fixture
def log_lines():
    """Every line at every level, rendered as production renders it."""
    stream = io.StringIO()
    handler = LineHandler(stream, log_format="json")
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield Lines(stream)
    root.removeHandler(handler)
    root.setLevel(saved)


# --- request ids --------------------------------------------------------------


def test_request_id_sane_keeps_a_proxys_id_and_replaces_anything_else():
    assert request_id_sane("abc-123") == "abc-123"
    assert request_id_sane("Root=1-67891233-abcdef012345678912345678") == (
        "Root=1-67891233-abcdef012345678912345678"
    )
    for bad in (None, "", "a" * 129, "two words", 'quote"', "line\nforged", "é"):
        made = request_id_sane(bad)
        assert str(uuid.UUID(made)) == made


@pytest.mark.django_db
def test_a_proxys_request_id_is_answered_and_on_the_requests_line(client, log_lines):
    response = client.get(GIFTS, HTTP_X_REQUEST_ID="edge-7f3a")

    assert response["X-Request-ID"] == "edge-7f3a"
    (finished,) = log_lines.events("request_finished")
    assert finished["request_id"] == "edge-7f3a"
    assert finished["code"] == 200
    assert finished["request"] == f"GET {GIFTS}"


@pytest.mark.django_db
def test_a_requests_line_names_the_client_not_a_forged_forwarded_address(
    client, log_lines, settings
):
    settings.TRUSTED_PROXY_COUNT = 1

    client.get(
        GIFTS, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9"
    )

    (finished,) = log_lines.events("request_finished")
    assert finished["ip"] == "203.0.113.9"


@pytest.mark.django_db
def test_an_unsafe_request_id_is_replaced_by_a_new_one(client, log_lines):
    response = client.get(GIFTS, HTTP_X_REQUEST_ID="x\r\nforged: 1")

    made = response["X-Request-ID"]
    assert str(uuid.UUID(made)) == made
    assert "forged" not in log_lines.text
    assert log_lines.events("request_finished")[0]["request_id"] == made


@pytest.mark.django_db
def test_each_request_without_an_id_gets_its_own(client, log_lines):
    first = client.get(GIFTS)["X-Request-ID"]
    second = client.get("/api/v1/nowhere/")["X-Request-ID"]

    assert first != second
    assert [line["request_id"] for line in log_lines.events("request_finished")] == [
        first,
        second,
    ]


@pytest.mark.django_db
def test_health_probes_stay_out_of_the_request_log(client, log_lines):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert "X-Request-ID" not in response
    assert log_lines.events("request_finished") == []


@pytest.mark.django_db
def test_the_lines_of_an_authenticated_request_carry_the_user(log_lines):
    user = user_create()
    api = APIClient()
    api.force_authenticate(user)

    api.get("/api/v1/wallet/", HTTP_X_REQUEST_ID="wallet-1")
    logging.getLogger("test").info("after the request")

    (finished,) = log_lines.events("request_finished")
    assert (finished["user_id"], finished["request_id"]) == (user.id, "wallet-1")
    (after,) = log_lines.events("after the request")
    assert "request_id" not in after and "user_id" not in after


# --- money events -------------------------------------------------------------


@pytest.mark.django_db
def test_a_gift_is_logged_once_with_its_amounts_after_commit_and_never_if_rolled_back(
    log_lines, django_capture_on_commit_callbacks
):
    sender, creator, gift = funded_sender(coins=100), creator_create(), rose()
    send = dict(
        sender=sender,
        creator=creator,
        gift=gift,
        quantity=3,
        placement="live",
        stream_id="s1",
        region=None,
    )

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            gifting_services.gift_send(**send, idempotency_key="rolled-back")
            raise RuntimeError("rolled back")
    assert log_lines.events("gift_sent") == []

    with django_capture_on_commit_callbacks(execute=True):
        result = gifting_services.gift_send(**send, idempotency_key="kept")
        gifting_services.gift_send(**send, idempotency_key="kept")  # a replay

    (logged,) = log_lines.events("gift_sent")
    assert logged["logger"] == "money"
    assert {
        key: logged[key]
        for key in ("gift_send_id", "sender_id", "creator_id", "gift", "coins")
    } == {
        "gift_send_id": result.gift_send.id,
        "sender_id": sender.id,
        "creator_id": creator.id,
        "gift": "rose",
        "coins": 3,
    }
    assert (
        logged["creator_diamond_units"] + logged["platform_diamond_units"]
        == 3 * DIAMOND_SCALE
    )


@pytest.mark.django_db
def test_a_refund_and_an_adjustment_are_logged_once_with_their_amounts(
    log_lines, django_capture_on_commit_callbacks
):
    alice, bob = staff_create(FINANCE), staff_create(FINANCE)
    buyer = funded_sender(coins=100)
    purchase = Purchase.objects.get(user=buyer)

    with django_capture_on_commit_callbacks(execute=True):
        wallet_services.purchase_refund(
            purchase=purchase,
            actor=alice,
            reason="Asked",
            source=Purchase.RefundSource.FINANCE,
        )
        asked = wallet_services.balance_adjustment_request(
            user=buyer,
            account_kind="bonus_coins",
            amount=50,
            reason="Goodwill",
            actor=alice,
            idempotency_key="adj-1",
        )
        wallet_services.balance_adjustment_approve(adjustment=asked, actor=bob)

    (refund,) = log_lines.events("purchase_refunded")
    assert (refund["purchase_id"], refund["price"], refund["currency"]) == (
        purchase.id,
        "9.99",
        "USD",
    )
    assert (refund["paid_coins_taken_back"], refund["actor_id"]) == (100, alice.id)
    (requested,) = log_lines.events("adjustment_requested")
    (applied,) = log_lines.events("adjustment_applied")
    assert (requested["amount"], requested["holder_id"]) == (50, buyer.id)
    assert (applied["balance_before"], applied["balance_after"]) == (0, 50)
    assert (applied["requested_by"], applied["actor_id"]) == (alice.id, bob.id)


def test_an_account_is_masked_to_its_last_four():
    assert account_masked(IBAN) == "****3000"
    assert account_masked("DE89 3704 0044 0532 0130 00") == "****3000"
    assert account_masked("123") == "****"


# --- no secrets ----------------------------------------------------------------


def _with_password(user, password: str):
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


def _bank_creator(password: str) -> CreatorProfile:
    return rich_creator(
        diamonds=30_000,
        user=_with_password(user_create(), password),
        payout_method=CreatorProfile.PayoutMethod.BANK,
        paypal_email="",
        bank_account_holder="Jane Doe",
        bank_iban=IBAN,
        bank_bic="COBADEFFXXX",
    )


def _token(username: str, password: str) -> str:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}
    )
    assert response.status_code == 200
    return response.json()["token"]


# Transactional: money events are logged at commit, inside the request as in
# production; the migrations' data (roles, levels) is put back afterwards.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_main_flows_log_their_events_and_no_secret(client, log_lines, eager_celery):
    buyer_password, creator_password = "Buyer-pass-5551", "Creator-pass-6662"
    admin_password = "Admin-pass-7773"
    buyer = _with_password(user_create(), buyer_password)
    creator = _bank_creator(creator_password)
    finance = _with_password(staff_create(FINANCE), admin_password)
    bundle, region = on_sale(coins=100, amount="0.99", sku="coins_100")
    rose()

    # Admin login: a wrong password first, then the right one.
    client.post(
        "/admin/login/", {"username": finance.username, "password": "Wrong-pass-8884"}
    )
    admin_login = client.post(
        "/admin/login/", {"username": finance.username, "password": admin_password}
    )
    assert admin_login.status_code == 302
    buyer_token = _token(buyer.username, buyer_password)
    creator_token = _token(creator.user.username, creator_password)

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {buyer_token}")
    receipt = sandbox_receipt(buyer.id, "coins_100", "store-txn-1", store="apple")
    bought = api.post(
        "/api/v1/purchases/",
        {
            "bundle": "coins_100",
            "region": "US",
            "channel": "app",
            "store": "apple",
            "receipt": receipt,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="buy-1",
        HTTP_X_REQUEST_ID="req-purchase",
    )
    assert bought.status_code == 201, bought.content
    sent = api.post(
        "/api/v1/gift-sends/",
        {
            "gift": "rose",
            "creator": creator.id,
            "quantity": 2,
            "placement": "live",
            "stream_id": "s1",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="gift-1",
        HTTP_X_REQUEST_ID="req-gift",
    )
    assert sent.status_code == 201, sent.content
    api.credentials(HTTP_AUTHORIZATION=f"Token {creator_token}")
    asked = api.post(
        "/api/v1/payouts/",
        {"diamonds": "20000"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="payout-1",
        HTTP_X_REQUEST_ID="req-payout",
    )
    assert asked.status_code == 201, asked.content
    # Finance approves: the payout goes to the provider (eagerly) and is paid.
    approver = staff_create(FINANCE)
    payout_services.payout_approve(
        payout=Payout.objects.get(id=asked.json()["payout"]["id"]), actor=approver
    )

    (purchase,) = log_lines.events("purchase_recorded")
    assert (purchase["request_id"], purchase["user_id"]) == ("req-purchase", buyer.id)
    assert (purchase["price"], purchase["currency"], purchase["coins"]) == (
        "0.99",
        "USD",
        100,
    )
    assert purchase["store_transaction_id"] == "store-txn-1"
    (gift,) = log_lines.events("gift_sent")
    assert (gift["request_id"], gift["user_id"], gift["coins"]) == (
        "req-gift",
        buyer.id,
        2,
    )
    (payout,) = log_lines.events("payout_requested")
    assert (payout["request_id"], payout["user_id"]) == ("req-payout", creator.user_id)
    assert payout["account"] == "****3000"
    assert payout["net"] == asked.json()["payout"]["net_amount"]

    moves = log_lines.events("payout_moved")
    assert [line["to_status"] for line in moves] == ["approved", "processing", "paid"]
    assert moves[0]["actor_id"] == approver.id

    text = log_lines.text
    secrets = {
        "admin password": admin_password,
        "wrong password": "Wrong-pass-8884",
        "buyer password": buyer_password,
        "creator password": creator_password,
        "buyer token": buyer_token,
        "creator token": creator_token,
        "receipt": receipt,
        "receipt signature": receipt.rsplit(".", 1)[1],
        "IBAN": IBAN,
        "IBAN's account number": IBAN[4:],
    }
    assert [name for name, secret in secrets.items() if secret in text] == []
    assert len(log_lines.all()) > 10


# --- the way out: structlog's lines and the standard logging's alike -----------


def test_a_structlog_line_and_a_logging_line_carry_the_request_id_and_no_secret(
    log_lines,
):
    with structlog.contextvars.bound_contextvars(request_id="req-both"):
        money_logger.info("from_structlog", coins=3, password="Hunter-pass-1")
        logging.getLogger("catalog.services").info("from logging: %s", "rose")

    (line,) = log_lines.events("from_structlog")
    assert (line["request_id"], line["coins"], line["level"]) == ("req-both", 3, "info")
    assert (line["logger"], line["password"]) == ("money", "[redacted]")
    (stdlib_line,) = log_lines.events("from logging: rose")
    assert stdlib_line["request_id"] == "req-both"
    assert (stdlib_line["logger"], stdlib_line["level"]) == ("catalog.services", "info")
    assert {"timestamp"} <= set(line) & set(stdlib_line)
    assert "Hunter-pass-1" not in log_lines.text


def test_the_levels_of_logging_filter_both_kinds_of_line(log_lines):
    money = logging.getLogger("money")
    logging.getLogger().setLevel(logging.WARNING)  # the fixture puts DEBUG back
    money_logger.info("info_from_structlog")
    logging.getLogger("catalog.services").info("info from logging")
    money_logger.warning("warning_from_structlog")
    logging.getLogger("catalog.services").warning("warning from logging")
    money.setLevel(logging.ERROR)
    try:
        money_logger.warning("silenced_by_its_logger")
    finally:
        money.setLevel(logging.NOTSET)

    assert [line["event"] for line in log_lines.all()] == [
        "warning_from_structlog",
        "warning from logging",
    ]


def test_a_structlog_warning_is_a_record_for_other_handlers_and_one_line(
    log_lines, caplog
):
    caplog.set_level(logging.INFO, logger="money")

    money_logger.warning("purchase_refunded", unrecovered="10 coins")
    money_logger.info("gift_sent", coins=1)

    # Sentry's breadcrumbs and events come from records, as caplog's do.
    assert [record.msg["event"] for record in caplog.records] == ["purchase_refunded"]
    assert [line["event"] for line in log_lines.all()] == [
        "purchase_refunded",
        "gift_sent",
    ]


def test_lines_from_many_threads_are_never_mixed(tmp_path):
    path = tmp_path / "lines.log"
    threads, lines, filler = 8, 200, "x" * 3000
    root = logging.getLogger()
    with open(path, "w") as stream:
        handler = LineHandler(stream, log_format="json")
        root.addHandler(handler)
        try:

            def log(thread):
                for number in range(lines):
                    if number % 2:
                        money_logger.info("line", thread=thread, filler=filler)
                    else:
                        logging.getLogger("money").warning("line %s", filler)

            started = [
                threading.Thread(target=log, args=(thread,))
                for thread in range(threads)
            ]
            for thread in started:
                thread.start()
            for thread in started:
                thread.join()
        finally:
            root.removeHandler(handler)

    written = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(written) == threads * lines


def test_a_line_that_cannot_be_written_fails_neither_the_caller_nor_other_handlers(
    log_lines,
):
    closed = io.StringIO()
    closed.close()
    handler = LineHandler(closed, log_format="json")
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        money_logger.info("gift_sent", coins=1)
    finally:
        root.removeHandler(handler)

    assert [line["coins"] for line in log_lines.events("gift_sent")] == [1]


def test_a_json_line_takes_what_orjson_refuses(log_lines):
    money_logger.info("odd_values", big=2**70, price=Decimal("4.99"), counts={7: 1})

    (line,) = log_lines.events("odd_values")
    assert (line["big"], line["price"], line["counts"]) == (
        2**70,
        "Decimal('4.99')",
        {"7": 1},
    )


@pytest.mark.parametrize(
    ("log_format", "shown"),
    [("keyvalue", "event='gift_sent'"), ("console", "gift_sent")],
)
def test_the_readable_formats_write_one_line_per_event(log_format, shown):
    stream = io.StringIO()
    handler = LineHandler(stream, log_format=log_format)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with structlog.contextvars.bound_contextvars(request_id="req-kv"):
            money_logger.info("gift_sent", coins=2)
            logging.getLogger("catalog.services").warning("from logging")
    finally:
        root.removeHandler(handler)

    structlog_line, stdlib_line = stream.getvalue().splitlines()
    assert shown in structlog_line and "req-kv" in structlog_line
    assert "from logging" in stdlib_line and "req-kv" in stdlib_line


# --- Celery ---------------------------------------------------------------------


def _queues_a_task(request):
    # No payout is due: the task runs and does nothing.
    payout_tasks.dispatch_payouts.delay()
    return HttpResponse("queued")


@pytest.mark.django_db
def test_a_task_run_in_the_request_logs_with_its_request_id(
    log_lines, eager_celery, django_capture_on_commit_callbacks
):
    # Without a broker, tasks run in the request: its id is on their lines as is.
    creator = rich_creator(diamonds=30_000)
    payout = payout_services.payout_request(
        creator=creator, diamond_units=20_000 * DIAMOND_SCALE, idempotency_key="p"
    ).payout
    Payout.objects.filter(id=payout.id).update(status=Payout.Status.APPROVED)

    def view(request):
        # The commits a real request makes, inside the request.
        with django_capture_on_commit_callbacks(execute=True):
            payout_tasks.dispatch_payouts.delay()
        return HttpResponse("queued")

    request = RequestFactory().post("/", HTTP_X_REQUEST_ID="req-eager")
    request.user = AnonymousUser()
    RequestLogMiddleware(view)(request)

    moves = log_lines.events("payout_moved")
    assert [(line["to_status"], line["request_id"]) for line in moves] == [
        ("processing", "req-eager"),
        ("paid", "req-eager"),
    ]
    assert moves[1]["reference"] == payout.reference


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"]
    or settings.CELERY_TASK_ALWAYS_EAGER,
    reason="needs PostgreSQL and a broker (DATABASE_URL, CELERY_BROKER_URL)",
)
@pytest.mark.xdist_group("stack")  # one stack at a time (soak_helpers.REAL_STACK)
def test_a_task_queued_by_a_request_logs_with_its_request_and_user_on_a_worker(
    tmp_path, monkeypatch
):
    database = connection.settings_dict
    worker_log = tmp_path / "worker.log"
    user = user_create()
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    with open(worker_log, "wb") as out:
        worker = start_worker(
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}",
            output=out,
        )
    try:
        request = RequestFactory().post("/", HTTP_X_REQUEST_ID="req-worker")
        request.user = user
        RequestLogMiddleware(_queues_a_task)(request)

        def task_lines():
            lines = []
            for line in worker_log.read_text().splitlines():
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    continue  # Celery's banner
            return [line for line in lines if line.get("request_id") == "req-worker"]

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            line["event"] == "task_succeeded" for line in task_lines()
        ):
            time.sleep(0.2)
        lines = task_lines()
    finally:
        kill(worker)

    started = [line for line in lines if line["event"] == "task_started"]
    assert [line["task"] for line in started] == ["payouts.dispatch_payouts"], (
        worker_log.read_text()[-3000:]
    )
    assert started[0]["user_id"] == user.id
    assert started[0]["task_id"]
    assert any(line["event"] == "task_succeeded" for line in lines)
