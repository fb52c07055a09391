"""The token lookup in-process: DRF's read against a cached hit, and what a wallet
read costs with each (bench/README.md, *The token lookup*).

Point it at a scratch database: it migrates it and adds a user and a token.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch \\
        .venv/bin/python -m bench.token_lookup
"""

import os
import timeit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.authentication import TokenAuthentication  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.test import APIClient, APIRequestFactory  # noqa: E402

from accounts.authentication import CachedTokenAuthentication  # noqa: E402
from accounts.models import User  # noqa: E402

WALLET = "/api/v1/wallet/"


def best_per_call(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def main() -> None:
    call_command("migrate", verbosity=0)
    user, _ = User.objects.get_or_create(username="token-lookup-bench")
    key = Token.objects.get_or_create(user=user)[0].key

    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {key}")
    for auth in (TokenAuthentication(), CachedTokenAuthentication()):
        auth.authenticate(request)
        seconds = best_per_call(lambda: auth.authenticate(request), 5000)  # noqa: B023
        print(f"{type(auth).__name__}.authenticate(): {seconds * 1e6:.1f} µs")

    client = APIClient(SERVER_NAME="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    for cache_seconds in (0, 30):
        with override_settings(TOKEN_CACHE_SECONDS=cache_seconds):
            client.get(WALLET)
            with CaptureQueriesContext(connection) as captured:
                assert client.get(WALLET).status_code == 200
            # Now: the next request's start empties the log it slices.
            statements = len(captured)
            seconds = best_per_call(lambda: client.get(WALLET), 500)
        print(
            f"GET {WALLET}, TOKEN_CACHE_SECONDS={cache_seconds}: "
            f"{seconds * 1e3:.2f} ms, {statements} statements"
        )


if __name__ == "__main__":
    main()
