"""The audit in the database: triggers on the audited tables, and the actor they read.

Triggers see every write, whatever made it: `save()`, `queryset.update()`,
`bulk_create()`, raw SQL, a shell. They are (re)built after each `migrate` from
`registry.AUDITED` and the tables' current columns.

The actor reaches the triggers through the connection, set just before a statement
that writes an audited table and emptied right after it, so it never leaks to the
next statement, request or task on a persistent connection:
- PostgreSQL: `set_config('audit.actor_id', ..., true)`, in the statement's
  transaction (one is opened around it in autocommit).
- SQLite: the triggers call `audit_actor_id()` and `audit_actor_label()`, functions
  the app registers on each of its connections, which read the connection's actor.
  A program without them (the `sqlite3` shell) cannot write the audited tables.
Other statements (a gift send's, a purchase's) pay a pattern match and nothing more.
"""

import hashlib
import re
import weakref

from django.db import connections, transaction

from .context import FLUSH_LABEL, current_actor
from .registry import AuditedTable, audited_tables

AUDIT_TABLE = "audit_auditrecord"
PREFIX = "audit_"
VENDORS = ("postgresql", "sqlite")
_RECORD_COLUMNS = (
    '"at", "model", "object_id", "operation", "before", "after", '
    '"changed_fields", "actor_id", "actor_label"'
)
# SQLite functions take at most 127 arguments: build a wide row's JSON in parts.
_SQLITE_JSON_CHUNK = 50


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- PostgreSQL -----------------------------------------------------------------

PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION audit_record_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb;
    new_row jsonb;
    changed jsonb := '[]'::jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW); END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT coalesce(jsonb_agg(key ORDER BY key), '[]'::jsonb) INTO changed
        FROM jsonb_each(new_row) WHERE value IS DISTINCT FROM old_row -> key;
    END IF;
    INSERT INTO {AUDIT_TABLE} ({_RECORD_COLUMNS})
    VALUES (
        now(), TG_ARGV[0], coalesce(new_row, old_row) ->> TG_ARGV[1], lower(TG_OP),
        old_row, new_row, changed,
        nullif(current_setting('audit.actor_id', true), '')::bigint,
        coalesce(current_setting('audit.actor_label', true), '')
    );
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION audit_refuse_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END
$$;

CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- `manage.py flush` empties the whole database, this table with it.
    IF TG_OP = 'TRUNCATE'
        AND current_setting('audit.actor_label', true) = '{FLUSH_LABEL}' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'Audit records are append-only: % refused.', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
