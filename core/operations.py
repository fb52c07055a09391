"""A migration operation that moves decimal amount columns to `core.fields`' minor
units without losing a cent, on PostgreSQL and SQLite alike."""

from django.db.migrations.operations.base import Operation


class AmountsToMinorUnits(Operation):
    """Alter `fields` of one model from `DecimalField`s to minor-units fields and
    scale the stored amounts: 1008.45 becomes 100845 (two decimal places).

    PostgreSQL: one `ALTER TABLE ... TYPE bigint USING round(column * 100)` for all
    the columns, so a check between them (gross = fee + net) is checked once, on the
    new values. SQLite: one `UPDATE` that rounds each stored float to its exact
    number of cents, then one rebuild of the table. Reversible.
    """

    reversible = True

    def __init__(self, model_name: str, fields: list):
        self.model_name = model_name
        self.fields = fields

    def deconstruct(self):
        return (
            self.__class__.__name__,
            [],
            {"model_name": self.model_name, "fields": self.fields},
        )

    @property
    def model_name_lower(self) -> str:
        return self.model_name.lower()

    def state_forwards(self, app_label, state):
        for name, field in self.fields:
            state.alter_field(
                app_label, self.model_name_lower, name, field, preserve_default=True
            )

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._move(app_label, schema_editor, from_state, to_state, to_units=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._move(app_label, schema_editor, from_state, to_state, to_units=False)

    def describe(self):
        names = ", ".join(name for name, _ in self.fields)
        return f"Keep {names} on {self.model_name} in integer minor units"

    @property
    def migration_name_fragment(self):
        return f"{self.model_name_lower}_amounts_in_minor_units"

    def _move(self, app_label, schema_editor, from_state, to_state, *, to_units):
        from_model = from_state.apps.get_model(app_label, self.model_name)
        to_model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, to_model):
            return
        pairs = [
            (
                from_model._meta.get_field(name),
                to_model._meta.get_field(name),
            )
            for name, _ in self.fields
        ]
        table = schema_editor.quote_name(to_model._meta.db_table)
        if schema_editor.connection.vendor == "postgresql":
            with _triggers_set_aside(schema_editor, to_model._meta.db_table):
                schema_editor.execute(
                    f"ALTER TABLE {table} "
                    + ", ".join(
                        _pg_alter(schema_editor, old, new, to_units)
                        for old, new in pairs
                    )
                )
            return
        if to_units:
            # Each stored float is within far less than half a cent of its amount.
            schema_editor.execute(
                f"UPDATE {table} SET "
                + ", ".join(
                    f"{_q(schema_editor, old)} = CAST(ROUND({_q(schema_editor, old)}"
                    f" * {10**new.decimal_places}) AS INTEGER)"
                    for old, new in pairs
                )
            )
        if schema_editor.connection.vendor != "sqlite":
            raise NotImplementedError(
                "Amounts move to minor units on PostgreSQL and SQLite."
            )
        # One rebuild with every column altered: altering them one by one would
        # rebuild each time from the old model and put the others back.
        schema_editor._remake_table(from_model, alter_fields=pairs)
        if not to_units:
            # Back to floats, where a check like gross = fee + net may no longer
            # hold exactly: that inexactness is what this operation removed.
            schema_editor.execute("PRAGMA ignore_check_constraints = 1")
            schema_editor.execute(
                f"UPDATE {table} SET "
                + ", ".join(
                    f"{_q(schema_editor, new)} = {_q(schema_editor, new)}"
                    f" / {10**old.decimal_places}.0"
                    for old, new in pairs
                )
            )
            schema_editor.execute("PRAGMA ignore_check_constraints = 0")


def _q(schema_editor, field) -> str:
    return schema_editor.quote_name(field.column)


def _pg_alter(schema_editor, old, new, to_units: bool) -> str:
    column = _q(schema_editor, new)
    new_type = new.db_type(schema_editor.connection)
    if to_units:
        using = f"round({column} * {10**new.decimal_places})::bigint"
    else:
        using = f"({column}::numeric / {10**old.decimal_places})::{new_type}"
    return f"ALTER COLUMN {column} TYPE {new_type} USING {using}"


class _triggers_set_aside:
    """PostgreSQL refuses to change the type of a column that a trigger's WHEN names
    (the audit's triggers do): drop the table's triggers and create them again, with
    their comments, exactly as they were."""

    def __init__(self, schema_editor, table: str):
        self.schema_editor = schema_editor
        self.table = table
        self.saved = []

    def __enter__(self):
        with self.schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT t.tgname, pg_get_triggerdef(t.oid), "
                "obj_description(t.oid, 'pg_trigger') "
                "FROM pg_trigger t WHERE t.tgrelid = %s::regclass "
                "AND NOT t.tgisinternal ORDER BY t.tgname",
                [self.schema_editor.quote_name(self.table)],
            )
            self.saved = cursor.fetchall()
        table = self.schema_editor.quote_name(self.table)
        for name, _, _ in self.saved:
            self.schema_editor.execute(
                f"DROP TRIGGER {self.schema_editor.quote_name(name)} ON {table}"
            )
        return self

    def __exit__(self, kind, error, traceback):
        if kind is not None:
            return False
        table = self.schema_editor.quote_name(self.table)
        for name, definition, comment in self.saved:
            self.schema_editor.execute(definition)
            if comment is not None:
                self.schema_editor.execute(
                    f"COMMENT ON TRIGGER {self.schema_editor.quote_name(name)} "
                    f"ON {table} IS %s",
                    [comment],
                )
        return False
