"""Property-based fuzzing of the whole API from its own OpenAPI schema.

Schemathesis generates requests (valid and invalid) for every operation, as a plain
user and as a creator, and runs all its checks (`schemathesis run --checks all`):
no server error, every status and body as documented, invalid input refused, valid
input accepted (or refused only with a status the schema documents for it, as
`schemathesis.toml` at the repository's root lists), no answer without the token.
"""

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from config.wsgi import application
from gifting.tests.factories import creator_create, funded_sender


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Calling the WSGI app directly fires the signals that close connections after
    a request; that would close the test's transaction. Django's test client
    disconnects them the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _token_for(user) -> str:
    call_command("seed_catalog", verbosity=0)
    return Token.objects.create(user=user).key


@pytest.fixture
def user_token(db):
    return _token_for(funded_sender(1000))


@pytest.fixture
def creator_token(db):
    return _token_for(creator_create(verification="verified").user)


schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
FUZZ = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@schema.parametrize()
@FUZZ
def test_api_as_a_user(case, user_token):
    # No `checks`: every check schemathesis has, as `--checks all` runs them.
    case.call_and_validate(headers={"Authorization": f"Token {user_token}"})


@schema.parametrize()
@FUZZ
def test_api_as_a_creator(case, creator_token):
    case.call_and_validate(headers={"Authorization": f"Token {creator_token}"})


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/bundles/?region=U%00S&channel=app",
        "/api/v1/gifts/?region=U%00S",
        "/api/v1/streams/s%00/leaderboard/",
    ],
)
def test_a_nul_character_in_input_is_a_400_not_a_500(client, url):
    # Found by the fuzzer: PostgreSQL refuses NUL in text, which was a 500.
    assert client.get(url).status_code in (200, 400)


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["0", "201", "abc", "null", "1.5", "-1", "٣"])
def test_a_bad_page_size_is_a_400_naming_it(api_client, limit):
    # Found by the fuzzer: an unreadable ?limit= was silently the default page.
    api_client.force_authenticate(funded_sender(10))

    response = api_client.get("/api/v1/wallet/transfers/", {"limit": limit})

    assert response.status_code == 400
    assert response.json() == {"limit": ["Send a whole number from 1 to 200."]}
    assert api_client.get(
        "/api/v1/wallet/transfers/", {"limit": "200"}
    ).status_code == (200)
