"""Statements the hot paths run on every request, prepared once per connection.

Django binds parameters on the client (psycopg's default there), so PostgreSQL
parses and plans each statement anew every time: for a gift send's few fixed
statements that planning was a third of the database's time (the statement that
reads what a gift names: 0.2 to 0.5 ms of planning for 0.04 ms of work). A
statement run through `execute` is instead `PREPARE`d the first time a connection
runs it and `EXECUTE`d after, so PostgreSQL reuses its plan.

A prepared statement lives in its database session: behind a pooler in
transaction mode (PgBouncer's default), one session's statements reach another's
connection. Set `DATABASE_PREPARED_STATEMENTS=0` there; other databases (SQLite)
run the statement as it is.
"""

import hashlib
import re
import weakref

from django.conf import settings

# Per raw connection: the names it has prepared (a new connection starts empty).
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PLACEHOLDER = re.compile(r"%s")


def execute(cursor, sql: str, params: list) -> None:
    """Run `sql` (with `%s` placeholders) on Django's `cursor`, prepared on
    PostgreSQL. Its text must not vary with the values: they are parameters."""
    cursor.execute(*_executable(cursor, sql, params))


def execute_together(cursor, statements: list[tuple[str, list]]) -> None:
    """Run several statements in one round trip, each prepared as `execute` does;
    PostgreSQL only. The server runs them in order, in one transaction (the
    caller's, or one of their own), each seeing what the ones before it wrote; if
    one fails, none has happened. Read each one's rows in turn: `fetchall()`, then
    `nextset()` to the next."""
    if cursor.db.vendor != "postgresql":
        raise NotImplementedError("Statements run together on PostgreSQL only.")
    texts, arguments = [], []
    for sql, params in statements:
        text, values = _executable(cursor, sql, params)
        texts.append(text)
        arguments += values
    cursor.execute("; ".join(texts), arguments)


def _executable(cursor, sql: str, params: list) -> tuple[str, list]:
    """What to send for `sql`: its EXECUTE once prepared (preparing it the first
    time on this connection), or the statement itself where nothing is prepared."""
    connection = cursor.db
    if connection.vendor != "postgresql" or not getattr(
        settings, "DATABASE_PREPARED_STATEMENTS", True
    ):
        return sql, params
    name = "gs_" + hashlib.sha1(sql.encode()).hexdigest()[:20]
    names = _prepared.setdefault(connection.connection, set())
    if name not in names:
        numbered = iter(range(1, len(params) + 1))
        cursor.execute(
            f"PREPARE {name} AS "
            + _PLACEHOLDER.sub(lambda _: f"${next(numbered)}", sql)
        )
        names.add(name)
    arguments = f" ({', '.join(['%s'] * len(params))})" if params else ""
    return f"EXECUTE {name}{arguments}", params
