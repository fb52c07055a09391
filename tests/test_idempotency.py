"""One Idempotency-Key, one request: the same request again replays the first
answer; a different request under a used key is a 422 and moves nothing."""

import json
from collections import Counter
from decimal import Decimal

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from catalog.models import Gift
from core.idempotency import IdempotencyKeyReused, request_fingerprint
from gifting import services as gifting_services
from gifting.models import GiftSend
from gifting.tests.factories import creator_create, funded_sender, rich_creator, rose
from payouts import services as payout_services
from payouts.models import Payout
from wallets import services as wallet_services
from wallets.models import Purchase, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.stores import sandbox_receipt
from wallets.tests.factories import on_sale, user_create
from wallets.tests.test_concurrency import run_in_threads

PURCHASES, SENDS, PAYOUTS = (
    "/api/v1/purchases/",
    "/api/v1/gift-sends/",
    "/api/v1/payouts/",
)
REUSED = {
    "detail": "This Idempotency-Key was already used for a different request; "
    "nothing was done. Send a new key for a new request.",
    "code": "idempotency_key_reused",
}


def money_state(*users) -> tuple:
    """Every money record and the users' balances: unchanged by a refusal."""
    return (
        Purchase.objects.count(),
        GiftSend.objects.count(),
        Payout.objects.count(),
        Transfer.objects.count(),
        [wallet_balances(user=user) for user in users],
    )


def post(client, path, body, key, *, raw: str | None = None):
    if raw is not None:
        return client.post(
            path, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
        )
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def purchase_body(user, txn: str) -> dict:
    return {
        "bundle": "coins_100",
        "region": "US",
        "channel": "app",
        "store": "apple",
        "receipt": sandbox_receipt(user.id, "coins_100", txn, store="apple"),
    }


@pytest.fixture
def buyer(api_client):
    on_sale(coins=100, amount="0.99", sku="coins_100")
    user = user_create()
    api_client.force_authenticate(user)
    return user


@pytest.mark.django_db
def test_a_purchase_with_a_used_key_and_another_receipt_is_422_and_credits_nothing(
    api_client, buyer
):
    first = post(api_client, PURCHASES, purchase_body(buyer, "txn-1"), "k")
    before = money_state(buyer)

    second = post(api_client, PURCHASES, purchase_body(buyer, "txn-2"), "k")

    assert first.status_code == 201
    assert (second.status_code, second.json()) == (422, REUSED)
    assert money_state(buyer) == before
    assert not Purchase.objects.filter(store_transaction_id="txn-2").exists()


@pytest.mark.django_db
def test_the_same_purchase_written_differently_replays_the_first(api_client, buyer):
    body = purchase_body(buyer, "txn-1")
    first = post(api_client, PURCHASES, body, "k").json()
    # Other key order and spacing: the same request.
    raw = json.dumps(dict(reversed(list(body.items()))), indent=2)

    again = post(api_client, PURCHASES, None, "k", raw=raw)

    assert again.status_code == 200
    assert again.json()["purchase"]["id"] == first["purchase"]["id"]
    assert Purchase.objects.count() == 1


@pytest.mark.django_db
def test_a_purchase_replayed_by_its_store_transaction_under_another_key_is_200(
    api_client, buyer
):
    first = post(api_client, PURCHASES, purchase_body(buyer, "txn-1"), "k1").json()

    again = post(api_client, PURCHASES, purchase_body(buyer, "txn-1"), "k2")

    assert again.status_code == 200
    assert again.json()["purchase"]["id"] == first["purchase"]["id"]
    assert Purchase.objects.count() == 1


@pytest.fixture
def sender(api_client):
    user = funded_sender(100)
    rose()
    api_client.force_authenticate(user)
    return user


def gift_body(to, **overrides) -> dict:
    return {
        "gift": "rose",
        "creator": to.id,
        "quantity": 2,
        "placement": "live",
        "stream_id": "s1",
        **overrides,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [{"quantity": 9}, {"stream_id": "s2"}, {"creator": "other"}],
    ids=["quantity", "stream", "creator"],
)
def test_a_gift_send_with_a_used_key_and_another_body_is_422_and_moves_nothing(
    api_client, sender, change
):
    creator, other = creator_create(), creator_create()
    post(api_client, SENDS, gift_body(creator), "g")
    before = money_state(sender, creator.user, other.user)
    if change.get("creator") == "other":
        change = {"creator": other.id}

    second = post(api_client, SENDS, gift_body(creator, **change), "g")

    assert (second.status_code, second.json()) == (422, REUSED)
    assert money_state(sender, creator.user, other.user) == before


@pytest.mark.django_db
def test_a_gift_send_leaving_out_a_default_is_the_same_request(api_client, sender):
    creator = creator_create()
    body = gift_body(creator, quantity=1)
    first = post(api_client, SENDS, body, "g").json()
    body.pop("quantity")  # 1 by default

    again = post(api_client, SENDS, body, "g")

    assert again.status_code == 200
    assert again.json()["gift_send"]["id"] == first["gift_send"]["id"]
    assert wallet_balances(user=sender).coins == 99


