import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory

from accounts.authentication import CachedTokenAuthentication, tokens
from accounts.models import User

pytestmark = pytest.mark.django_db
WALLET = "/api/v1/wallet/"


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock, moved by hand."""
    now = [1_000.0]
    monkeypatch.setattr("accounts.authentication.monotonic", lambda: now[0])
    return now


@pytest.fixture
def viewer():
    return User.objects.create_user(
        username="viewer", password="pw", birth_date=datetime.date(1990, 1, 1)
    )


@pytest.fixture
def token(viewer):
    return Token.objects.create(user=viewer)


def authenticate(key: str):
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {key}")
    return CachedTokenAuthentication().authenticate(request)


def token_reads(captured) -> int:
    return sum('"authtoken_token"' in query["sql"] for query in captured)


def get_wallet(client, key: str):
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    with CaptureQueriesContext(connection) as captured:
        status = client.get(WALLET).status_code
    return status, token_reads(captured)


def test_the_second_request_reads_no_token(api_client, token, settings):
    settings.TOKEN_CACHE_SECONDS = 30

    assert get_wallet(api_client, token.key) == (200, 1)
    assert get_wallet(api_client, token.key) == (200, 0)


def test_a_wallet_read_is_one_statement_once_the_token_is_known(
    api_client, token, django_assert_num_queries
):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    # On PostgreSQL the balances' statement is prepared once per connection (one
    # PREPARE more the first time): read once, whichever test ran before, then
    # forget the token.
    assert api_client.get(WALLET).status_code == 200
    tokens.clear()
    with django_assert_num_queries(2):  # the token and the balances
        assert api_client.get(WALLET).status_code == 200

    with django_assert_num_queries(1):
        assert api_client.get(WALLET).status_code == 200


def test_each_request_gets_its_own_user_and_token(token, viewer):
    earlier = [authenticate(token.key), authenticate(token.key)]  # a miss, a hit
    for user, _ in earlier:
        user.marked_by_an_earlier_request = True
        user.first_name = "changed in memory"

    with CaptureQueriesContext(connection) as captured:
        user, auth = authenticate(token.key)

    assert len(captured) == 0
    assert all(user is not u and auth is not t for u, t in earlier)
    assert not hasattr(user, "marked_by_an_earlier_request")
    assert user.first_name == ""
    assert (user.pk, user.username, user.birth_date) == (
        viewer.pk,
        "viewer",
        datetime.date(1990, 1, 1),
    )
    assert user._state.db == "default" and not user._state.adding
    assert auth.key == token.key and auth.user is user


def test_a_cached_user_is_a_working_model_instance(token, viewer):
    authenticate(token.key)
    user, _ = authenticate(token.key)

    user.first_name = "Ana"
    user.save(update_fields=["first_name"])

    viewer.refresh_from_db()
    assert viewer.first_name == "Ana"


def test_an_entry_is_read_again_once_its_time_is_up(token, clock, settings):
    settings.TOKEN_CACHE_SECONDS = 30
    authenticate(token.key)

    clock[0] += 29.9
    with CaptureQueriesContext(connection) as captured:
        authenticate(token.key)
    assert token_reads(captured) == 0

    clock[0] += 0.1
    with CaptureQueriesContext(connection) as captured:
        authenticate(token.key)
    assert token_reads(captured) == 1


def test_hits_do_not_extend_an_entrys_life(token, clock, settings):
    settings.TOKEN_CACHE_SECONDS = 30
    authenticate(token.key)
    for _ in range(5):
        clock[0] += 5
        authenticate(token.key)

    clock[0] += 5
    with CaptureQueriesContext(connection) as captured:
        authenticate(token.key)

    assert token_reads(captured) == 1


def test_a_deleted_token_is_refused_at_once(api_client, token):
    get_wallet(api_client, token.key)

    token.delete()

    assert get_wallet(api_client, token.key)[0] == 401
    assert len(tokens) == 0


def test_a_rotated_token_is_refused_and_the_new_one_accepted(api_client, token, viewer):
    old_key = token.key
    get_wallet(api_client, old_key)

    Token.objects.filter(user=viewer).delete()
    new = Token.objects.create(user=viewer)

    assert get_wallet(api_client, old_key)[0] == 401
    assert get_wallet(api_client, new.key)[0] == 200


def test_a_deactivated_user_is_refused_at_once(token, viewer):
    authenticate(token.key)

    viewer.is_active = False
    viewer.save()

    with pytest.raises(AuthenticationFailed, match="User inactive or deleted."):
        authenticate(token.key)
    assert len(tokens) == 0


def test_a_deleted_user_is_refused_at_once(token, viewer):
    authenticate(token.key)

    viewer.delete()

    with pytest.raises(AuthenticationFailed, match="Invalid token."):
        authenticate(token.key)


def test_a_changed_birth_date_applies_to_the_next_request(token, viewer):
    authenticate(token.key)

    viewer.birth_date = datetime.date.today()
    viewer.save()

    user, _ = authenticate(token.key)
    assert user.birth_date == datetime.date.today()
    assert not user.is_adult_on(datetime.date.today())


def test_a_password_change_keeps_the_token(token, viewer):
    """As DRF's tokens do: revoking is deleting the token (README, API tokens)."""
    authenticate(token.key)

    viewer.set_password("new-pass")
    viewer.save()

    assert authenticate(token.key)[0].pk == viewer.pk


