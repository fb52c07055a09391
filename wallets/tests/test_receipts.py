"""Forged, altered, replayed, cross-user and malformed store receipts and refund
notifications: none credits a coin or writes a row; a genuine refund notification
takes its coins back exactly once.

The corpus is the two tables RECEIPTS and NOTIFICATIONS below: each case builds its
input from a world where buyer A and buyer B each bought coins_100 once.
"""

import base64
import json
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.models import User
from catalog.models import CoinBundle, Region
from wallets import services
from wallets.models import Purchase, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.stores import (
    ReceiptRejected,
    SandboxStore,
    StoreUnavailable,
    VerifiedReceipt,
    _b64encode,
    _receipt_mac,
    sandbox_receipt,
    sandbox_receipt_claims,
    sandbox_signature,
)

from .concurrent import notification_delivered_at_once
from .factories import on_sale, user_create

PURCHASES = "/api/v1/purchases/"
SKU, OTHER_SKU = "coins_100", "coins_500"


@dataclass
class World:
    a: User
    b: User
    bundle: CoinBundle
    region: Region

    def receipt(
        self,
        user=None,
        sku=SKU,
        txn="fresh-1",
        outcome="accept",
        store="apple",
        storefront=None,
    ):
        return sandbox_receipt(
            (user or self.a).id, sku, txn, outcome, store=store, storefront=storefront
        )

    def buy(self, user, txn, store="apple"):
        """`user`'s purchase of the bundle at `store`, as transaction `txn`."""
        services.purchase_record(
            user=user,
            bundle=self.bundle,
            region=self.region,
            channel="app",
            store=store,
            receipt=self.receipt(user=user, txn=txn, store=store),
            idempotency_key=f"{store}-{txn}",
        )


def _world() -> World:
    bundle, region = on_sale(coins=100, sku=SKU)
    on_sale(coins=500, amount="4.99", sku=OTHER_SKU)
    world = World(a=user_create(), b=user_create(), bundle=bundle, region=region)
    for user, txn in ((world.a, "a-1"), (world.b, "b-1")):
        world.buy(user, txn)
    return world


@pytest.fixture
def world(db) -> World:
    return _world()


def snapshot(world: World) -> tuple:
    """Everything a credit or a refund would change."""
    return (
        wallet_balances(user=world.a),
        wallet_balances(user=world.b),
        Purchase.objects.count(),
        Transfer.objects.count(),
        sorted(Purchase.objects.values_list("id", "status")),
    )


# --- Receipt surgery: what an attacker can do without the key. ---


def _payload(receipt: str) -> dict:
    encoded = receipt.partition(".")[0]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def altered(receipt: str, **changes) -> str:
    """The receipt with claims changed (or removed with None), signature kept."""
    claims = {**_payload(receipt), **changes}
    claims = {key: value for key, value in claims.items() if value is not None}
    raw = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64encode(raw)}.{receipt.partition('.')[2]}"


def signed_raw(raw: bytes) -> str:
    """Bytes signed with the sandbox key: what a buggy store could send."""
    payload = _b64encode(raw)
    return f"{payload}.{_b64encode(_receipt_mac(payload))}"


def signed_claims(**claims) -> str:
    base = {"v": 2, "store": "apple", "txn": "fresh-1", "sku": SKU, "outcome": "accept"}
    merged = {key: value for key, value in {**base, **claims}.items() if value != ...}
    return signed_raw(json.dumps(merged).encode())


def standard_base64(receipt: str) -> str:
    payload, _, signature = receipt.partition(".")
    raw = base64.urlsafe_b64decode(signature + "=")
    return f"{payload}.{base64.b64encode(raw).decode()}"


def flip(text: str, index: int) -> str:
    char = "A" if text[index] != "A" else "B"
    return text[:index] + char + text[index + 1 :]


def with_secret(secret: str, build):
    with override_settings(PAYMENT_STORE_SANDBOX_SECRET=secret):
        return build()


