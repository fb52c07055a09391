import pytest
from rest_framework.authtoken.models import Token

from accounts.models import User

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


def test_username_and_password_give_a_token_that_authenticates(api_client):
    user = User.objects.create_user(username="viewer", password="s3cret-pass")

    response = api_client.post(
        TOKEN_URL, {"username": "viewer", "password": "s3cret-pass"}
    )

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=user).key}
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api_client.get("/api/v1/gifts/").status_code == 200


def test_the_same_user_gets_the_same_token(api_client):
    User.objects.create_user(username="viewer", password="s3cret-pass")
    credentials = {"username": "viewer", "password": "s3cret-pass"}

    first = api_client.post(TOKEN_URL, credentials).json()
    second = api_client.post(TOKEN_URL, credentials).json()

    assert first == second
    assert Token.objects.count() == 1


def test_wrong_password_is_a_400_and_creates_no_token(api_client):
    User.objects.create_user(username="viewer", password="s3cret-pass")

    response = api_client.post(TOKEN_URL, {"username": "viewer", "password": "nope"})

    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    assert not Token.objects.exists()


def test_missing_field_is_a_400_on_that_field(api_client):
    response = api_client.post(TOKEN_URL, {"username": "viewer"})

    assert response.status_code == 400
    assert list(response.json()) == ["password"]


def test_a_bad_token_is_refused(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert api_client.get("/api/v1/wallet/").status_code == 401
