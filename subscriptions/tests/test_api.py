import pytest
from rest_framework.test import APIClient

from core.api.throttles import MoneyMovingThrottle
from gifting.models import CreatorProfile
from gifting.tests.factories import creator_create, funded_sender
from subscriptions.models import (
    Subscription,
    SubscriptionCharge,
    Tier,
    TierPriceLimit,
)
from wallets.tests.factories import user_create

from .factories import limit_of, tier_create

pytestmark = pytest.mark.django_db
SUBS = "/api/v1/subscriptions/"


def subscribe(client, tier_id, key="k1", coin_price=None):
    """Subscribe at `coin_price`, by default the tier's price now (as shown)."""
    if coin_price is None:
        coin_price = Tier.objects.get(id=tier_id).coin_price
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    body = {"tier": tier_id, "coin_price": coin_price}
    return client.post(SUBS, body, format="json", **headers)


@pytest.fixture
def viewer(api_client):
    viewer = funded_sender(1000)
    api_client.force_authenticate(viewer)
    return viewer


def test_a_creators_tiers_on_offer_are_listed(api_client, viewer):
    tier = tier_create(coin_price=120)
    hidden = tier_create(tier.creator, rank=2, coin_price=200)
    Tier.objects.filter(id=hidden.id).update(is_active=False)

    body = api_client.get(f"/api/v1/creators/{tier.creator_id}/subscription-tiers/")

    assert body.json() == [
        {
            "id": tier.id,
            "creator": tier.creator_id,
            "rank": 1,
            "name": "Tier 1",
            "coin_price": 120,
            "is_active": True,
        }
    ]


def test_subscribing_answers_201_then_200_for_a_repeat(api_client, viewer):
    tier = tier_create(coin_price=100)

    first = subscribe(api_client, tier.id)
    again = subscribe(api_client, tier.id)

    assert first.status_code == 201
    body = first.json()
    assert body["subscription"]["status"] == "active"
    assert body["subscription"]["notice"] == ""
    assert body["wallet"]["coins"] == 900
    assert again.status_code == 200
    assert again.json()["subscription"]["id"] == body["subscription"]["id"]
    assert again.json()["wallet"]["coins"] == 900