# Each case: (name, builder(world) -> the JSON value sent as "receipt").
RECEIPTS = [
    # Forged: no signature, or not made with the key.
    ("legacy plain accept", lambda w: "accept:fresh-1"),
    ("legacy plain timeout", lambda w: "timeout:fresh-1"),
    ("payload only", lambda w: w.receipt().partition(".")[0]),
    ("payload and a dot", lambda w: w.receipt().partition(".")[0] + "."),
    ("signature only", lambda w: "." + w.receipt().partition(".")[2]),
    ("three parts", lambda w: w.receipt() + ".extra"),
    (
        "signed with another secret",
        lambda w: with_secret("not-the-secret", w.receipt),
    ),
    (
        "signature of another receipt",
        lambda w: (
            w.receipt().partition(".")[0]
            + "."
            + w.receipt(txn="other").partition(".")[2]
        ),
    ),
    (
        "notification signature (hex HMAC under the secret)",
        lambda w: (
            (payload := w.receipt().partition(".")[0])
            + "."
            + sandbox_signature(payload.encode(), store="apple")
        ),
    ),
    ("signature padded", lambda w: w.receipt() + "="),
    ("signature in standard base64", lambda w: standard_base64(w.receipt())),
    ("signature bit flipped", lambda w: flip(w.receipt(), -3)),
    ("signature truncated", lambda w: w.receipt()[:-4]),
    ("signature upper-cased", lambda w: w.receipt().upper()),
    # Altered after signing: the signature no longer covers the payload.
    ("transaction changed", lambda w: altered(w.receipt(), txn="fresh-2")),
    ("user changed to the buyer", lambda w: altered(w.receipt(user=w.b), user=w.a.id)),
    ("sku changed", lambda w: altered(w.receipt(sku=OTHER_SKU), sku=SKU)),
    (
        "reject turned to accept",
        lambda w: altered(w.receipt(outcome="reject"), outcome="accept"),
    ),
    ("store claim removed", lambda w: altered(w.receipt(store="google"), store=None)),
    (
        "storefront changed",
        lambda w: altered(w.receipt(storefront="JP"), storefront="US"),
    ),
    (
        "storefront removed",
        lambda w: altered(w.receipt(storefront="JP"), storefront=None),
    ),
    ("version changed", lambda w: altered(w.receipt(), v=1)),
    ("payload byte flipped", lambda w: flip(w.receipt(), 5)),
    (
        "same claims spelled with spaces",
        lambda w: (
            _b64encode(json.dumps(_payload(w.receipt())).encode())
            + "."
            + w.receipt().partition(".")[2]
        ),
    ),
    # Cross-user and cross-product: genuine, but not this buyer's or this bundle's.
    ("B's genuine receipt", lambda w: w.receipt(user=w.b)),
    ("B's receipt already credited to B", lambda w: w.receipt(user=w.b, txn="b-1")),
    ("A's receipt for another bundle", lambda w: w.receipt(sku=OTHER_SKU)),
    ("A's receipt from the google store", lambda w: w.receipt(store="google")),
    (
        "A's receipt for a store that does not exist",
        lambda w: w.receipt(store="amazon"),
    ),
    ("genuine reject", lambda w: w.receipt(outcome="reject")),
    # Signed, but the claims are not a receipt: a store bug must not become a 500.
    (
        "signed: transaction id too long",
        lambda w: signed_claims(user=w.a.id, txn="t" * 129),
    ),
    ("signed: empty transaction id", lambda w: signed_claims(user=w.a.id, txn="")),
    ("signed: padded transaction id", lambda w: signed_claims(user=w.a.id, txn=" t ")),
    ("signed: transaction id a number", lambda w: signed_claims(user=w.a.id, txn=7)),
    ("signed: user as text", lambda w: signed_claims(user=str(w.a.id))),
    ("signed: user as true", lambda w: signed_claims(user=True)),
    ("signed: no user", lambda w: signed_claims(user=...)),
    ("signed: no sku", lambda w: signed_claims(user=w.a.id, sku=...)),
    ("signed: unknown outcome", lambda w: signed_claims(user=w.a.id, outcome="refund")),
    ("signed: store a number", lambda w: signed_claims(user=w.a.id, store=1)),
    ("signed: no store", lambda w: signed_claims(user=w.a.id, store=...)),
    (
        "signed: storefront lower-case",
        lambda w: signed_claims(user=w.a.id, storefront="us"),
    ),
    (
        "signed: storefront alpha-3",
        lambda w: signed_claims(user=w.a.id, storefront="USA"),
    ),
    ("signed: storefront a number", lambda w: signed_claims(user=w.a.id, storefront=1)),
    ("signed: empty store", lambda w: signed_claims(user=w.a.id, store="")),
    # Version 1 named no store, and every sandbox store honoured it.
    (
        "signed: version 1 without a store",
        lambda w: signed_claims(user=w.a.id, v=1, store=...),
    ),
    ("signed: no version", lambda w: signed_claims(user=w.a.id, v=...)),
    ("signed: a list", lambda w: signed_raw(b"[1, 2]")),
    ("signed: not JSON", lambda w: signed_raw(b"accept:fresh-1")),
    ("signed: not UTF-8", lambda w: signed_raw(b"\xff\xfe{}")),
    ("signed: empty", lambda w: signed_raw(b"")),
    # Malformed: not base64, not text, empty, huge, unicode.
    ("not base64", lambda w: "!!!!.????"),
    ("empty", lambda w: ""),
    ("blank", lambda w: "   "),
    ("a dot", lambda w: "."),
    ("unicode", lambda w: "accept:✓-fresh"),
    ("unicode around a genuine receipt", lambda w: "✓" + w.receipt()),
    ("emoji", lambda w: "😀.😀"),
    ("NUL byte", lambda w: w.receipt() + "\x00"),
    ("huge", lambda w: "A" * 8193),
    ("as large as allowed", lambda w: "A" * 4096 + "." + "B" * 4095),
    ("a number", lambda w: 12345),
    ("null", lambda w: None),
    ("a list", lambda w: [w.receipt()]),
    ("an object", lambda w: {"receipt": w.receipt()}),
    ("true", lambda w: True),
]


