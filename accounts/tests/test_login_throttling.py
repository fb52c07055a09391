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
