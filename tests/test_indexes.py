"""Indexes on the write path: each one is a write on every row, so none is kept
that another index already serves; and every foreign key stays indexed (as the
leading column of some index), so deleting or joining a parent never scans."""

import pytest
from django.apps import apps
from django.db import connection

OUR_APPS = {
    "accounts",
    "audit",
    "catalog",
    "core",
    "gifting",
    "payouts",
    "reports",
    "wallets",
}
# The tables every gift send or purchase writes.
WRITE_PATH = ["payouts_giftsend", "wallets_purchase", "wallets_transfer"]


def _indexes(table: str) -> list[list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [
        spec["columns"]
        for spec in constraints.values()
        if (spec["index"] or spec["unique"] or spec["primary_key"]) and spec["columns"]
    ]


@pytest.mark.django_db
def test_every_foreign_key_leads_an_index():
    unindexed = []
    for model in apps.get_models():
        if model._meta.app_label not in OUR_APPS or not model._meta.managed:
            continue
        leading = {columns[0] for columns in _indexes(model._meta.db_table)}
        unindexed += [
            f"{model._meta.db_table}.{field.column}"
            for field in model._meta.local_fields
            if field.is_relation and field.column not in leading
        ]
    assert unindexed == []


@pytest.mark.django_db
@pytest.mark.parametrize("table", WRITE_PATH)
def test_no_write_path_index_is_a_prefix_of_another(table):
    indexes = _indexes(table)
    redundant = [
        columns
        for columns in indexes
        if len(columns) == 1
        and any(
            other != columns and other[: len(columns)] == columns for other in indexes
        )
        # A unique or primary key index is a rule, not a convenience.
        and not _is_unique(table, columns)
    ]
    assert redundant == []


def _is_unique(table: str, columns: list[str]) -> bool:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return any(
        spec["columns"] == columns and (spec["unique"] or spec["primary_key"])
        for spec in constraints.values()
    )