def post_purchase(client, receipt, key="corpus-1", sku=SKU, store="apple"):
    channel = "web" if store == "web" else "app"
    body = {"bundle": sku, "region": "US", "channel": channel, "store": store}
    body["receipt"] = receipt
    return client.post(PURCHASES, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "build", [build for _, build in RECEIPTS], ids=[name for name, _ in RECEIPTS]
)
def test_no_bad_receipt_credits_a_coin_or_writes_a_row(api_client, world, build):
    receipt = build(world)
    before = snapshot(world)
    api_client.force_authenticate(world.a)

    response = post_purchase(api_client, receipt)

    assert response.status_code == 400, response.content
    assert list(response.json()) == ["receipt"]
    assert snapshot(world) == before


def test_the_corpus_cases_are_distinct():
    assert len({name for name, _ in RECEIPTS}) == len(RECEIPTS)


@pytest.mark.django_db
def test_a_genuine_receipt_is_credited_and_the_control_case_passes(api_client, world):
    # The same request as the corpus's, with a good receipt: the corpus fails
    # because of its receipts, not because of the request around them.
    api_client.force_authenticate(world.a)
    response = post_purchase(api_client, world.receipt())
    assert response.status_code == 201
    assert response.json()["purchase"]["store_transaction_id"] == "fresh-1"
    assert wallet_balances(user=world.a).paid_coins == 200
    # The "signed:" cases' claims are genuine but for the defect each names.
    control = signed_claims(user=world.a.id, txn="fresh-2")
    assert post_purchase(api_client, control, key="control-2").status_code == 201


@pytest.mark.django_db
def test_a_receipt_bound_to_a_store_is_credited_by_that_store_only(api_client, world):
    api_client.force_authenticate(world.a)
    receipt = world.receipt(store="google")
    assert post_purchase(api_client, receipt, store="apple").status_code == 400
    assert (
        post_purchase(api_client, receipt, key="k2", store="google").status_code == 201
    )
    # Credited at google, apple still refuses it: the receipt names its store.
    before = snapshot(world)
    assert (
        post_purchase(api_client, receipt, key="k3", store="apple").status_code == 400
    )
    assert snapshot(world) == before