@pytest.mark.django_db
def test_a_gift_that_cannot_be_sent_now_replays_only_for_the_same_request(
    api_client, sender
):
    creator = creator_create()
    first = post(api_client, SENDS, gift_body(creator), "g").json()
    Gift.objects.update(is_active=False)
    before = money_state(sender, creator.user)

    same = post(api_client, SENDS, gift_body(creator), "g")
    other = post(api_client, SENDS, gift_body(creator, quantity=3), "g")

    assert same.status_code == 200
    assert same.json()["gift_send"]["id"] == first["gift_send"]["id"]
    assert (other.status_code, other.json()) == (422, REUSED)
    assert money_state(sender, creator.user) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("first", "second", "status"),
    [
        ({"diamonds": "25000"}, {"diamonds": "25000.0000"}, 200),
        ({"diamonds": "25000"}, {"diamonds": "30000"}, 422),
        ({"all": True}, {"diamonds": "50000"}, 422),
        ({"all": True}, {"all": True, "currency": "USD"}, 200),
    ],
)
def test_a_payout_request_replays_only_the_same_amount(
    api_client, first, second, status
):
    creator = rich_creator(diamonds=50_000)
    api_client.force_authenticate(creator.user)
    created = post(api_client, PAYOUTS, first, "p")
    before = money_state(creator.user)

    again = post(api_client, PAYOUTS, second, "p")

    assert created.status_code == 201
    assert again.status_code == status
    if status == 200:
        assert again.json()["payout"]["id"] == created.json()["payout"]["id"]
    else:
        assert again.json() == REUSED
    assert money_state(creator.user) == before


@pytest.mark.django_db
def test_rows_from_before_fingerprints_replay_as_before(api_client, sender):
    creator = creator_create()
    first = post(api_client, SENDS, gift_body(creator), "g").json()
    GiftSend.objects.update(request_fingerprint="")

    again = post(api_client, SENDS, gift_body(creator, quantity=9), "g")

    assert again.status_code == 200
    assert again.json()["gift_send"]["id"] == first["gift_send"]["id"]
    assert GiftSend.objects.count() == 1


@pytest.mark.django_db
def test_another_users_key_is_not_theirs_to_replay_or_probe(api_client, sender):
    creator = creator_create()
    post(api_client, SENDS, gift_body(creator), "shared-key")
    other = funded_sender(100)
    client = APIClient()
    client.force_authenticate(other)

    response = post(client, SENDS, gift_body(creator, quantity=3), "shared-key")

    assert response.status_code == 201
    assert response.json()["gift_send"]["quantity"] == 3
    assert wallet_balances(user=sender).coins == 98
    assert wallet_balances(user=other).coins == 97


def test_the_fingerprint_is_of_the_validated_input():
    same = request_fingerprint("payout", diamond_units=None, amount=Decimal("250"))
    assert same == request_fingerprint(
        "payout", amount=Decimal("250.0000"), diamond_units=None
    )
    assert same != request_fingerprint("payout", diamond_units=None, amount=251)
    assert same != request_fingerprint("gift_send", diamond_units=None, amount=250)
    assert len(same) == 64


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="concurrency needs PostgreSQL (set DATABASE_URL)",
)
def test_one_key_racing_with_two_bodies_applies_one_and_refuses_the_other():
    creator, gift, sender = creator_create(), rose(), funded_sender(100)
    bundle, region = on_sale(coins=100, sku="race_100")
    payer = rich_creator(diamonds=50_000)
    threads = 16

    def work(i):
        quantity = 1 + i % 2  # two different bodies under one key
        outcome = Counter()
        try:
            result = gifting_services.gift_send(
                sender=sender, creator=creator, gift=gift, quantity=quantity,
                placement="live", stream_id="race", region=None,
                idempotency_key="race-gift",
            )  # fmt: skip
            outcome[f"gift {'201' if result.created else '200'} {quantity}"] += 1
        except IdempotencyKeyReused:
            outcome[f"gift 422 {quantity}"] += 1
        try:
            result = wallet_services.purchase_record(
                user=sender, bundle=bundle, region=region, channel="app",
                store="apple", idempotency_key="race-buy",
                receipt=sandbox_receipt(
                    sender.id, bundle.sku, f"race-{i % 2}", store="apple"
                ),
            )  # fmt: skip
            outcome[f"buy {'201' if result.created else '200'} {i % 2}"] += 1
        except IdempotencyKeyReused:
            outcome[f"buy 422 {i % 2}"] += 1
        try:
            units = (20_000 + 10_000 * (i % 2)) * 10_000
            result = payout_services.payout_request(
                creator=payer, diamond_units=units, idempotency_key="race-payout"
            )
            outcome[f"payout {'201' if result.created else '200'} {i % 2}"] += 1
        except IdempotencyKeyReused:
            outcome[f"payout 422 {i % 2}"] += 1
        return outcome

    totals = sum(run_in_threads(threads, work), Counter())

    send = GiftSend.objects.get()
    purchase = Purchase.objects.get(idempotency_key="race-buy")
    payout = Payout.objects.get()
    half = threads // 2
    winners = {
        "gift": send.quantity,
        "buy": int(purchase.store_transaction_id[-1]),
        "payout": payout.diamond_units // 10_000 // 10_000 - 2,
    }
    for op, won in winners.items():
        lost = {"gift": 3 - won, "buy": 1 - won, "payout": 1 - won}[op]
        assert totals[f"{op} 201 {won}"] == 1, totals
        assert totals[f"{op} 200 {won}"] == half - 1, totals
        assert totals[f"{op} 422 {lost}"] == half, totals
    assert wallet_balances(user=sender).coins == 100 - send.coins + purchase.coins
    assert ledger_reconcile().is_clean
