"""Gifter levels: thresholds catalog staff move (strictly rising, refused beside
the field otherwise), a viewer's level and progress read from coins gifted; and
the creator leaderboard's API."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gifting.gifter_levels import gifter_standing_for, gifter_thresholds
from gifting.models import GifterLevel

from .factories import creator_create, funded_sender, rose

pytestmark = pytest.mark.django_db

LEVELS = "/admin/gifting/gifterlevel/"
SENDS = "/api/v1/gift-sends/"


def page(number):
    return f"{LEVELS}{GifterLevel.objects.get(number=number).id}/change/"


def test_fifty_levels_are_seeded_rising_from_zero():
    thresholds = gifter_thresholds()
    assert [n for n, _ in thresholds] == list(range(1, 51))
    needs = [c for _, c in thresholds]
    assert needs[0] == 0
    assert all(low < high for low, high in zip(needs, needs[1:], strict=False))


@given(
    coins=st.integers(0, 10**9),
    steps=st.lists(st.integers(1, 10**6), min_size=1, max_size=49),
)
def test_the_level_is_the_highest_whose_threshold_was_reached(coins, steps):
    needs = [0]
    for step in steps:
        needs.append(needs[-1] + step)
    thresholds = list(enumerate(needs, start=1))

    standing = gifter_standing_for(coins_gifted=coins, thresholds=thresholds)

    assert standing.level == max(n for n, c in thresholds if c <= coins)
    assert standing.level_coins <= coins
    if standing.next_level is None:
        assert standing.level == len(needs) and standing.progress_percent == 100
    else:
        assert standing.next_level_coins > coins
        assert standing.coins_to_next_level == standing.next_level_coins - coins
        assert 0 <= standing.progress_percent < 100


def test_the_levels_list_right_aligns_its_coin_column(client, catalog_editor):
    client.force_login(catalog_editor)
    html = client.get(LEVELS).content.decode()
    assert (
        "#result_list th.column-needs, #result_list td.field-needs { text-align: right;"
    ) in html


def test_a_threshold_not_above_the_level_below_is_refused_beside_it(
    client, catalog_editor
):
    client.force_login(catalog_editor)
    below = GifterLevel.objects.get(number=4).coins_needed
    before = GifterLevel.objects.get(number=5).coins_needed

    response = client.post(page(5), {"coins_needed": str(below)})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["coins_needed"]
    assert "Must be more than level 4" in errors["coins_needed"][0]
    assert GifterLevel.objects.get(number=5).coins_needed == before


def test_a_threshold_not_below_the_level_above_is_refused(client, catalog_editor):
    client.force_login(catalog_editor)
    above = GifterLevel.objects.get(number=6).coins_needed

    response = client.post(page(5), {"coins_needed": str(above)})

    errors = response.context["adminform"].form.errors
    assert "Must be less than level 6" in errors["coins_needed"][0]


def test_level_one_needs_nothing(client, catalog_editor):
    client.force_login(catalog_editor)
    response = client.post(page(1), {"coins_needed": "10"})
    assert "coins_needed" in response.context["adminform"].form.errors
    assert GifterLevel.objects.get(number=1).coins_needed == 0


def test_a_threshold_in_order_is_saved_and_kept_in_history(client, catalog_editor):
    client.force_login(catalog_editor)
    low = GifterLevel.objects.get(number=4).coins_needed
    level = GifterLevel.objects.get(number=5)

    response = client.post(page(5), {"coins_needed": str(low + 1)})

    assert response.status_code == 302
    level.refresh_from_db()
    assert level.coins_needed == low + 1
    assert level.history.count() >= 1


def test_finance_and_support_read_levels_and_cannot_change_them(
    client, finance_user, support_user
):
    for user in (finance_user, support_user):
        client.force_login(user)
        assert client.get(LEVELS).status_code == 200
        before = GifterLevel.objects.get(number=5).coins_needed
        client.post(page(5), {"coins_needed": str(before + 1)})
        assert GifterLevel.objects.get(number=5).coins_needed == before


def test_nobody_adds_or_deletes_a_level(admin_client):
    assert admin_client.get(f"{LEVELS}add/").status_code == 403
    assert admin_client.post(page(5).replace("change", "delete")).status_code == 403


def test_the_api_says_the_viewer_s_level_and_progress(api_client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    sender, creator = funded_sender(100), creator_create()
    rose()
    assert api_client.get("/api/v1/me/gifter-level/").status_code in (401, 403)
    api_client.force_authenticate(sender)
    body = {
        "gift": "rose",
        "creator": creator.id,
        "quantity": 60,
        "placement": "live",
        "stream_id": "s1",
    }
    assert api_client.post(SENDS, body, HTTP_IDEMPOTENCY_KEY="k1").status_code == 201
    # A repeat moves nothing and adds nothing.
    assert api_client.post(SENDS, body, HTTP_IDEMPOTENCY_KEY="k1").status_code == 200

    response = api_client.get("/api/v1/me/gifter-level/")

    # Seeded: level 3 needs 57 coins, level 4 needs 234.
    assert response.json() == {
        "level": 3,
        "coins_gifted": 60,
        "level_coins": 57,
        "next_level": 4,
        "next_level_coins": 234,
        "coins_to_next_level": 174,
        "progress_percent": 1,
    }


def test_the_creator_leaderboard_api(api_client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    sender, creator = funded_sender(100), creator_create()
    rose()
    api_client.force_authenticate(sender)
    body = {
        "gift": "rose",
        "creator": creator.id,
        "quantity": 4,
        "placement": "live",
        "stream_id": "s1",
    }
    api_client.post(SENDS, body, HTTP_IDEMPOTENCY_KEY="k1")
    url = f"/api/v1/creators/{creator.id}/leaderboard/"

    mine = api_client.get(url, {"period": "stream", "stream_id": "s1"}).json()
    api_client.force_authenticate(None)
    anonymous = api_client.get(url, {"period": "week", "limit": 5}).json()

    assert mine["entries"] == [
        {"rank": 1, "display_name": sender.public_name, "coins": 4}
    ]
    assert mine["me"] == {"rank": 1, "coins": 4}
    assert mine["period"] == "stream" and mine["starts_at"] is None
    assert anonymous["me"] is None
    assert anonymous["entries"][0]["coins"] == 4
    assert anonymous["starts_at"].endswith("T00:00:00Z")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"period": "year"}, "period"),
        ({"period": "stream"}, "stream_id"),
        ({"period": "day", "stream_id": "s1"}, "stream_id"),
        ({"limit": "0"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"period": "stream", "stream_id": "x" * 65}, "stream_id"),
    ],
)
def test_a_bad_leaderboard_query_is_a_400_on_its_field(api_client, query, field):
    creator = creator_create()
    response = api_client.get(f"/api/v1/creators/{creator.id}/leaderboard/", query)
    assert response.status_code == 400
    assert field in response.json()


def test_an_unknown_creator_s_leaderboard_is_a_404(api_client):
    assert api_client.get("/api/v1/creators/999999/leaderboard/").status_code == 404


def test_the_old_stream_url_still_answers_and_says_it_is_deprecated(api_client):
    response = api_client.get("/api/v1/streams/s1/leaderboard/")
    assert response.status_code == 200
    assert response["Deprecation"] == "true"
    assert "successor-version" in response["Link"]
