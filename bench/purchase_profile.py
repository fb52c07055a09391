"""A purchase in-process: its statements and its CPU time per request beside the
bare request's, optionally with a pyinstrument profile (bench/README.md, *The
purchase*).

Point it at a scratch database in production mode, as the benchmark runs the app:
it migrates it, loads the catalog and wallet defaults, and adds buyers (US home
region, API tokens) under a fresh prefix, so it can run again on the same database.

    DJANGO_SETTINGS_MODULE=bench.settings DJANGO_DEBUG=0 DJANGO_ALLOW_SANDBOX=1 \\
    DJANGO_SECRET_KEY=$(openssl rand -hex 32) DJANGO_ALLOWED_HOSTS=testserver \\
    DJANGO_SECURE_SSL_REDIRECT=0 PAYMENT_STORE_SANDBOX_SECRET=$(openssl rand -hex 32) \\
    PAYOUT_PROVIDER_SANDBOX_SECRET=$(openssl rand -hex 32) \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch \\
        .venv/bin/python -m bench.purchase_profile [--buyers 300] [--profile out.html]

Each buyer's first purchase (it opens their coin accounts and earns the welcome
bonus) is timed apart from their second, the steady state; `--profile` records the
second ones with pyinstrument (which must be installed) into an HTML file.
"""

import argparse
import json
import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench import seed  # noqa: E402
from wallets.stores import sandbox_receipt  # noqa: E402

PURCHASES = "/api/v1/purchases/"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buyers", type=int, default=300)
    parser.add_argument("--profile", help="write a pyinstrument HTML profile here")
    options = parser.parse_args()

    call_command("migrate", verbosity=0)
    call_command("seed_catalog", verbosity=0)
    call_command("seed_wallets", verbosity=0)
    # The benchmark population's own helpers: adults in the US, with tokens.
    users = seed._users(f"purchase-profile-{time.time_ns()}", options.buyers)
    seed._home_regions(users)
    buyers = list(zip(users, seed._tokens(users), strict=True))
    client = Client()

    def bare(user, token, number):
        return client.get("/bench/bare/", HTTP_AUTHORIZATION=f"Token {token}")

    def purchase(user, token, number):
        receipt = sandbox_receipt(
            user.id,
            seed.PURCHASE_BUNDLE,
            f"profile-{user.id}-{number}",
            store=seed.PURCHASE_STORE,
        )
        body = {
            "bundle": seed.PURCHASE_BUNDLE,
            "region": "US",
            "channel": "app",
            "store": seed.PURCHASE_STORE,
            "receipt": receipt,
        }
        return client.post(
            PURCHASES,
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
            HTTP_IDEMPOTENCY_KEY=f"profile-{user.id}-{number}",
        )

    def database_cpu() -> float | None:
        # The backend serving this connection, when the server runs on this
        # machine: its user and system CPU seconds from /proc.
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def timed(what, request, number, status, profiler=None):
        # The first buyer's request, untimed: its statements (and a warm process).
        with CaptureQueriesContext(connection) as captured:
            assert request(*buyers[0], number).status_code == status
        statements = len(captured)
        if profiler:
            profiler.start()
        database_started = database_cpu()
        started = time.process_time()
        for user, token in buyers[1:]:
            response = request(user, token, number)
            assert response.status_code == status, response.content
        cpu = (time.process_time() - started) / (len(buyers) - 1)
        database = database_cpu()
        if profiler:
            profiler.stop()
        line = f"{what}: {cpu * 1e3:.2f} ms CPU a request, {statements} statements"
        if database_started is not None and database is not None:
            database = (database - database_started) / (len(buyers) - 1)
            line += f", PostgreSQL {database * 1e3:.2f} ms CPU"
        print(line)

    profiler = None
    if options.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
    # Tokens are kept per process (accounts.authentication): read each one first,
    # as a worker has long before it serves a buyer's request again.
    for user, token in buyers:
        bare(user, token, 0)
    timed("bare", bare, 0, 200)
    timed("purchase, the buyer's first", purchase, 1, 201)
    timed("purchase, the buyer's second", purchase, 2, 201, profiler)
    if profiler:
        with open(options.profile, "w") as out:
            out.write(profiler.output_html())


if __name__ == "__main__":
    main()
