"""Model instances from one hand-written joined statement.

On a hot path, one fixed statement that reads several related rows costs a
fraction of the ORM queries (or the `select_related` query built per request)
that would read them: `columns` writes a model's select list under an alias, and
`instance` builds the instance from its slice of the row as the ORM would, through
the same database converters (dates and booleans on SQLite, exact amounts).
"""

from functools import cache

from django.db import connections, models


def columns(model: type[models.Model], alias: str) -> str:
    return ", ".join(
        f'{alias}."{field.column}"' for field in model._meta.concrete_fields
    )


def width(model: type[models.Model]) -> int:
    return len(model._meta.concrete_fields)


@cache
def _converters(model: type[models.Model], db: str):
    connection = connections[db]
    found = []
    for field in model._meta.concrete_fields:
        column = field.get_col(model._meta.db_table)
        found.append(
            (
                column,
                connection.ops.get_db_converters(column)
                + field.get_db_converters(connection),
            )
        )
    return found


def instance(model: type[models.Model], values, *, db: str) -> models.Model | None:
    """The saved instance these values (in `columns` order) describe, or None when
    its primary key is NULL (a LEFT JOIN that found nothing)."""
    fields = model._meta.concrete_fields
    pk_index = fields.index(model._meta.pk)
    if values[pk_index] is None:
        return None
    connection = connections[db]
    converted = []
    for value, (column, converters) in zip(values, _converters(model, db), strict=True):
        for convert in converters:
            value = convert(value, column, connection)
        converted.append(value)
    return model.from_db(db, [field.attname for field in fields], converted)
