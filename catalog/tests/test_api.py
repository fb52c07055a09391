import datetime

import pytest
from django.utils import timezone

from catalog.api.conditional import answers
from catalog.models import Gift

from .factories import gift_create, region_create

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)
GIFTS = "/api/v1/gifts/"


def slugs(response):
    return [item["slug"] for item in response.json()]


def test_lists_only_what_can_be_sent_now_in_sort_order(api_client):
    now = timezone.now()
    gift_create(slug="second", sort_order=2)
    gift_create(slug="first", sort_order=1)
    gift_create(slug="off", is_active=False)
    gift_create(slug="soon", available_from=now + HOUR)
    gift_create(slug="over", available_from=now - 2 * HOUR, available_until=now - HOUR)
    gift_create(slug="limited", sort_order=3, available_until=now + HOUR)

    response = api_client.get(GIFTS)

    assert response.status_code == 200
    assert slugs(response) == ["first", "second", "limited"]


def test_item_carries_what_the_client_shows(api_client):
    gift_create(slug="rose", name="Rose", coin_price=1, category=Gift.Category.BASIC)

    (item,) = api_client.get(GIFTS).json()

    assert item["slug"] == "rose"
    assert item["name"] == "Rose"
    assert item["coin_price"] == 1
    assert item["category"] == "basic"
    assert item["placement"] == "both"
    assert item["icon_url"] is None
    assert item["sponsor"] is None
    assert item["regions"] == []
    assert item["available_now"] is True


def test_region_filter_shows_gifts_offered_there_and_everywhere(api_client):
    jp = region_create("JP", currency="JPY")
    region_create("US")
    gift_create(slug="everywhere")
    gift_create(slug="japan", regions=[jp])

    assert slugs(api_client.get(GIFTS, {"region": "JP"})) == ["everywhere", "japan"]
    assert slugs(api_client.get(GIFTS, {"region": "us"})) == ["everywhere"]
    assert slugs(api_client.get(GIFTS)) == ["everywhere"]


def test_unknown_or_inactive_region_is_a_400_on_the_field(api_client):
    region_create("KR", currency="KRW", is_active=False)

    for code in ("XX", "KR"):
        response = api_client.get(GIFTS, {"region": code})
        assert response.status_code == 400
        assert response.json() == {"region": [f"Unknown or inactive region: {code}."]}


def test_placement_filter(api_client):
    gift_create(slug="live-only", placement=Gift.Placement.LIVE)
    gift_create(slug="comment-only", placement=Gift.Placement.COMMENT)
    gift_create(slug="both", placement=Gift.Placement.BOTH)

    assert slugs(api_client.get(GIFTS, {"placement": "live"})) == ["live-only", "both"]
    assert slugs(api_client.get(GIFTS, {"placement": "comment"})) == [
        "comment-only",
        "both",
    ]
    response = api_client.get(GIFTS, {"placement": "radio"})
    assert response.status_code == 400
    assert list(response.json()) == ["placement"]


def test_sponsor_is_shown_only_while_its_campaign_runs(api_client):
    now = timezone.now()
    gift_create(slug="running", sponsor_name="Acme", sponsor_ends_at=now + HOUR)
    gift_create(
        slug="ended",
        sponsor_name="Acme",
        sponsor_starts_at=now - 2 * HOUR,
        sponsor_ends_at=now - HOUR,
    )

    sponsors = {item["slug"]: item["sponsor"] for item in api_client.get(GIFTS).json()}

    assert sponsors["running"]["name"] == "Acme"
    assert sponsors["ended"] is None


