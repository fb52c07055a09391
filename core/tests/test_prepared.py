import uuid

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import prepared

pytestmark = pytest.mark.django_db
SQL = "SELECT CAST(%s AS bigint) + 1, CAST(%s AS text)"


def run(*params, sql=SQL):
    with CaptureQueriesContext(connection) as seen, connection.cursor() as cursor:
        prepared.execute(cursor, sql, list(params))
        row = cursor.fetchone()
    return row, [query["sql"] for query in seen.captured_queries]


def test_the_answer_is_the_statement_s_whether_prepared_or_not():
    assert run(41, "a'b")[0] == (42, "a'b")
    assert run(1, "%s")[0] == (2, "%s")


@pytest.mark.skipif(
    connection.vendor != "postgresql" or not settings.DATABASE_PREPARED_STATEMENTS,
    reason="prepares on PostgreSQL only, and not behind a transaction pooler",
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_postgresql_prepares_once_per_connection_then_executes():
    sql = SQL + " -- " + uuid.uuid4().hex  # a statement this session never saw
    _, first = run(1, "x", sql=sql)
    _, second = run(2, "y", sql=sql)
    assert first[0].startswith("PREPARE gs_") and first[1].startswith("EXECUTE gs_")
    assert len(second) == 1 and second[0].startswith("EXECUTE gs_")

    connection.close()  # a new session has none of them
    row, again = run(3, "z", sql=sql)
    assert row == (4, "z") and again[0].startswith("PREPARE gs_")


@pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="prepares on PostgreSQL only"
)
def test_behind_a_transaction_pooler_nothing_is_prepared(settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    row, sent = run(5, "p")
    assert row == (6, "p")
    assert sent == ["SELECT CAST(5 AS bigint) + 1, CAST('p' AS text)"]


@pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="runs together on PostgreSQL only"
)
@pytest.mark.parametrize("prepare", [True, False])
def test_statements_sent_together_run_in_order_each_seeing_the_last(settings, prepare):
    settings.DATABASE_PREPARED_STATEMENTS = prepare
    table = "together_" + uuid.uuid4().hex[:8]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {table} (n bigint)")
    with CaptureQueriesContext(connection) as seen, connection.cursor() as cursor:
        prepared.execute_together(
            cursor,
            [
                (f"INSERT INTO {table} VALUES (%s), (%s) RETURNING n", [4, 5]),
                (f"SELECT sum(n) + %s FROM {table}", [100]),
            ],
        )
        assert cursor.fetchall() == [(4,), (5,)]
        assert cursor.nextset()
        assert cursor.fetchall() == [(109,)]
    # One round trip (after any PREPARE this connection had not done).
    assert len([q for q in seen.captured_queries if "PREPARE" not in q["sql"]]) == 1


@pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="runs together on PostgreSQL only"
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_when_one_statement_sent_together_fails_none_has_happened():
    from django.db import DataError

    table = "together_" + uuid.uuid4().hex[:8]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} (n bigint)")
        try:
            with pytest.raises(DataError):
                prepared.execute_together(
                    cursor,
                    [
                        (f"INSERT INTO {table} VALUES (%s)", [1]),
                        ("SELECT 1 / %s::int", [0]),
                    ],
                )
            cursor.execute(f"SELECT count(*) FROM {table}")
            assert cursor.fetchone() == (0,)
        finally:
            cursor.execute(f"DROP TABLE {table}")


@pytest.mark.skipif(
    "connection.vendor == 'postgresql'", reason="the other databases refuse it"
)
def test_other_databases_refuse_statements_together():
    with connection.cursor() as cursor, pytest.raises(NotImplementedError):
        prepared.execute_together(cursor, [("SELECT %s", [1])])
