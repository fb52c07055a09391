"""The peer scenario's endpoint and seeding (bench/peer.py), under bench.settings on
PostgreSQL: django-hordak's migrations and triggers exist on PostgreSQL or MySQL only.
tests/test_bench_peer.py runs this module in the suite."""

import threading
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from hordak.models import Account, Leg, Transaction
from moneyed import Money
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import User
from bench.peer import PEER_CURRENCY, hordak_check, hordak_coins_spend
from bench.peer import hordak_wallets_create as wallets_create
from wallets.ledger import InsufficientBalance

URL = "/bench/hordak-transfer/"

pytestmark = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="django-hordak's triggers need PostgreSQL (set DATABASE_URL)",
)


def _sender(username: str = "peer-sender", coins: int = 5) -> User:
    user = User.objects.create_user(username=username)
    wallets_create(users=[user], coins=coins)
    return user


def _client(user: User) -> APIClient:
    client = APIClient()
    token = Token.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _held(account_id: int) -> Decimal:
    balance = Account.objects.with_balances().get(pk=account_id).balance
    return balance[PEER_CURRENCY].amount


@pytest.mark.django_db
def test_a_transfer_posts_one_balanced_two_leg_transaction_and_answers_what_is_left():
    sender = _sender(coins=5)
    wallet = sender.hordak_wallet
    before = Transaction.objects.count()

    response = _client(sender).post(URL, {"coins": 2}, format="json")

    assert response.status_code == 201, response.content
    assert response.json() == {"coins": 3}
    assert Transaction.objects.count() == before + 1
    posted = Transaction.objects.latest("id")
    legs = {(leg.account_id, leg.type, leg.amount) for leg in posted.legs.all()}
    assert legs == {
        (wallet.coins_id, "credit", Money(2, PEER_CURRENCY)),
        (wallet.spent_id, "debit", Money(2, PEER_CURRENCY)),
    }
    assert _held(wallet.coins_id) == 3
    assert _held(wallet.spent_id) == 2
    check = hordak_check()
    assert check["clean"] and check["accounting_equation"], check
    assert check["transfers"] == 1


@pytest.mark.django_db
def test_a_transfer_takes_six_statements_with_the_token_lookup():
    """The lock, the balance, the transaction and its two legs: bench/README.md
    compares this with a gift's 15."""
    client = _client(_sender(coins=5))

    with CaptureQueriesContext(connection) as captured:
        assert client.post(URL, {"coins": 1}, format="json").status_code == 201

    # The test's own transaction turns the view's into savepoints.
    statements = [q["sql"] for q in captured if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 6, statements


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"coins": 0}, "Ensure this value is greater than or equal to 1."),
        ({"coins": "one"}, "A valid integer is required."),
        ({"coins": 1.5}, "A valid integer is required."),
        ({}, "This field is required."),
    ],
)
def test_a_bad_request_is_refused_with_the_field_and_posts_nothing(body, message):
    sender = _sender()
    before = Transaction.objects.count()

    response = _client(sender).post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json() == {"coins": [message]}
    assert Transaction.objects.count() == before


@pytest.mark.django_db
def test_more_coins_than_held_is_a_409_and_posts_nothing():
    sender = _sender(coins=5)
    before = Transaction.objects.count()

    response = _client(sender).post(URL, {"coins": 6}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_balance"
    assert response.json()["balance"] == 5
    assert Transaction.objects.count() == before
    assert _held(sender.hordak_wallet.coins_id) == 5


@pytest.mark.django_db
def test_only_senders_with_a_hordak_wallet_and_a_token_may_post():
    buyer = User.objects.create_user(username="peer-buyer")

    assert _client(buyer).post(URL, {"coins": 1}, format="json").status_code == 404
    assert APIClient().post(URL, {"coins": 1}, format="json").status_code == 401


@pytest.mark.django_db
def test_hordak_triggers_refuse_an_unbalanced_transaction():
    sender = _sender()
    posted = Transaction.objects.create()

    with pytest.raises(DatabaseError, match="must be 0"), transaction.atomic():
        with connection.cursor() as cursor:
            # Hordak checks legs when the transaction commits; check at once instead.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        Leg.objects.create(
            transaction=posted,
            account=sender.hordak_wallet.coins,
            credit=Money(1, PEER_CURRENCY),
        )


@pytest.mark.django_db
def test_seeding_opens_every_sender_and_the_check_finds_coins_moved_between_them():
    users = [User.objects.create_user(username=f"peer-{n}") for n in range(3)]
    wallets_create(users=users, coins=500)

    check = hordak_check()
    assert check["clean"], check
    assert check["senders_checked"] == 3 and check["transfers"] == 0
    for user in users:
        assert _held(user.hordak_wallet.coins_id) == 500

    users[1].hordak_wallet.coins.transfer_to(
        users[2].hordak_wallet.spent, Money(1, PEER_CURRENCY)
    )

    check = hordak_check()
    assert not check["clean"]
    assert check["mismatch_count"] == 2
    assert check["mismatches"][0].startswith(f"User {users[1].id}: holds 499.00,")
    assert check["mismatches"][1].startswith(f"User {users[2].id}: holds 500.00,")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_last_coin_spent_twice_at_once_is_refused_once():
    sender = _sender(coins=1)
    refused = []

    def spend_again():
        try:
            hordak_coins_spend(user=sender, coins=1)
        except InsufficientBalance as error:
            refused.append(error)
        finally:
            connections.close_all()

    with transaction.atomic():
        assert hordak_coins_spend(user=sender, coins=1) == 0
        other = threading.Thread(target=spend_again)
        other.start()
        _wait_for_a_lock_wait()
    other.join()

    assert len(refused) == 1
    assert _held(sender.hordak_wallet.coins_id) == 0
    assert _held(sender.hordak_wallet.spent_id) == 1


def _wait_for_a_lock_wait() -> None:
    with connections["default"].cursor() as cursor:
        for _ in range(100):
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    pytest.fail("The second transfer never waited for the first one's lock.")


@pytest.mark.django_db
def test_the_bench_app_has_every_migration():
    call_command("makemigrations", "bench", "--check", "--dry-run", verbosity=0)
