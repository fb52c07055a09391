"""The backup and restore drill of docs/operations.md, on PostgreSQL: a loaded
database dumped with pg_dump, restored with pg_restore into a new database, holds
the same rows there (every column of the ledger, the money records and the audit
trail), its sequences go on after the highest id, and the production reconciliation
command finds its books clean.
"""

import os
import shutil
import subprocess
import sys
import uuid

import psycopg
import pytest
from django.db import connection

from accounts.roles import FINANCE
from audit.models import AuditRecord
from catalog.tests.factories import gift_create
from gifting import services as gifting_services
from gifting.models import GiftSend
from gifting.tests.factories import creator_create, rich_creator
from payouts import services as payout_services
from payouts.models import Payout, PayoutEvent
from wallets import services as wallet_services
from wallets.models import (
    DIAMOND_SCALE,
    AccountKind,
    BalanceAdjustment,
    LedgerAccount,
    PendingCredit,
    Purchase,
    Transfer,
)
from wallets.tests.factories import (
    bundle_create,
    price_create,
    purchase_buy,
    region_create,
    staff_create,
    user_create,
)

from .soak_helpers import postgres_server
from .test_settings import ROOT, manage_env

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the drill is PostgreSQL's"
    ),
    pytest.mark.skipif(
        not shutil.which("pg_dump"), reason="needs pg_dump (postgresql-client)"
    ),
    # Committed data, for pg_dump to see; serialized rollback puts the
    # migrations' data (roles, terms) back afterwards.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.xdist_group("stack"),  # one stack at a time (soak_helpers.REAL_STACK)
]

# What must come back identical: money, its history, and who did what.
COMPARED = (
    LedgerAccount,
    Transfer,
    PendingCredit,
    Purchase,
    GiftSend,
    Payout,
    PayoutEvent,
    BalanceAdjustment,
    AuditRecord,
)


def load_economy():
    """Purchases, gifts, an adjustment and a payout: every kind of money record."""
    region = region_create("US")
    bundle = bundle_create(coins=1_000, price="9.99")
    price_create(bundle, region, "9.99")
    creator = creator_create()
    rose = gift_create(name="Rose", coin_price=1)
    for n in range(3):
        buyer = user_create()
        purchase_buy(buyer, bundle, region, key=f"buy-{n}")
        for quantity in (1, 7):
            gifting_services.gift_send(
                sender=buyer,
                creator=creator,
                gift=rose,
                quantity=quantity,
                placement="live",
                stream_id="drill",
                region=None,
                idempotency_key=f"gift-{n}-{quantity}",
            )
    first, second = staff_create(FINANCE), staff_create(FINANCE)
    adjustment = wallet_services.balance_adjustment_request(
        user=buyer,
        account_kind=AccountKind.BONUS_COINS,
        amount=50,
        reason="Goodwill for ticket 4711",
        actor=first,
        idempotency_key="drill-adjustment",
    )
    wallet_services.balance_adjustment_approve(adjustment=adjustment, actor=second)
    payout = payout_services.payout_request(
        creator=rich_creator(diamonds=30_000),
        diamond_units=25_000 * DIAMOND_SCALE,
        idempotency_key="drill-payout",
    ).payout
    payout_services.payout_approve(payout=payout, actor=first)


def rows_digest(cursor, table: str) -> tuple[int, str]:
    """The table's row count and an md5 of every column of every row, by id."""
    cursor.execute(
        "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t.id), ''))"
        f' FROM "{table}" t'  # noqa: S608 (a model's table name, not input)
    )
    return cursor.fetchone()


def sequences_behind(cursor, tables) -> list[str]:
    """Tables whose id sequence would hand out an id already taken."""
    behind = []
    for table in tables:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT (SELECT last_value FROM {sequence}) >= coalesce(max(id), 0)"
            f' FROM "{table}"'  # noqa: S608 (a model's table name, not input)
        )
        if not cursor.fetchone()[0]:
            behind.append(table)
    return behind


def libpq(settings: dict) -> list[str]:
    where = postgres_server(settings)
    return ["-h", where["host"], "-p", where["port"], "-U", where["user"]]


def test_a_dump_restored_into_a_new_database_holds_the_same_books(tmp_path):
    load_economy()
    settings = connection.settings_dict
    tables = [model._meta.db_table for model in COMPARED]
    with connection.cursor() as cursor:
        before = {table: rows_digest(cursor, table) for table in tables}
    assert all(count > 0 for count, _ in before.values()), before

    dump = tmp_path / "giftshop.dump"
    restored = f"restore_drill_{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["pg_dump", *libpq(settings), "-Fc", "-f", dump, settings["NAME"]],
        check=True,
        timeout=300,
    )
    subprocess.run(["createdb", *libpq(settings), restored], check=True, timeout=60)
    try:
        subprocess.run(
            [
                "pg_restore",
                *libpq(settings),
                "--no-owner",
                "--no-acl",
                "--exit-on-error",
                "-d",
                restored,
                dump,
            ],
            check=True,
            timeout=300,
        )
        where = postgres_server(settings)
        restored_url = (
            f"postgres://{where['user']}@{where['host']}:{where['port']}/{restored}"
        )
        with psycopg.connect(restored_url) as other, other.cursor() as cursor:
            after = {table: rows_digest(cursor, table) for table in tables}
            behind = sequences_behind(cursor, tables)

        assert after == before
        assert behind == []
        # The production command, against the restored database: clean books,
        # and its own run recorded there (a write after the restore).
        reconcile = subprocess.run(
            [sys.executable, "manage.py", "ledger_reconcile"],
            cwd=ROOT,
            env=manage_env(DATABASE_URL=restored_url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert reconcile.returncode == 0, reconcile.stderr
        assert reconcile.stdout.startswith("Ledger clean:"), reconcile.stdout
        assert f"{before[Transfer._meta.db_table][0]} transfers" in reconcile.stdout
    finally:
        subprocess.run(
            ["dropdb", *libpq(settings), "--if-exists", "--force", restored],
            check=False,
            timeout=60,
        )
    assert os.path.getsize(dump) > 0
