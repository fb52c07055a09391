"""The platform's facts endpoint (service token only) and a user's applications."""

import datetime
import threading

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import ServiceToken
from accounts.services import service_token_create, service_tokens_revoke
from gifting.api.creators import AccountFactsBatchView
from gifting.models import AccountFacts, CreatorApplication, CreatorProfile
from wallets.tests.factories import region_create, user_create

from .factories import creator_create

pytestmark = pytest.mark.django_db
FACTS = "/api/v1/service/account-facts/"
APPLY = "/api/v1/creator/applications/"


def platform(scope=ServiceToken.Scope.ACCOUNT_FACTS, name="platform"):
    _, key = service_token_create(name=name, scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Service {key}")
    return client


def fact(user, **overrides):
    return {
        "user_id": user.pk,
        "follower_count": 5000,
        "birth_date": "1990-01-01",
        "suspended": False,
        "region": "US",
        "as_of": timezone.now().isoformat(),
        **overrides,
    }


def test_the_platform_reports_facts_in_bulk_and_a_late_report_changes_nothing():
    region_create("US")
    one, two = user_create(birth_date=None), user_create()
    client = platform()
    newer = timezone.now()
    older = newer - datetime.timedelta(hours=1)

    first = client.put(
        FACTS,
        {"facts": [fact(one, as_of=newer.isoformat()), fact(two, follower_count=7)]},
        format="json",
    )
    late = client.put(
        FACTS,
        {"facts": [fact(one, follower_count=1, as_of=older.isoformat())]},
        format="json",
    )

    assert first.status_code == 200, first.json()
    assert first.json() == {
        "results": [
            {"user_id": one.pk, "applied": True},
            {"user_id": two.pk, "applied": True},
        ]
    }
    assert late.json() == {"results": [{"user_id": one.pk, "applied": False}]}
    facts = AccountFacts.objects.get(user=one)
    assert facts.follower_count == 5000
    assert facts.region.code == "US"
    assert facts.reported_by.name == "platform"
    one.refresh_from_db()
    assert one.birth_date == datetime.date(1990, 1, 1)


def test_one_user_is_reported_on_its_own_address():
    user = user_create()
    body = {**fact(user), "region": None}
    del body["user_id"]
    answer = platform().put(f"{FACTS}{user.pk}/", body, format="json")
    missing = platform(name="p2").put(f"{FACTS}999999/", body, format="json")
    assert answer.json() == {"user_id": user.pk, "applied": True}
    assert missing.status_code == 404


def test_an_unknown_user_is_a_400_naming_the_item_and_stores_nothing():
    region_create("US")
    user = user_create()
    answer = platform().put(
        FACTS, {"facts": [fact(user), {**fact(user), "user_id": 99999}]}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json() == {"facts": [{}, {"user_id": ["No such user."]}]}
    assert not AccountFacts.objects.exists()


@pytest.mark.parametrize(
    "field, value",
    [
        ("follower_count", -1),
        ("as_of", "2999-01-01T00:00:00Z"),
        ("birth_date", "2999-01-01"),
        ("region", "ZZ"),
        ("suspended", "maybe"),
    ],
)
def test_bad_facts_are_a_400_with_the_field(field, value):
    region_create("US")
    user = user_create()
    answer = platform().put(
        FACTS, {"facts": [fact(user, **{field: value})]}, format="json"
    )
    assert answer.status_code == 400
    assert field in answer.json()["facts"]["0"]
    assert not AccountFacts.objects.exists()


def test_a_report_must_say_the_region_even_when_unknown():
    # Left out, it would replace a stored region with none: the global rule.
    region_create("US")
    user = user_create()
    client = platform()
    client.put(FACTS, {"facts": [fact(user)]}, format="json")
    body = fact(
        user, as_of=(timezone.now() + datetime.timedelta(seconds=1)).isoformat()
    )
    del body["region"]

    answer = client.put(FACTS, {"facts": [body]}, format="json")

    assert answer.status_code == 400
    assert "region" in answer.json()["facts"]["0"]
    assert AccountFacts.objects.get(user=user).region.code == "US"


def test_a_batch_is_bounded():
    answer = platform().put(FACTS, {"facts": [{}] * 501}, format="json")
    assert answer.status_code == 400
    assert "facts" in answer.json()


def test_a_users_token_or_session_is_no_service_credential(client):
    user = user_create(is_staff=True, is_superuser=True)
    token = Token.objects.create(user=user).key
    by_token = APIClient()
    by_token.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    client.force_login(user)
    body = {"facts": [fact(user)]}
    assert by_token.put(FACTS, body, format="json").status_code == 401
    assert client.put(FACTS, body, content_type="application/json").status_code == 401
    assert APIClient().put(FACTS, body, format="json").status_code == 401
    assert not AccountFacts.objects.exists()


def test_a_service_key_is_no_user_credential():
    _, key = service_token_create(name="platform", scope="account_facts")
    for header in (f"Service {key}", f"Token {key}"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert client.get(APPLY).status_code == 401
        assert client.post(APPLY, {"display_name": "x"}).status_code == 401
        assert client.get("/api/v1/wallet/").status_code == 401
    assert not CreatorApplication.objects.exists()


def test_a_revoked_or_wrong_key_is_refused():
    client = platform()
    service_tokens_revoke(tokens=ServiceToken.objects.all())
    assert client.put(FACTS, {"facts": []}, format="json").status_code == 401
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Service svc_guessed")
    assert wrong.put(FACTS, {"facts": []}, format="json").status_code == 401


def test_a_token_of_another_scope_is_a_403(monkeypatch):
    # One scope exists so far: the endpoint asks for another one instead.
    monkeypatch.setattr(AccountFactsBatchView, "service_scope", "payments")
    client = platform()
    assert client.put(FACTS, {"facts": []}, format="json").status_code == 403


def test_only_the_hash_of_a_key_is_stored():
    token, key = service_token_create(name="platform", scope="account_facts")
    token.refresh_from_db()
    assert key not in {token.key_hash, token.key_prefix, token.name}
    assert len(token.key_hash) == 64


def test_a_user_applies_and_reads_why_they_were_refused(api_client):
    user = user_create()
    platform().put(
        FACTS, {"facts": [fact(user, follower_count=10, region=None)]}, format="json"
    )
    api_client.force_authenticate(user)

    created = api_client.post(APPLY, {"display_name": "Mia"}, format="json")
    listed = api_client.get(APPLY)

    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "refused"
    assert body["reasons"] == [
        {
            "code": "too_few_followers",
            "message": "Creators need at least 1,000 followers; the platform "
            "reports 10.",
        }
    ]
    assert [row["id"] for row in listed.json()["results"]] == [body["id"]]


def test_applying_needs_a_name_and_a_creator_gets_409(api_client):
    user = user_create()
    api_client.force_authenticate(user)
    assert api_client.post(APPLY, {"display_name": " "}, format="json").json() == {
        "display_name": ["This field may not be blank."]
    }
    creator = creator_create()
    api_client.force_authenticate(creator.user)
    answer = api_client.post(APPLY, {"display_name": "Again"}, format="json")
    assert answer.status_code == 409
    assert answer.json()["code"] == "already_creator"
    assert not CreatorApplication.objects.exists()


def test_a_user_sees_only_their_own_applications(api_client):
    mine, theirs = user_create(), user_create()
    for user in (mine, theirs):
        api_client.force_authenticate(user)
        api_client.post(APPLY, {"display_name": "Name"}, format="json")
    api_client.force_authenticate(mine)
    rows = api_client.get(APPLY).json()["results"]
    assert len(rows) == 1
    assert CreatorApplication.objects.get(id=rows[0]["id"]).user == mine


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="concurrency needs PostgreSQL (set DATABASE_URL)",
)
def test_two_applications_at_once_make_one():
    user = user_create()
    platform().put(FACTS, {"facts": [fact(user, region=None)]}, format="json")
    start = threading.Barrier(4)
    statuses = []

    def post():
        try:
            client = APIClient()
            client.force_authenticate(user)
            start.wait()
            statuses.append(
                client.post(APPLY, {"display_name": "Mia"}, format="json").status_code
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201, 409, 409, 409]
    assert CreatorApplication.objects.filter(user=user).count() == 1
    assert CreatorProfile.objects.filter(user=user).count() == 1


def test_my_applications_take_the_same_queries_for_one_or_many(
    api_client, django_assert_max_num_queries
):
    user = user_create()
    api_client.force_authenticate(user)
    api_client.post(APPLY, {"display_name": "First"}, format="json")
    for n in range(5):
        CreatorApplication.objects.create(
            user=user,
            display_name=f"Old {n}",
            status=CreatorApplication.Status.REFUSED,
            rule_terms="18+",
            decided_at=timezone.now(),
        )
    with django_assert_max_num_queries(2):
        rows = api_client.get(APPLY).json()["results"]
    assert len(rows) == 6