@pytest.mark.django_db
def test_a_receipt_is_credited_only_in_the_storefront_it_was_bought_in(
    api_client, world
):
    api_client.force_authenticate(world.a)
    before = snapshot(world)
    response = post_purchase(api_client, world.receipt(storefront="JP"))
    assert response.status_code == 400
    assert response.json() == {
        "region": ["This receipt was bought in the JP storefront, not in US."]
    }
    assert snapshot(world) == before
    response = post_purchase(api_client, world.receipt(storefront="US"), key="us")
    assert response.status_code == 201


@pytest.mark.django_db
def test_a_timeout_receipt_is_a_503_that_records_nothing(api_client, world):
    before = snapshot(world)
    api_client.force_authenticate(world.a)
    response = post_purchase(api_client, world.receipt(outcome="timeout"))
    assert response.status_code == 503
    assert snapshot(world) == before


# --- Replays. ---


@pytest.mark.django_db
def test_a_genuine_receipt_posted_again_with_other_keys_credits_once(api_client, world):
    api_client.force_authenticate(world.a)
    receipt = world.receipt()
    first = post_purchase(api_client, receipt, key="first")
    after_first = snapshot(world)

    again = [post_purchase(api_client, receipt, key=f"replay-{n}") for n in range(3)]

    assert first.status_code == 201
    assert {r.status_code for r in again} == {200}
    assert {r.json()["purchase"]["id"] for r in again} == {
        first.json()["purchase"]["id"]
    }
    assert snapshot(world) == after_first
    assert wallet_balances(user=world.a).paid_coins == 200


@pytest.mark.django_db
def test_a_receipt_refunded_by_the_store_does_not_credit_again(
    api_client, client, world
):
    api_client.force_authenticate(world.a)
    receipt = world.receipt(txn="a-2")
    post_purchase(api_client, receipt, key="first")
    assert (
        notify(client, {"type": "refund", "transaction_id": "a-2"}).status_code == 200
    )
    after_refund = snapshot(world)

    replay = post_purchase(api_client, receipt, key="after-refund")

    assert replay.status_code == 200
    assert replay.json()["purchase"]["status"] == "refunded"
    assert snapshot(world) == after_refund
    assert wallet_balances(user=world.a).paid_coins == 100


@pytest.mark.django_db
def test_another_users_receipt_for_a_used_transaction_is_a_409(api_client, world):
    # Only the sandbox can mint this (a real store gives one transaction to one
    # account): the unique (store, transaction) behind the signature still holds.
    before = snapshot(world)
    api_client.force_authenticate(world.b)
    response = post_purchase(api_client, world.receipt(user=world.b, txn="a-1"))
    assert response.status_code == 409
    assert list(response.json()) == ["receipt"]
    assert snapshot(world) == before


# --- The service and the adapter, without HTTP. ---


@pytest.mark.django_db
def test_the_service_refuses_another_users_receipt_naming_the_field(world):
    with pytest.raises(ReceiptRejected, match="another account") as refusal:
        services.purchase_record(
            user=world.a,
            bundle=world.bundle,
            region=world.region,
            channel="app",
            store="apple",
            receipt=world.receipt(user=world.b),
            idempotency_key="service-1",
        )
    assert (refusal.value.field, refusal.value.status_code) == ("receipt", 400)


def test_the_sandbox_verifies_what_it_minted():
    verified = SandboxStore("apple").verify_receipt(
        sandbox_receipt(7, SKU, "t-7", store="apple"), sku=SKU, user_id=7
    )
    assert verified == VerifiedReceipt(transaction_id="t-7", sku=SKU, storefront=None)
    verified = SandboxStore("apple").verify_receipt(
        sandbox_receipt(7, SKU, "t-7", store="apple", storefront="JP"),
        sku=SKU,
        user_id=7,
    )
    assert verified.storefront == "JP"
    with pytest.raises(ValueError, match="alpha-2"):
        VerifiedReceipt(transaction_id="t-7", sku=SKU, storefront="USA")
    assert sandbox_receipt_claims(sandbox_receipt(7, SKU, "t-7", store="web")) == {
        "v": 2,
        "txn": "t-7",
        "sku": SKU,
        "user": 7,
        "outcome": "accept",
        "store": "web",
    }


