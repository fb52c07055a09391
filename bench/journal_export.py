"""The journal export at millions of transfers: its memory stays flat (issue 17).

    make bench-journal                       # 10 M transfers over 30 days
    make bench-journal TRANSFERS=1000000     # a smaller size, to extrapolate from

On PostgreSQL, in a database of its own (dropped and created; `--database`, by
default `giftshop_bench_journal`, on the server of BENCH_DATABASE_URL or the local
one): migrate, insert TRANSFERS transfers over 30 days with `INSERT ... SELECT
generate_series` (three account pairs, as purchases and gifts post them), ANALYZE,
then run the journal export job (CSV, then XLSX) of the 30 days as the worker runs
it, and print for each: seconds, rows, the tracemalloc peak (Python's allocations)
and the process's peak RSS. Not run in CI; bench/README.md records results.
"""

import argparse
import datetime
import json
import os
import resource
import sys
import time
import tracemalloc
from urllib.parse import urlsplit, urlunsplit

import psycopg

DAYS = 30
BATCH = 1_000_000
START = datetime.date(2026, 10, 1)


def _server() -> str:
    url = os.environ.get("BENCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/"
    return urlunsplit(urlsplit(url)._replace(path="/", query="", fragment=""))


def _recreate(server: str, database: str, *, create: bool = True) -> None:
    with psycopg.connect(server + "postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{database}"')


def _insert(transfers: int) -> None:
    from django.db import connection

    from accounts.models import User
    from wallets import ledger
    from wallets.models import AccountKind

    user = User.objects.create_user(username="bench-journal")
    pairs = [
        (AccountKind.COIN_ISSUANCE, AccountKind.PAID_COINS, "purchase", "coin"),
        (AccountKind.PAID_COINS, AccountKind.COINS_SPENT, "gift", "coin"),
        (AccountKind.DIAMOND_ISSUANCE, AccountKind.DIAMONDS, "gift_earning", "diamond"),
    ]

    def account(kind):
        if kind in (AccountKind.PAID_COINS, AccountKind.DIAMONDS):
            return ledger.user_account(user, kind).pk
        return ledger.system_account(kind).pk

    start = datetime.datetime.combine(START, datetime.time.min, datetime.UTC)
    done = 0
    while done < transfers:
        count = min(BATCH, transfers - done)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO wallets_transfer (debit_account_id, credit_account_id, "
                "unit, amount, kind, reference, idempotency_key, created_at) "
                "SELECT (ARRAY[%s, %s, %s])[g %% 3 + 1],"
                " (ARRAY[%s, %s, %s])[g %% 3 + 1],"
                " (ARRAY[%s, %s, %s])[g %% 3 + 1], 1 + g %% 97,"
                " (ARRAY[%s, %s, %s])[g %% 3 + 1], 'bench:' || g, 'bench:' || g,"
                " %s + (g::bigint * %s) * interval '1 microsecond' "
                "FROM generate_series(%s, %s) AS g",
                [
                    *(account(debit) for debit, _, _, _ in pairs),
                    *(account(credit) for _, credit, _, _ in pairs),
                    *(unit for _, _, _, unit in pairs),
                    *(kind for _, _, kind, _ in pairs),
                    start,
                    DAYS * 86_400_000_000 // transfers,
                    done,
                    done + count - 1,
                ],
            )
        done += count
        print(f"  {done:,} transfers", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE wallets_transfer")


def _measure(file_format: str) -> dict:
    from django.conf import settings

    from accounts.models import User
    from reports import services
    from reports.models import Export

    export = Export.objects.create(
        what="journal",
        first_day=START,
        last_day=START + datetime.timedelta(days=DAYS - 1),
        format=file_format,
        requested_by=User.objects.get(username="bench-journal"),
    )
    began = time.perf_counter()
    tracemalloc.start()
    done = services.export_run(export_id=export.pk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    seconds = time.perf_counter() - began
    assert done.status == "done", done.error
    size = (settings.EXPORTS_ROOT / done.file.name).stat().st_size
    return {
        "format": file_format,
        "seconds": round(seconds, 2),
        "rows": done.rows,
        "file_bytes": size,
        "tracemalloc_peak_kib": peak // 1024,
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=10_000_000)
    parser.add_argument("--database", default="giftshop_bench_journal")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)
    if args.database.startswith("test_"):
        sys.exit("--database: refusing a pytest database.")
    server = _server()
    _recreate(server, args.database)
    os.environ["DATABASE_URL"] = server + args.database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_EXPORTS_ROOT", f"/tmp/{args.database}-exports")
    import django
    from django.core.management import call_command

    django.setup()
    try:
        print(f"migrate {args.database}", flush=True)
        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        print(f"insert {args.transfers:,} transfers over {DAYS} days", flush=True)
        _insert(args.transfers)
        inserted = round(time.perf_counter() - began, 1)
        results = [_measure("csv"), _measure("xlsx")]
        print(
            json.dumps(
                {
                    "transfers": args.transfers,
                    "insert_seconds": inserted,
                    "exports": results,
                },
                indent=2,
            )
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            _recreate(server, args.database, create=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