"""


def _pg_changed(columns) -> str:
    return " OR ".join(
        f"OLD.{q(c)} IS DISTINCT FROM NEW.{q(c)}" for c in sorted(columns)
    )


def _pg_triggers(spec: AuditedTable, columns: list[str]) -> dict[str, tuple]:
    table, args = q(spec.table), f"{_literal(spec.label)}, {_literal(spec.pk)}"
    run = f"FOR EACH ROW {{when}}EXECUTE FUNCTION audit_record_change({args})"
    triggers = {}
    if spec.insert:
        name = f"{PREFIX}{spec.table}_insert"
        triggers[name] = (
            spec.table,
            f"CREATE TRIGGER {q(name)} AFTER INSERT ON {table} " + run.format(when=""),
        )
    compared = _compared(spec, columns)
    if compared:
        name = f"{PREFIX}{spec.table}_update"
        triggers[name] = (
            spec.table,
            f"CREATE TRIGGER {q(name)} AFTER UPDATE ON {table} "
            + run.format(when=f"WHEN ({_pg_changed(compared)}) "),
        )
    name = f"{PREFIX}{spec.table}_delete"
    triggers[name] = (
        spec.table,
        f"CREATE TRIGGER {q(name)} AFTER DELETE ON {table} " + run.format(when=""),
    )
    frozen = _frozen(spec, columns)
    if frozen:
        name = f"{PREFIX}{spec.table}_frozen"
        triggers[name] = (
            spec.table,
            f"CREATE TRIGGER {q(name)} BEFORE UPDATE ON {table} FOR EACH ROW "
            f"WHEN ({_pg_changed(frozen)}) "
            f"EXECUTE FUNCTION audit_refuse_frozen({_literal(_frozen_message(spec))})",
        )
    return triggers


def _pg_guards() -> dict[str, tuple]:
    table = q(AUDIT_TABLE)
    return {
        f"{PREFIX}auditrecord_append_only": (
            AUDIT_TABLE,
            f'CREATE TRIGGER "{PREFIX}auditrecord_append_only" BEFORE UPDATE OR DELETE '
            f"ON {table} FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
        ),
        f"{PREFIX}auditrecord_no_truncate": (
            AUDIT_TABLE,
            f'CREATE TRIGGER "{PREFIX}auditrecord_no_truncate" BEFORE TRUNCATE '
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
        ),
    }


def _pg_existing(cursor) -> dict[str, tuple[str, str | None]]:
    cursor.execute(
        """
        SELECT t.tgname, c.relname, d.description
        FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_description d
            ON d.objoid = t.oid AND d.classoid = 'pg_trigger'::regclass
        WHERE NOT t.tgisinternal AND t.tgname LIKE %s
            AND n.nspname = current_schema()
        """,
        [PREFIX.replace("_", r"\_") + "%"],
    )
    return {name: (table, note) for name, table, note in cursor.fetchall()}


def _fingerprint(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()[:32]


# --- SQLite ---------------------------------------------------------------------


_NOT_FLUSHING = f"coalesce(audit_actor_label(), '') <> '{FLUSH_LABEL}'"


def _sqlite_json(row: str, columns: list[str]) -> str:
    parts = []
    for start in range(0, len(columns), _SQLITE_JSON_CHUNK):
        chunk = columns[start : start + _SQLITE_JSON_CHUNK]
        pairs = ", ".join(f"{_literal(c)}, {row}.{q(c)}" for c in chunk)
        parts.append(f"json_object({pairs})")
    json = parts[0]
    for part in parts[1:]:
        json = f"json_patch({json}, {part})"
    return json


def _sqlite_changed(columns: list[str]) -> str:
    flags = " || ".join(
        f"CASE WHEN OLD.{q(c)} IS NOT NEW.{q(c)} THEN '\"{c}\",' ELSE '' END"
        for c in sorted(columns)
    )
    return f"'[' || rtrim({flags}, ',') || ']'"


def _sqlite_insert(
    spec: AuditedTable, operation: str, row: str, before, after, changed
):
    actor, label = "audit_actor_id()", "coalesce(audit_actor_label(), '')"
    return (
        f"INSERT INTO {q(AUDIT_TABLE)} ({_RECORD_COLUMNS}) VALUES ("
        f"strftime('%Y-%m-%d %H:%M:%f', 'now'), {_literal(spec.label)}, "
        f"CAST({row}.{q(spec.pk)} AS TEXT), '{operation}', {before}, {after}, "
        f"{changed}, {actor}, {label});"
    )


def _sqlite_triggers(spec: AuditedTable, columns: list[str]) -> dict[str, tuple]:
    table = q(spec.table)
    old, new = _sqlite_json("OLD", columns), _sqlite_json("NEW", columns)
    triggers = {}
    if spec.insert:
        name = f"{PREFIX}{spec.table}_insert"
        body = _sqlite_insert(spec, "insert", "NEW", "NULL", new, "'[]'")
        triggers[name] = (
            spec.table,
            f"CREATE TRIGGER {q(name)} AFTER INSERT ON {table} FOR EACH ROW "
            f"BEGIN {body} END",
        )
    compared = _compared(spec, columns)
    if compared:
        name = f"{PREFIX}{spec.table}_update"
        when = " OR ".join(f"OLD.{q(c)} IS NOT NEW.{q(c)}" for c in sorted(compared))
        body = _sqlite_insert(spec, "update", "NEW", old, new, _sqlite_changed(columns))
        triggers[name] = (
            spec.table,
            f"CREATE TRIGGER {q(name)} AFTER UPDATE ON {table} FOR EACH ROW "
            f"WHEN {when} BEGIN {body} END",
        )
    name = f"{PREFIX}{spec.table}_delete"
    body = _sqlite_insert(spec, "delete", "OLD", old, "NULL", "'[]'")
    # `flush` empties every table by DELETE here (TRUNCATE, unseen, on PostgreSQL).
    triggers[name] = (
        spec.table,
        f"CREATE TRIGGER {q(name)} AFTER DELETE ON {table} FOR EACH ROW "
        f"WHEN {_NOT_FLUSHING} BEGIN {body} END",
    )
    frozen = _frozen(spec, columns)
    if frozen:
        name = f"{PREFIX}{spec.table}_frozen"
        when = " OR ".join(f"OLD.{q(c)} IS NOT NEW.{q(c)}" for c in frozen)
        triggers[name] = (
            spec.table,
            f"CREATE TRIGGER {q(name)} BEFORE UPDATE ON {table} FOR EACH ROW "
            f"WHEN {when} BEGIN SELECT RAISE(ABORT, "
            f"{_literal(_frozen_message(spec))}); END",
        )
    return triggers


def _sqlite_guards() -> dict[str, tuple]:
    table = q(AUDIT_TABLE)
    refuse = "SELECT RAISE(ABORT, 'Audit records are append-only: {} refused.');"
    return {
        f"{PREFIX}auditrecord_no_update": (
            AUDIT_TABLE,
            f'CREATE TRIGGER "{PREFIX}auditrecord_no_update" BEFORE UPDATE ON {table} '
            f"BEGIN {refuse.format('UPDATE')} END",
        ),
        # `manage.py flush` empties the whole database, this table with it.
        f"{PREFIX}auditrecord_no_delete": (
            AUDIT_TABLE,
            f'CREATE TRIGGER "{PREFIX}auditrecord_no_delete" BEFORE DELETE ON {table} '
            f"WHEN {_NOT_FLUSHING} BEGIN {refuse.format('DELETE')} END",
        ),
    }


def _sqlite_existing(cursor) -> dict[str, tuple[str, str]]:
    cursor.execute(
        "SELECT name, tbl_name, sql FROM sqlite_master "
        "WHERE type = 'trigger' AND name LIKE %s ESCAPE '\\'",
        [PREFIX.replace("_", "\\_") + "%"],
    )
    return {name: (table, sql) for name, table, sql in cursor.fetchall()}


# --- Both -----------------------------------------------------------------------


def _frozen(spec: AuditedTable, columns: list[str]) -> list[str]:
    return sorted(c for c in columns if c in spec.frozen)


def _frozen_message(spec: AuditedTable) -> str:
    return f"{spec.label}: {', '.join(sorted(spec.frozen))} cannot change."


def _compared(spec: AuditedTable, columns: list[str]) -> list[str]:
    if spec.watch is not None:
        return [c for c in columns if c in spec.watch]
    return [c for c in columns if c not in spec.ignore]


def desired_triggers(connection) -> dict[str, tuple[str, str]]:
    """{trigger name: (table, CREATE TRIGGER statement)} for the tables that exist."""
    build, guards = (
        (_pg_triggers, _pg_guards)
        if connection.vendor == "postgresql"
        else (_sqlite_triggers, _sqlite_guards)
    )
    with connection.cursor() as cursor:
        existing_tables = set(connection.introspection.table_names(cursor))
        if AUDIT_TABLE not in existing_tables:
            return {}
        triggers = dict(guards())
        for spec in audited_tables():
            if spec.table not in existing_tables:
                continue
            columns = [
                column.name
                for column in connection.introspection.get_table_description(
                    cursor, spec.table
                )
            ]
            triggers.update(build(spec, columns))
    return triggers


def install(using: str = "default") -> list[str]:
    """Create, replace or drop the audit triggers to match the registry; idempotent.

    Returns the names of the triggers it (re)created.
    """
    connection = connections[using]
    if connection.vendor not in VENDORS:
        return []
    created = []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_FUNCTIONS)
        desired = desired_triggers(connection)
        if connection.vendor == "postgresql":
            existing = _pg_existing(cursor)
            wanted = {
                name: (table, sql, _fingerprint(sql))
                for name, (table, sql) in desired.items()
            }
        else:
            existing = _sqlite_existing(cursor)
            wanted = {name: (table, sql, sql) for name, (table, sql) in desired.items()}
        for name, (table, current) in existing.items():
            if name not in wanted or wanted[name][2] != current:
                _drop(cursor, connection, name, table)
        for name, (table, sql, stamp) in wanted.items():
            if name in existing and existing[name][1] == stamp:
                continue
            cursor.execute(sql)
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"COMMENT ON TRIGGER {q(name)} ON {q(table)} IS {_literal(stamp)}"
                )
            created.append(name)
    return created


def _drop(cursor, connection, name: str, table: str) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(f"DROP TRIGGER IF EXISTS {q(name)} ON {q(table)}")
    else:
        cursor.execute(f"DROP TRIGGER IF EXISTS {q(name)}")


def uninstall(using: str = "default") -> None:
    """Drop every audit trigger (SQLite does this before migrating: it refuses to
    drop a column that a trigger names)."""
    connection = connections[using]
    if connection.vendor not in VENDORS:
        return
    with transaction.atomic(using=using), connection.cursor() as cursor:
        existing = (
            _pg_existing(cursor)
            if connection.vendor == "postgresql"
            else _sqlite_existing(cursor)
        )
        for name, (table, _) in existing.items():
            _drop(cursor, connection, name, table)


# --- Handing the actor to the triggers --------------------------------------------

_WRITE = re.compile(
    r"\s*(INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM|TRUNCATE)"
    r'\s+(?:TABLE\s+)?(?:ONLY\s+)?"?(\w+)"?',
    re.IGNORECASE,
)
_rules: dict[str, AuditedTable] | None = None


def _audited_by_table() -> dict[str, AuditedTable]:
    global _rules
    if _rules is None:
        rules = {spec.table: spec for spec in audited_tables()}
        # Deletes from the audit itself: only flush may, and the trigger must know.
        rules[AUDIT_TABLE] = AuditedTable(
            label="audit.AuditRecord",
            table=AUDIT_TABLE,
            pk="id",
            insert=False,
            watch=None,
        )
        _rules = rules
    return _rules


def records(sql) -> bool:
    """Whether `sql` may write a row an audit trigger records."""
    if type(sql) is not str:
        return False
    match = _WRITE.match(sql)
    if match is None:
        return False
    verb = match.group(1)[:6].upper()
    if verb == "TRUNCA":
        return True
    spec = _audited_by_table().get(match.group(2))
    if spec is None:
        return False
    if verb == "INSERT":
        return spec.insert or "ON CONFLICT" in sql or "on conflict" in sql
    if verb == "UPDATE" and spec.watch is not None:
        assignments = sql[match.end() :]
        return any(column in assignments for column in spec.watch)
    return True


def _pg_set_actor(connection, user_id, label) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('audit.actor_id', %s, true), "
            "set_config('audit.actor_label', %s, true)",
            ["" if user_id is None else str(user_id), label],
        )


def _pg_execute_as_actor(connection, execute, sql, params, many, context):
    actor = current_actor()
    _pg_set_actor(connection, *(actor.resolve() if actor else (None, "")))
    result = execute(sql, params, many, context)
    # On failure PostgreSQL forgets it with the transaction or savepoint.
    _pg_set_actor(connection, None, "")
    return result


def actor_wrapper(execute, sql, params, many, context):
    """A `connection.execute_wrappers` entry: hands the actor to the triggers."""
    connection = context["connection"]
    if connection.vendor not in VENDORS or not records(sql):
        return execute(sql, params, many, context)
    if connection.vendor == "sqlite":
        actor = current_actor()
        connection.audit_actor = actor.resolve() if actor else (None, "")
        try:
            return execute(sql, params, many, context)
        finally:
            connection.audit_actor = (None, "")
    if connection.in_atomic_block or not connection.get_autocommit():
        return _pg_execute_as_actor(connection, execute, sql, params, many, context)
    # In autocommit the actor and the write must still share one transaction.
    with transaction.atomic(using=connection.alias):
        return _pg_execute_as_actor(connection, execute, sql, params, many, context)


def prepare_connection(sender, connection, **kwargs) -> None:
    """`connection_created`: hand this connection's actor to its triggers."""
    if actor_wrapper not in connection.execute_wrappers:
        # Innermost, so that a wrapper someone pushes and pops later leaves it be.
        connection.execute_wrappers.insert(0, actor_wrapper)
    if connection.vendor == "sqlite":
        connection.audit_actor = (None, "")
        wrapper = weakref.ref(connection)

        def actor_id():
            return wrapper().audit_actor[0]

        def actor_label():
            return wrapper().audit_actor[1]

        raw = connection.connection
        raw.create_function("audit_actor_id", 0, actor_id)
        raw.create_function("audit_actor_label", 0, actor_label)
