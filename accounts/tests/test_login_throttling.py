import pytest
from axes.models import AccessAttempt
from axes.utils import reset
from rest_framework.authtoken.models import Token

from accounts.models import User

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture
def staff_member():
    return User.objects.create_user(
        username="fin", password="right-pass", is_staff=True
    )


def admin_login(client, password):
    return client.post("/admin/login/", {"username": "fin", "password": password})


def test_the_admin_locks_a_username_after_five_failures_even_for_the_right_password(
    client, staff_member
):
    for _ in range(4):
        assert admin_login(client, "wrong").status_code == 200

    assert admin_login(client, "wrong").status_code == 429
    assert admin_login(client, "right-pass").status_code == 429
    assert AccessAttempt.objects.get(username="fin").failures_since_start >= 5


def test_staff_unlock_and_the_login_works_again(client, staff_member):
    for _ in range(5):
        admin_login(client, "wrong")

    reset(username="fin")

    assert admin_login(client, "right-pass").status_code == 302


def test_the_token_endpoint_locks_too(api_client, staff_member):
    for _ in range(5):
        api_client.post(TOKEN_URL, {"username": "fin", "password": "wrong"})

    response = api_client.post(TOKEN_URL, {"username": "fin", "password": "right-pass"})

    assert response.status_code == 429
    assert not Token.objects.filter(user=staff_member).exists()


def token_login(api_client, username, password, address="203.0.113.7"):
    return api_client.post(
        TOKEN_URL, {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_an_address_failing_across_many_usernames_is_locked(api_client, staff_member):
    # One guess each for 19 usernames: no username reaches its own limit of 5.
    for n in range(19):
        assert token_login(api_client, f"guess-{n}", "wrong").status_code == 400

    assert token_login(api_client, "guess-19", "wrong").status_code == 429
    # Locked for every username from that address, the right password too...
    assert token_login(api_client, "fin", "right-pass").status_code == 429
    assert not Token.objects.filter(user=staff_member).exists()
    # ...and only there.
    assert (
        token_login(api_client, "fin", "right-pass", "198.51.100.2").status_code == 200
    )


def test_a_login_that_succeeds_does_not_clear_its_address(api_client, staff_member):
    # An attacker with one account of their own cannot reset the address's count.
    for n in range(19):
        token_login(api_client, f"guess-{n}", "wrong")
    assert token_login(api_client, "fin", "right-pass").status_code == 200

    assert token_login(api_client, "guess-19", "wrong").status_code == 429


def test_the_address_limit_is_a_setting(api_client, settings):
    settings.AXES_ADDRESS_FAILURE_LIMIT = 3
    for n in range(2):
        assert token_login(api_client, f"guess-{n}", "wrong").status_code == 400

    assert token_login(api_client, "guess-2", "wrong").status_code == 429


def test_the_api_answers_a_lockout_in_json_like_any_api_error(api_client, staff_member):
    for _ in range(4):
        token_login(api_client, "fin", "wrong")

    for password in ("wrong", "right-pass"):
        response = token_login(api_client, "fin", password)

        assert response.status_code == 429
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "detail": "Too many failed logins: try again in 15 minutes, "
            "or ask staff to unlock.",
            "code": "locked_out",
        }
        assert response["Retry-After"] == "900"
        assert "no-store" in response["Cache-Control"]


def test_the_admin_answers_a_lockout_as_a_page(client, staff_member):
    for _ in range(5):
        response = admin_login(client, "wrong")

    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")


PROXY = "10.0.0.2"


def token_login_via_proxy(api_client, username, password, forwarded):
    return api_client.post(
        TOKEN_URL,
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def test_behind_the_proxy_one_clients_failures_lock_that_client_only(
    api_client, staff_member, settings
):
    # Every request comes from the proxy's address: counted by it, twenty wrong
    # passwords from anyone would lock everyone out.
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(20):
        token_login_via_proxy(api_client, f"guess-{n}", "wrong", "203.0.113.7")

    assert (
        token_login_via_proxy(
            api_client, "fin", "right-pass", "203.0.113.7"
        ).status_code
        == 429
    )
    assert (
        token_login_via_proxy(
            api_client, "fin", "right-pass", "198.51.100.2"
        ).status_code
        == 200
    )


def test_a_forged_forwarded_address_does_not_escape_the_lock_out(
    api_client, staff_member, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(20):
        # The attacker writes a new address each time; the proxy appends the real one.
        token_login_via_proxy(
            api_client, f"guess-{n}", "wrong", f"192.0.2.{n}, 203.0.113.7"
        )

    answer = token_login_via_proxy(
        api_client, "fin", "right-pass", "192.0.2.99, 203.0.113.7"
    )

    assert answer.status_code == 429
