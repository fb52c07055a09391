"""Personal API answers are never stored by a browser, a proxy or a CDN.

Every API answer carries `Cache-Control: no-store` unless its view sets its own
caching (the public catalog revalidates with its ETag): core/middleware.py.
"""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from gifting.tests.factories import creator_create, funded_sender, rich_creator, rose
from wallets.stores import sandbox_receipt
from wallets.tests.factories import on_sale

pytestmark = pytest.mark.django_db


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user)}")
    return client


def assert_not_stored(response, status):
    assert response.status_code == status, response.content
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/wallet/",
        "/api/v1/wallet/transfers/",
        "/api/v1/purchases/",
        "/api/v1/creator/earnings/",
        "/api/v1/creator/gifts/",
        "/api/v1/payouts/",
    ],
)
def test_personal_reads_are_not_stored(url):
    client = token_client(rich_creator().user)

    assert_not_stored(client.get(url), 200)
    # Nor is the refusal of a request without a token.
    assert_not_stored(APIClient().get(url), 401)


def test_a_token_is_not_stored(api_client):
    viewer = funded_sender(10)

    response = api_client.post(
        "/api/v1/auth/token/", {"username": viewer.username, "password": "pw"}
    )

    assert_not_stored(response, 200)


def test_the_answers_to_money_requests_are_not_stored():
    sender, creator = funded_sender(100), creator_create()
    rose()
    client = token_client(sender)
    bundle, region = on_sale(coins=100, sku="coins_100_private")

    purchase = client.post(
        "/api/v1/purchases/",
        {
            "bundle": bundle.sku,
            "region": region.code,
            "channel": "app",
            "store": "apple",
            "receipt": sandbox_receipt(sender.id, bundle.sku, "t-1", store="apple"),
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="buy-1",
    )
    send = client.post(
        "/api/v1/gift-sends/",
        {
            "gift": "rose",
            "creator": creator.id,
            "quantity": 1,
            "placement": "live",
            "stream_id": "s1",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="send-1",
    )
    payout = token_client(rich_creator().user).post(
        "/api/v1/payouts/", {"all": True}, format="json", HTTP_IDEMPOTENCY_KEY="p-1"
    )

    assert_not_stored(purchase, 201)
    assert_not_stored(send, 201)
    assert_not_stored(payout, 201)
    purchase_id = purchase.json()["purchase"]["id"]
    assert_not_stored(client.get(f"/api/v1/purchases/{purchase_id}/"), 200)


def test_the_public_catalog_keeps_its_own_caching(api_client):
    rose()

    response = api_client.get("/api/v1/gifts/")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-cache"