def test_the_sandbox_checks_user_then_product():
    store, receipt = (
        SandboxStore("apple"),
        sandbox_receipt(7, SKU, "t-7", store="apple"),
    )
    with pytest.raises(ReceiptRejected, match="another account"):
        store.verify_receipt(receipt, sku=SKU, user_id=8)
    with pytest.raises(ReceiptRejected, match=f"for {SKU}, not {OTHER_SKU}"):
        store.verify_receipt(receipt, sku=OTHER_SKU, user_id=7)
    with pytest.raises(StoreUnavailable):
        store.verify_receipt(
            sandbox_receipt(7, SKU, "t-7", "timeout", store="apple"),
            sku=SKU,
            user_id=7,
        )


def test_receipts_signed_under_another_secret_are_refused():
    receipt = sandbox_receipt(7, SKU, "t-7", store="apple")
    with override_settings(PAYMENT_STORE_SANDBOX_SECRET="rotated"):
        assert sandbox_receipt_claims(receipt) is None
        with pytest.raises(ReceiptRejected):
            SandboxStore("apple").verify_receipt(receipt, sku=SKU, user_id=7)


GOOD_MINT = {"user_id": 7, "sku": SKU, "transaction_id": "t", "store": "apple"}


@pytest.mark.parametrize(
    "bad",
    [
        {"user_id": 0},
        {"user_id": -1},
        {"user_id": "7"},
        {"user_id": True},
        {"sku": ""},
        {"transaction_id": ""},
        {"transaction_id": " t"},
        {"transaction_id": "t" * 129},
        {"outcome": "refund"},
        {"store": ""},
        {"store": None},
        {"storefront": "us"},
        {"storefront": "U1"},
        {"storefront": "USA"},
    ],
)
def test_minting_a_receipt_the_store_would_refuse_is_an_error(bad):
    assert sandbox_receipt(**GOOD_MINT)
    with pytest.raises(ValueError):
        sandbox_receipt(**{**GOOD_MINT, **bad})


# --- Refund notifications. ---