def test_a_second_subscription_to_a_creator_is_a_409(api_client, viewer):
    tier = tier_create()
    subscribe(api_client, tier.id)

    response = subscribe(api_client, tier.id, key="k2")

    assert response.status_code == 409
    assert response.json()["tier"] == ["You already subscribe to this creator."]
    assert SubscriptionCharge.objects.count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"tier": 999999, "coin_price": 100}, "tier"),
        ({"coin_price": 100}, "tier"),
        ({"tier": "x", "coin_price": 100}, "tier"),
        ({"tier": "TIER"}, "coin_price"),
        ({"tier": "TIER", "coin_price": 0}, "coin_price"),
        ({"tier": "TIER", "coin_price": "x"}, "coin_price"),
        ({"tier": "TIER", "coin_price": 2**31}, "coin_price"),
    ],
)
def test_bad_input_is_a_400_with_the_field(api_client, viewer, body, field):
    if body.get("tier") == "TIER":
        body = {**body, "tier": tier_create().id}
    response = api_client.post(SUBS, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 400
    assert field in response.json()
    assert not Subscription.objects.exists()


def test_a_price_raised_since_it_was_shown_is_a_409_and_charges_nothing(
    api_client, viewer
):
    tier = tier_create(coin_price=100)
    creator = APIClient()
    creator.force_authenticate(tier.creator.user)
    raised = creator.patch(
        f"/api/v1/creator/subscription-tiers/{tier.id}/",
        {"coin_price": 150},
        format="json",
    )
    assert raised.status_code == 200

    response = subscribe(api_client, tier.id, coin_price=100)

    assert response.status_code == 409
    assert response.json()["code"] == "price_changed"
    assert response.json()["coin_price"] == 150
    assert not Subscription.objects.exists()
    assert not SubscriptionCharge.objects.exists()
    assert response.json().get("subscription") is None
    # At the price now shown it goes through; the same key with another price is
    # another request.
    assert subscribe(api_client, tier.id, key="k2", coin_price=150).status_code == 201
    reused = subscribe(api_client, tier.id, key="k2", coin_price=100)
    assert reused.status_code == 422
    assert SubscriptionCharge.objects.get().coins == 150


def test_without_a_key_it_is_a_400_naming_the_header(api_client, viewer):
    response = subscribe(api_client, tier_create().id, key=None)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()


def test_too_few_coins_is_a_409_and_nothing_is_written(api_client):
    poor = funded_sender(10)
    api_client.force_authenticate(poor)
    response = subscribe(api_client, tier_create(coin_price=100).id)
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_balance"
    assert not Subscription.objects.exists()


def test_my_subscriptions_and_cancel(api_client, viewer):
    sub_id = subscribe(api_client, tier_create().id).json()["subscription"]["id"]

    listed = api_client.get(SUBS).json()["results"]
    cancelled = api_client.post(f"{SUBS}{sub_id}/cancel/")

    assert [s["id"] for s in listed] == [sub_id]
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "active"
    assert cancelled.json()["cancelled_at"] is not None
    assert "active until" in cancelled.json()["notice"]


def test_resume_a_cancelled_subscription(api_client, viewer):
    sub_id = subscribe(api_client, tier_create().id).json()["subscription"]["id"]
    api_client.post(f"{SUBS}{sub_id}/cancel/")

    resumed = api_client.post(f"{SUBS}{sub_id}/resume/")
    again = api_client.post(f"{SUBS}{sub_id}/resume/")

    assert resumed.status_code == 200 and again.status_code == 200
    assert resumed.json()["status"] == "active"
    assert resumed.json()["cancelled_at"] is None and resumed.json()["notice"] == ""
    assert again.json() == resumed.json()
    assert SubscriptionCharge.objects.filter(subscription_id=sub_id).count() == 1


def test_resuming_a_subscription_over_is_a_409(api_client, viewer):
    sub_id = subscribe(api_client, tier_create().id).json()["subscription"]["id"]
    Subscription.objects.filter(id=sub_id).update(
        status=Subscription.Status.ENDED, next_charge_at=None
    )

    refused = api_client.post(f"{SUBS}{sub_id}/resume/")

    assert refused.status_code == 409
    assert refused.json()["code"] == "not_live"


def test_someone_elses_subscription_is_a_404(api_client, viewer):
    sub_id = subscribe(api_client, tier_create().id).json()["subscription"]["id"]
    api_client.force_authenticate(funded_sender(10))

    assert api_client.get(f"{SUBS}{sub_id}/").status_code == 404
    assert api_client.post(f"{SUBS}{sub_id}/cancel/").status_code == 404
    assert api_client.post(f"{SUBS}{sub_id}/resume/").status_code == 404
    assert api_client.get(SUBS).json()["results"] == []
    assert Subscription.objects.get(id=sub_id).cancelled_at is None


def test_a_creator_offers_and_edits_tiers_within_limits(api_client):
    creator = creator_create()
    api_client.force_authenticate(creator.user)
    url = "/api/v1/creator/subscription-tiers/"

    too_dear = api_client.post(
        url, {"rank": 1, "name": "Fans", "coin_price": 999_999}, format="json"
    )
    created = api_client.post(
        url, {"rank": 1, "name": "Fans", "coin_price": 100}, format="json"
    )
    tier_id = created.json()["id"]
    bad_edit = api_client.patch(f"{url}{tier_id}/", {"coin_price": 1}, format="json")
    edited = api_client.patch(f"{url}{tier_id}/", {"coin_price": 150}, format="json")

    assert too_dear.status_code == 400 and "coin_price" in too_dear.json()
    assert created.status_code == 201
    assert bad_edit.status_code == 400 and "coin_price" in bad_edit.json()
    assert edited.json()["coin_price"] == 150
    assert api_client.get(url).json()[0]["coin_price"] == 150


def test_only_tiers_one_can_subscribe_to_are_listed(api_client, viewer):
    tier = tier_create(coin_price=100)
    dear = tier_create(tier.creator, rank=2, coin_price=limit_of(2).max_coins)
    url = f"/api/v1/creators/{tier.creator_id}/subscription-tiers/"
    assert [t["id"] for t in api_client.get(url).json()] == [tier.id, dear.id]

    TierPriceLimit.objects.filter(rank=2).update(max_coins=dear.coin_price - 1)
    assert [t["id"] for t in api_client.get(url).json()] == [tier.id]

    CreatorProfile.objects.filter(id=tier.creator_id).update(suspended=True)
    assert api_client.get(url).json() == []


def test_a_suspended_creator_cannot_reprice_a_tier(api_client):
    tier = tier_create(coin_price=100)
    CreatorProfile.objects.filter(id=tier.creator_id).update(suspended=True)
    api_client.force_authenticate(tier.creator.user)
    response = api_client.patch(
        f"/api/v1/creator/subscription-tiers/{tier.id}/",
        {"coin_price": 150},
        format="json",
    )
    assert response.status_code == 400 and "coin_price" in response.json()
    assert Tier.objects.get(id=tier.id).coin_price == 100


def test_tier_edits_past_the_rate_limit_are_429(api_client, monkeypatch):
    monkeypatch.setattr(
        MoneyMovingThrottle, "THROTTLE_RATES", {"subscriptions": "2/minute"}
    )
    tier = tier_create(coin_price=100)
    api_client.force_authenticate(tier.creator.user)
    url = f"/api/v1/creator/subscription-tiers/{tier.id}/"
    answers = [
        api_client.patch(url, {"coin_price": 100 + n}, format="json").status_code
        for n in range(3)
    ]
    assert answers == [200, 200, 429]
    assert Tier.objects.get(id=tier.id).coin_price == 101
    assert api_client.get("/api/v1/creator/subscription-tiers/").status_code == 200


def test_a_creator_cannot_edit_another_creators_tier(api_client):
    other = tier_create(coin_price=100)
    api_client.force_authenticate(creator_create().user)
    response = api_client.patch(
        f"/api/v1/creator/subscription-tiers/{other.id}/",
        {"coin_price": 50},
        format="json",
    )
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.coin_price == 100


def test_only_creators_have_tiers_and_subscribers(api_client, viewer):
    assert api_client.get("/api/v1/creator/subscription-tiers/").status_code == 403
    assert api_client.get("/api/v1/creator/subscribers/").status_code == 403


def test_a_creator_reads_their_subscriber_count(api_client, viewer):
    tier = tier_create()
    subscribe(api_client, tier.id)
    api_client.force_authenticate(tier.creator.user)
    body = api_client.get("/api/v1/creator/subscribers/").json()
    assert body == {"active": 1, "in_grace": 0, "total": 1}


def test_signed_out_reaches_nothing(api_client):
    assert api_client.get(SUBS).status_code in (401, 403)
    assert subscribe(api_client, tier_create().id).status_code in (401, 403)
    user_create()


def test_my_subscriptions_list_reads_in_a_fixed_number_of_queries(
    api_client, viewer, django_assert_max_num_queries
):
    for n in range(3):
        subscribe(api_client, tier_create().id, key=f"k{n}")
    with django_assert_max_num_queries(4):
        response = api_client.get(SUBS)
    assert len(response.json()["results"]) == 3
