import datetime

import pytest
from django.db import transaction

from core.api.throttles import MoneyMovingThrottle
from wallets import ledger
from wallets.models import AccountKind, Purchase, Transfer
from wallets.stores import sandbox_receipt

from .factories import leg_post, on_sale, user_create
from .test_refunds import spend

pytestmark = pytest.mark.django_db
PURCHASES = "/api/v1/purchases/"


@pytest.fixture
def buyer(api_client):
    user = user_create()
    api_client.force_authenticate(user)
    return user


def post_purchase(api_client, user=None, key="key-1", txn="txn-1", **overrides):
    body = {
        "bundle": "coins_100",
        "region": "US",
        "channel": "app",
        "store": "apple",
        "receipt": sandbox_receipt(
            user.id if user else 1, "coins_100", txn, store="apple"
        ),
        **overrides,
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api_client.post(PURCHASES, body, format="json", **headers)


def test_purchase_answers_201_with_the_purchase_and_the_new_wallet(api_client, buyer):
    on_sale(coins=100, amount="0.99", sku="coins_100", bonus_coins=5)

    response = post_purchase(api_client, buyer)

    assert response.status_code == 201
    body = response.json()
    assert body["purchase"]["bundle"] == "coins_100"
    assert body["purchase"]["price"] == {"amount": "0.99", "currency": "USD"}
    assert (body["purchase"]["coins"], body["purchase"]["bonus_coins"]) == (100, 5)
    assert body["wallet"] == {
        "coins": 105,
        "paid_coins": 100,
        "bonus_coins": 5,
        "diamonds": "0.0000",
    }


def test_a_repeat_with_the_same_key_answers_200_with_the_first_result(
    api_client, buyer
):
    on_sale(sku="coins_100")
    first = post_purchase(api_client, buyer).json()

    again = post_purchase(api_client, buyer)

    assert again.status_code == 200
    assert again.json()["purchase"]["id"] == first["purchase"]["id"]
    assert Purchase.objects.count() == 1


def test_missing_idempotency_key_is_a_400_naming_the_header(api_client, buyer):
    on_sale(sku="coins_100")

    response = post_purchase(api_client, buyer, key=None)

    assert response.status_code == 400
    assert list(response.json()) == ["Idempotency-Key"]
    assert not Purchase.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"bundle": "coins_999"}, "bundle"),
        ({"region": "XX"}, "region"),
        ({"channel": "tv"}, "channel"),
        ({"store": "amazon"}, "store"),
        ({"receipt": ""}, "receipt"),
        (
            {"receipt": sandbox_receipt(1, "coins_100", "1", "reject", store="apple")},
            "receipt",
        ),
        ({"channel": "web", "store": "web"}, "bundle"),
        ({"store": "web"}, "store"),
    ],
)
def test_bad_input_is_a_400_on_the_field_and_records_nothing(
    api_client, buyer, overrides, field
):
    on_sale(sku="coins_100")

    response = post_purchase(api_client, buyer, **overrides)

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Purchase.objects.exists()
    assert not Transfer.objects.exists()


def test_under_age_is_a_403_that_says_why(api_client):
    minor = user_create(
        birth_date=datetime.date.today() - datetime.timedelta(days=365 * 10)
    )
    api_client.force_authenticate(minor)
    on_sale(sku="coins_100")

    response = post_purchase(api_client, minor)

    assert response.status_code == 403
    assert response.json()["code"] == "under_age"
    assert "18" in response.json()["detail"]
    assert not Purchase.objects.exists()


def test_store_timeout_is_a_503_and_records_nothing(api_client, buyer):
    on_sale(sku="coins_100")
    timeout = sandbox_receipt(buyer.id, "coins_100", "1", "timeout", store="apple")
    response = post_purchase(api_client, buyer, receipt=timeout)
    assert response.status_code == 503
    assert not Purchase.objects.exists()


def test_anonymous_cannot_buy(api_client):
    on_sale(sku="coins_100")
    assert post_purchase(api_client).status_code == 401


def test_wallet_shows_the_users_balances(api_client, buyer):
    assert api_client.get("/api/v1/wallet/").json() == {
        "coins": 0,
        "paid_coins": 0,
        "bonus_coins": 0,
        "diamonds": "0.0000",
    }
    on_sale(sku="coins_100", bonus_coins=3)
    post_purchase(api_client, buyer)
    # Whole numbers in the JSON ("103", not "103.0"), on every database.
    assert b'"coins":103,' in api_client.get("/api/v1/wallet/").content


def test_transfers_are_the_users_own_newest_first_and_signed(api_client, buyer):
    on_sale(sku="coins_100", bonus_coins=10)
    post_purchase(api_client, buyer)
    spend(buyer, 15)
    stranger = user_create()
    with transaction.atomic():
        leg_post(
            debit=ledger.system_account(AccountKind.BONUS_ISSUANCE),
            credit=ledger.user_account(stranger, AccountKind.BONUS_COINS),
            amount=9,
            kind=Transfer.Kind.PURCHASE_BONUS,
            reference="stranger",
            idempotency_key="stranger",
        )

    items = api_client.get("/api/v1/wallet/transfers/").json()["results"]

    assert [(i["account"], i["amount"]) for i in items] == [
        ("paid_coins", -5),
        ("bonus_coins", -10),
        ("bonus_coins", 10),
        ("paid_coins", 100),
    ]
    assert all(item["reference"] != "stranger" for item in items)