def notify(client, payload, store="apple", signature=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {}
    if signature is not False:
        headers["HTTP_X_STORE_SIGNATURE"] = (
            sandbox_signature(body, store=store) if signature is None else signature
        )
    return client.post(
        f"/api/v1/stores/{store}/notifications/",
        data=body,
        content_type="application/json",
        **headers,
    )


def refund_of(txn):
    return {"type": "refund", "transaction_id": txn}


# Past DATA_UPLOAD_MAX_MEMORY_SIZE, and valid JSON: only its size is wrong.
HUGE = b'{"type": "refund", "transaction_id": "a-1"' + b" " * 6_000_000 + b"}"


def _body(payload) -> bytes:
    return json.dumps(payload).encode()


# Each case: (name, keyword arguments for notify, the answer allowed). None of them
# refunds anything: forged and altered ones are 403, malformed ones 400, and signed
# ones naming no purchase of that store are 200 "ignored".
NOTIFICATIONS = [
    # Forged.
    ("no signature", dict(payload=refund_of("a-1"), signature=False), 403),
    ("empty signature", dict(payload=refund_of("a-1"), signature=""), 403),
    ("zeros", dict(payload=refund_of("a-1"), signature="0" * 64), 403),
    (
        "signed with another secret",
        dict(
            payload=refund_of("a-1"),
            signature=with_secret(
                "not-the-secret",
                lambda: sandbox_signature(_body(refund_of("a-1")), store="apple"),
            ),
        ),
        403,
    ),
    (
        "upper-case hex",
        dict(
            payload=refund_of("a-1"),
            signature=sandbox_signature(_body(refund_of("a-1")), store="apple").upper(),
        ),
        403,
    ),
    (
        "signature with a space",
        dict(
            payload=refund_of("a-1"),
            signature=sandbox_signature(_body(refund_of("a-1")), store="apple") + " ",
        ),
        403,
    ),
    (
        "a receipt's signature",
        dict(
            payload=refund_of("a-1"),
            signature=sandbox_receipt(1, SKU, "a-1", store="apple").partition(".")[2],
        ),
        403,
    ),
    (
        "unicode signature",
        dict(payload=refund_of("a-1"), signature="✓" * 64),
        403,
    ),
    # Altered after signing: another user's transaction, an amount, spacing.
    (
        "transaction changed to A's",
        dict(
            payload=refund_of("a-1"),
            signature=sandbox_signature(_body(refund_of("no-such")), store="apple"),
        ),
        403,
    ),
    (
        "amount added",
        dict(
            payload={**refund_of("a-1"), "amount": 100},
            signature=sandbox_signature(_body(refund_of("a-1")), store="apple"),
        ),
        403,
    ),
    (
        "same JSON respaced",
        dict(
            raw=json.dumps(refund_of("a-1"), indent=1).encode(),
            signature=sandbox_signature(_body(refund_of("a-1")), store="apple"),
        ),
        403,
    ),
    # Genuinely signed, but naming no purchase of this store.
    ("unknown transaction", dict(payload=refund_of("nobody-bought-this")), 200),
    (
        "A's transaction at another store",
        dict(payload=refund_of("a-1"), store="google"),
        200,
    ),
    ("unicode transaction", dict(payload=refund_of("a-1✓")), 200),
    # Malformed, signed or not.
    ("signed: not JSON", dict(raw=b"refund a-1"), 400),
    ("signed: empty", dict(raw=b""), 400),
    ("signed: a list", dict(payload=["refund", "a-1"]), 400),
    ("signed: null", dict(payload=None), 400),
    ("signed: not UTF-8", dict(raw=b"\xff\xfe\x00"), 400),
    (
        "signed: base64 of the JSON",
        dict(raw=base64.b64encode(_body(refund_of("a-1")))),
        400,
    ),
    (
        "signed: chargeback",
        dict(payload={"type": "chargeback", "transaction_id": "a-1"}),
        400,
    ),
    ("signed: no type", dict(payload={"transaction_id": "a-1"}), 400),
    ("signed: no transaction", dict(payload={"type": "refund"}), 400),
    ("signed: transaction null", dict(payload=refund_of(None)), 400),
    ("signed: transaction a list", dict(payload=refund_of(["a-1"])), 400),
    ("signed: transaction too long", dict(payload=refund_of("a" * 129)), 400),
    ("signed: NUL in transaction", dict(payload=refund_of("a-1\x00")), 400),
    # Past the upload limit: refused before anything reads it.
    (
        "unsigned: huge",
        dict(raw=HUGE, signature="0" * 64),
        413,
    ),
    ("signed: huge", dict(raw=HUGE), 413),
    ("unknown store", dict(payload=refund_of("a-1"), store="amazon"), 404),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "answer"),
    [(kwargs, answer) for _, kwargs, answer in NOTIFICATIONS],
    ids=[name for name, _, _ in NOTIFICATIONS],
)
def test_no_bad_notification_refunds_anything(client, world, kwargs, answer):
    before = snapshot(world)

    response = notify(client, **{"payload": None, **kwargs})

    assert response.status_code == answer, response.content
    if answer == 200:
        assert response.json() == {"status": "ignored"}
    assert snapshot(world) == before


def test_the_notification_cases_are_distinct():
    assert len({name for name, _, _ in NOTIFICATIONS}) == len(NOTIFICATIONS)


@pytest.mark.django_db
def test_a_genuine_refund_notification_takes_the_coins_back_once(client, world):
    b_before = wallet_balances(user=world.b)

    answers = [notify(client, refund_of("a-1")).json() for _ in range(3)]

    assert answers == [
        {"status": "refunded"},
        {"status": "already_refunded"},
        {"status": "already_refunded"},
    ]
    assert wallet_balances(user=world.a).paid_coins == 0
    assert Transfer.objects.filter(kind="refund").count() == 1
    assert Purchase.objects.get(store_transaction_id="a-1").status == "refunded"
    # The transaction names its buyer: B's coins never move for A's refund.
    assert wallet_balances(user=world.b) == b_before
    assert ledger_reconcile().is_clean