def test_repeat_request_with_the_etag_is_304_until_something_changes(api_client):
    gift = gift_create(slug="rose", coin_price=1)
    first = api_client.get(GIFTS)
    etag = first["ETag"]

    again = api_client.get(GIFTS, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag

    gift.coin_price = 2
    gift.save()
    changed = api_client.get(GIFTS, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed.json()[0]["coin_price"] == 2


def test_etag_changes_when_a_window_opens_without_any_write(api_client, monkeypatch):
    now = timezone.now()
    gift_create(slug="soon", available_from=now + HOUR)
    etag = api_client.get(GIFTS)["ETag"]

    monkeypatch.setattr(timezone, "now", lambda: now + 2 * HOUR)
    response = api_client.get(GIFTS, HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 200
    assert slugs(response) == ["soon"]


def test_list_query_count_does_not_grow_with_the_catalog(
    api_client, django_assert_num_queries
):
    us = region_create("US")
    for _ in range(3):
        gift_create(regions=[us])
    # The region, the gifts, their regions, and when the answer next changes.
    with django_assert_num_queries(4):
        api_client.get(GIFTS, {"region": "US"})
    for _ in range(20):
        gift_create(regions=[us])
    with django_assert_num_queries(4):
        assert len(api_client.get(GIFTS, {"region": "US"}).json()) == 23


def test_a_repeat_is_answered_from_memory_with_the_same_etag(
    api_client, django_assert_num_queries
):
    gift_create(slug="rose")
    first = api_client.get(GIFTS)

    with django_assert_num_queries(0):
        again = api_client.get(GIFTS)
        not_modified = api_client.get(GIFTS, HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.json() == first.json()
    assert again["ETag"] == first["ETag"]
    assert not_modified.status_code == 304


def test_a_change_no_signal_sees_shows_once_the_answer_expires(
    api_client, monkeypatch, settings
):
    settings.CATALOG_CACHE_SECONDS = 5
    gift = gift_create(slug="rose", coin_price=1)
    assert api_client.get(GIFTS).json()[0]["coin_price"] == 1
    # Another web process, or a bulk update: this process hears nothing of it.
    Gift.objects.filter(id=gift.id).update(coin_price=2)
    now = timezone.now()

    monkeypatch.setattr(timezone, "now", lambda: now + datetime.timedelta(seconds=4))
    assert api_client.get(GIFTS).json()[0]["coin_price"] == 1
    monkeypatch.setattr(timezone, "now", lambda: now + datetime.timedelta(seconds=6))
    assert api_client.get(GIFTS).json()[0]["coin_price"] == 2


def test_no_answer_is_kept_when_caching_is_off(api_client, settings):
    settings.CATALOG_CACHE_SECONDS = 0
    gift = gift_create(slug="rose", coin_price=1)
    api_client.get(GIFTS)
    Gift.objects.filter(id=gift.id).update(coin_price=2)

    assert api_client.get(GIFTS).json()[0]["coin_price"] == 2


def test_errors_are_not_kept_and_odd_queries_cannot_grow_the_cache(
    api_client, monkeypatch
):
    monkeypatch.setattr(answers, "max_entries", 20)
    gift_create(slug="rose")
    assert api_client.get(GIFTS, {"region": "XX"}).status_code == 400
    region_create("XX")
    assert api_client.get(GIFTS, {"region": "XX"}).status_code == 200

    for n in range(30):
        api_client.get(GIFTS, {"junk": n})
    assert len(answers._entries) == 20


def test_the_catalog_is_public_and_ignores_tokens(api_client):
    gift_create(slug="rose")
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert api_client.get(GIFTS).status_code == 200


def test_detail_by_slug_and_404_for_an_inactive_gift(api_client):
    now = timezone.now()
    gift_create(slug="later", available_from=now + HOUR)
    gift_create(slug="off", is_active=False)

    later = api_client.get(f"{GIFTS}later/")
    assert later.status_code == 200
    assert later.json()["available_now"] is False
    assert api_client.get(f"{GIFTS}off/").status_code == 404
    assert api_client.get(f"{GIFTS}nope/").status_code == 404


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_nothing_can_be_written_through_the_catalog_api(
    api_client, method, catalog_editor
):
    gift_create(slug="rose", coin_price=1)
    api_client.force_authenticate(catalog_editor)
    url = GIFTS if method == "post" else f"{GIFTS}rose/"

    response = getattr(api_client, method)(url, {"coin_price": 5}, format="json")

    assert response.status_code == 405
    assert Gift.objects.get(slug="rose").coin_price == 1