def test_the_admin_deleting_a_token_revokes_it_at_once(admin_client, token, viewer):
    authenticate(token.key)

    response = admin_client.post(
        f"/admin/authtoken/tokenproxy/{viewer.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 302
    assert not Token.objects.exists()
    with pytest.raises(AuthenticationFailed, match="Invalid token."):
        authenticate(token.key)


def test_the_admin_deleting_a_user_revokes_their_token_at_once(
    admin_client, token, viewer
):
    authenticate(token.key)

    response = admin_client.post(
        f"/admin/accounts/user/{viewer.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 302
    with pytest.raises(AuthenticationFailed, match="Invalid token."):
        authenticate(token.key)


def test_a_change_made_elsewhere_is_refused_once_the_entry_expires(
    token, viewer, clock, settings
):
    """Another process's change sends this one no signal (neither does a bulk
    update): the entry serves until TOKEN_CACHE_SECONDS, and not a moment after."""
    settings.TOKEN_CACHE_SECONDS = 30
    authenticate(token.key)
    User.objects.filter(pk=viewer.pk).update(is_active=False)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM authtoken_token WHERE key = %s", [token.key])

    clock[0] += 29
    assert authenticate(token.key)[0].pk == viewer.pk

    clock[0] += 1
    with pytest.raises(AuthenticationFailed, match="Invalid token."):
        authenticate(token.key)


def _entry_read_now(key: str, user: User):
    from accounts import authentication

    stale = Token.objects.select_related("user").get(key=key)
    stale.user.is_active = True
    return (
        (connection.settings_dict["NAME"], key),
        authentication._Entry(
            expires=authentication.monotonic() + 30,
            user_id=user.pk,
            user_fields=authentication._fields_of(stale.user),
            token_fields=authentication._fields_of(stale),
        ),
    )


def test_a_change_committed_later_forgets_what_was_read_before_the_commit(
    token, viewer, django_capture_on_commit_callbacks
):
    authenticate(token.key)

    with django_capture_on_commit_callbacks() as callbacks:
        viewer.is_active = False
        viewer.save()
        # A request in another thread, before the commit, still sees the old row.
        tokens.put(*_entry_read_now(token.key, viewer), generation=tokens.generation)
        assert len(tokens) == 1
    for callback in callbacks:
        callback()

    assert len(tokens) == 0


def test_a_lookup_overtaken_by_a_revocation_is_not_kept(token, monkeypatch):
    read = TokenAuthentication.authenticate_credentials

    def read_then_revoked(self, key):
        found = read(self, key)
        tokens.forget_key(key)  # revoked while this request was reading
        return found

    monkeypatch.setattr(
        TokenAuthentication, "authenticate_credentials", read_then_revoked
    )

    authenticate(token.key)

    assert len(tokens) == 0


def test_bad_keys_are_not_kept(token):
    for n in range(50):
        with pytest.raises(AuthenticationFailed, match="Invalid token."):
            authenticate(f"{n:040x}")

    assert len(tokens) == 0


def test_an_inactive_users_token_is_not_kept(token, viewer):
    User.objects.filter(pk=viewer.pk).update(is_active=False)

    with pytest.raises(AuthenticationFailed, match="User inactive or deleted."):
        authenticate(token.key)

    assert len(tokens) == 0


def test_the_cache_keeps_at_most_its_size_dropping_the_oldest(settings):
    settings.TOKEN_CACHE_MAX_ENTRIES = 3
    keys = [
        Token.objects.create(user=User.objects.create_user(username=f"u{n}")).key
        for n in range(5)
    ]
    for key in keys:
        authenticate(key)

    assert len(tokens) == 3
    with CaptureQueriesContext(connection) as captured:
        authenticate(keys[0])  # dropped: read again
        authenticate(keys[4])  # kept
    assert token_reads(captured) == 1


def test_zero_seconds_reads_the_token_every_time(api_client, token, settings):
    settings.TOKEN_CACHE_SECONDS = 0

    assert get_wallet(api_client, token.key) == (200, 1)
    assert get_wallet(api_client, token.key) == (200, 1)
    assert len(tokens) == 0


def test_drfs_refusals_are_unchanged(api_client):
    for header, detail in [
        ("Token", "Invalid token header. No credentials provided."),
        ("Token a b", "Invalid token header. Token string should not contain spaces."),
        ("Token nope", "Invalid token."),
    ]:
        response = api_client.get(WALLET, HTTP_AUTHORIZATION=header)
        assert response.status_code == 401
        assert response.json()["detail"] == detail
        assert response["WWW-Authenticate"] == "Token"