def test_transfers_page_with_a_cursor_in_constant_queries(
    api_client, buyer, django_assert_num_queries
):
    on_sale(sku="coins_100")
    post_purchase(api_client, buyer)
    for _ in range(30):
        spend(buyer, 1)

    with django_assert_num_queries(1):
        first = api_client.get("/api/v1/wallet/transfers/", {"limit": 10}).json()
    second = api_client.get(first["next"]).json()

    assert len(first["results"]) == len(second["results"]) == 10
    assert {i["id"] for i in first["results"]}.isdisjoint(
        i["id"] for i in second["results"]
    )


def test_purchases_list_shows_only_the_users_own(api_client, buyer):
    on_sale(sku="coins_100")
    post_purchase(api_client, buyer)
    other = user_create()
    api_client.force_authenticate(other)
    post_purchase(api_client, other, key="other", txn="other")
    api_client.force_authenticate(buyer)

    listed = api_client.get(PURCHASES).json()["results"]
    assert len(listed) == 1
    other_id = Purchase.objects.get(user=other).id
    assert api_client.get(f"{PURCHASES}{other_id}/").status_code == 404


def test_purchases_past_the_rate_limit_are_429_with_retry_after(
    api_client, buyer, monkeypatch
):
    on_sale(sku="coins_100")
    monkeypatch.setattr(
        MoneyMovingThrottle, "THROTTLE_RATES", {"purchases": "2/minute"}
    )

    answers = [
        post_purchase(api_client, buyer, key=f"k{n}", txn=f"r{n}") for n in range(3)
    ]

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert int(answers[2]["Retry-After"]) > 0
    assert Purchase.objects.count() == 2
    # Reading is never throttled.
    assert api_client.get(PURCHASES).status_code == 200


def test_a_purchase_takes_a_fixed_number_of_statements(api_client, buyer):
    """On PostgreSQL 7: the bundle and region the request names, what the purchase
    reads before the store is asked (replay, home region, price), the lock on the
    buyer's coins, what it reads under the lock, the purchase row, its posting, and
    the wallet for the answer (a token kept per process is no lookup):
    bench/scenarios.py's purchase floor runs as many, so more here means that floor
    no longer bounds the purchase. On SQLite the ORM posting takes three."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    on_sale(sku="coins_100", bonus_coins=5)
    expected = 7 if connection.vendor == "postgresql" else 9

    def statements(n, user=buyer):
        api_client.force_authenticate(user)
        with CaptureQueriesContext(connection) as captured:
            response = post_purchase(
                api_client, user, key=f"k{n}", txn=f"t{n}-{user.id}"
            )
            assert response.status_code == 201
        # The test's own transaction turns the service's into savepoints.
        return [
            query["sql"]
            for query in captured.captured_queries
            if "SAVEPOINT" not in query["sql"]
        ]

    # The process's first purchase also looks up the platform's accounts (then
    # remembered). A buyer's first also names the home region (a read and an
    # insert; on PostgreSQL the audit trigger is told who acts, and then that
    # nobody does) and opens the coin accounts (one statement for both) to lock
    # them.
    statements(0)
    first = statements(1, user=user_create())
    home_region_claim = 4 if connection.vendor == "postgresql" else 2
    assert len(first) == expected + home_region_claim + 2, "\n".join(first)
    later = statements(1)
    assert len(later) == expected, "\n".join(later)
    for n in range(2, 6):
        statements(n)
    assert len(statements(6)) == expected


def test_the_purchase_answer_is_what_its_serializer_documents(api_client, buyer):
    from decimal import Decimal

    from django.utils import timezone

    from wallets import services
    from wallets.api.serializers import PurchaseResultSerializer, purchase_result_data
    from wallets.models import Promotion
    from wallets.serializers import wallet_data

    from .factories import region_create

    on_sale(sku="coins_100", amount="1.10", bonus_coins=5)
    Promotion.objects.create(name="W", kind="first_purchase", bonus_percent=Decimal(7))
    created = post_purchase(api_client, buyer)
    replayed = post_purchase(api_client, buyer)
    purchase = Purchase.objects.get()

    def documented(purchase):
        return PurchaseResultSerializer(
            {"purchase": purchase, "wallet": wallet_data(buyer)}
        ).data

    assert (created.status_code, replayed.status_code) == (201, 200)
    assert created.json() == replayed.json() == documented(purchase)
    services.purchase_refund(
        purchase=purchase, actor=None, reason="test", source="finance"
    )
    purchase.refresh_from_db()
    # Refunded, in a currency with other places, at a moment with microseconds.
    purchase.refunded_at = timezone.now().replace(microsecond=123456)
    purchase.region = region_create("JP", currency="JPY")
    purchase.price = purchase.price.__class__(Decimal("480"), "JPY")
    answer = purchase_result_data(purchase, wallet_data(buyer))
    assert answer == documented(purchase)
    assert answer["purchase"]["refunded_at"].endswith(".123456Z")