@pytest.mark.django_db
def test_a_notification_signed_for_one_store_refunds_nothing_at_another(client, world):
    # B bought at Google under the transaction id A's Apple purchase has.
    world.buy(world.b, "a-1", store="google")
    before = snapshot(world)
    body = _body(refund_of("a-1"))

    response = notify(
        client,
        refund_of("a-1"),
        store="google",
        signature=sandbox_signature(body, store="apple"),
    )

    assert response.status_code == 403
    assert snapshot(world) == before
    # Signed by Google, it refunds Google's purchase and nothing of Apple's.
    assert notify(client, refund_of("a-1"), store="google").json() == {
        "status": "refunded"
    }
    assert Purchase.objects.get(store="apple", store_transaction_id="a-1").status == (
        "completed"
    )


# --- The management command. ---


@pytest.mark.django_db
def test_the_command_prints_a_receipt_the_api_credits(api_client, world, capsys):
    call_command("sandbox_receipt", user=world.a.username, sku=SKU, txn="cli-1")
    receipt = capsys.readouterr().out.strip()

    api_client.force_authenticate(world.a)
    response = post_purchase(api_client, receipt)

    assert response.status_code == 201
    assert response.json()["purchase"]["store_transaction_id"] == "cli-1"


@pytest.mark.django_db
def test_the_command_makes_a_new_transaction_each_time(world, capsys):
    for _ in range(2):
        call_command("sandbox_receipt", user=world.a.username, sku=SKU)
    first, second = capsys.readouterr().out.split()
    assert sandbox_receipt_claims(first)["txn"] != sandbox_receipt_claims(second)["txn"]
    # Bound to one store, apple unless told: the app channel's usual store.
    assert sandbox_receipt_claims(first)["store"] == "apple"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"user": None, "sku": SKU}, "Give --user"),
        ({"user": "nobody", "sku": SKU}, "No user 'nobody'"),
        ({"sku": "coins_0"}, "No bundle with sku 'coins_0'"),
        ({"sku": SKU, "outcome": "maybe"}, "Unknown --outcome 'maybe'"),
        ({"sku": SKU, "store": "amazon"}, "Unknown --store 'amazon'"),
        ({"sku": SKU, "txn": "t" * 129}, "Bad --txn"),
        ({"sku": SKU, "txn": " padded"}, "Bad --txn"),
        ({"sku": SKU, "storefront": "us"}, "No region 'us' for --storefront"),
        ({"sku": SKU, "storefront": "ZZ"}, "No region 'ZZ' for --storefront"),
    ],
)
def test_the_command_refuses_bad_input_in_one_line(world, options, message):
    options = {"user": world.a.username, **options}
    with pytest.raises(CommandError, match=message) as refusal:
        call_command("sandbox_receipt", **options)
    assert "\n" not in str(refusal.value)


@pytest.mark.django_db
def test_the_command_refuses_a_store_that_is_not_the_sandbox(world, settings, capsys):
    settings.PAYMENT_STORES = {
        **settings.PAYMENT_STORES,
        "google": "wallets.tests.test_receipts.RealStore",
    }
    with pytest.raises(CommandError, match="The google store here is not the sandbox"):
        call_command("sandbox_receipt", user=world.a.username, sku=SKU, store="google")
    call_command("sandbox_receipt", user=world.a.username, sku=SKU, store="web")
    assert sandbox_receipt_claims(capsys.readouterr().out.strip())["store"] == "web"


@pytest.mark.django_db
def test_the_command_binds_a_storefront_when_told(world, capsys):
    call_command("sandbox_receipt", user=world.a.username, sku=SKU, storefront="US")
    claims = sandbox_receipt_claims(capsys.readouterr().out.strip())
    assert claims["storefront"] == "US"


class RealStore:
    def __init__(self, name):
        self.name = name


# --- Concurrency: the same genuine notification delivered at once. ---


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="concurrency needs PostgreSQL (set DATABASE_URL)",
)
def test_one_refund_notification_delivered_by_many_at_once_refunds_once():
    world = _world()
    body = _body(refund_of("a-1"))
    count = 16

    answers = notification_delivered_at_once(body, count)

    assert answers == {
        (200, "refunded"): 1,
        (200, "already_refunded"): count - 1,
    }
    assert Transfer.objects.filter(kind="refund").count() == 1
    assert wallet_balances(user=world.a).paid_coins == 0
    assert wallet_balances(user=world.b).paid_coins == 100
    assert ledger_reconcile().is_clean
