"""The export building block on its own: formula neutralising, exact cells in CSV
and XLSX, and rows read in chunks by primary key."""

import csv
import datetime
import io
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from core.exports import Column, csv_lines, rows_in_chunks, spreadsheet_safe, xlsx_file
from core.units import DIAMOND_SCALE

COLUMNS = (
    Column("id", "id"),
    Column("name", "owner.name"),
    Column("amount", "amount"),
    Column("at", "at"),
    Column("twice", lambda row: row.id * 2),
)
AT = datetime.datetime(2026, 12, 7, 23, 59, 59, 999_999, tzinfo=datetime.UTC)


def _row(id, name, amount, at=AT):
    owner = SimpleNamespace(name=name) if name is not None else None
    return SimpleNamespace(id=id, owner=owner, amount=amount, at=at)


@pytest.mark.parametrize(
    "text", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("x")']
)
def test_text_a_spreadsheet_would_run_gets_an_apostrophe(text):
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["Rose", "", "a=b", 5, -5, Decimal("-1.50"), None])
def test_other_values_are_left_alone(value):
    assert spreadsheet_safe(value) == value


def test_csv_cells_are_exact_and_never_run():
    rows = [
        _row(1, "=cmd|' /C calc'!A0", Decimal("12.3400")),
        _row(2, None, -7, at=None),
    ]
    lines = b"".join(csv_lines(COLUMNS, rows)).decode()
    parsed = list(csv.reader(io.StringIO(lines)))
    assert parsed == [
        ["id", "name", "amount", "at", "twice"],
        ["1", "'=cmd|' /C calc'!A0", "12.3400", "2026-12-07 23:59:59", "2"],
        ["2", "", "-7", "", "4"],
    ]


def test_a_float_is_refused():
    with pytest.raises(TypeError):
        b"".join(csv_lines(COLUMNS, [_row(1, "x", 0.1)]))


def test_xlsx_cells_are_numbers_with_their_decimals_and_text_never_a_formula():
    rows = [_row(1, "+SUM(A1:A9)", Decimal("0.0001")), _row(2, "Ann", 1_000_000)]
    sheet = load_workbook(xlsx_file(COLUMNS, rows, title="Things")).active
    assert sheet.title == "Things"
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("id", "name", "amount", "at", "twice")
    assert values[1][1] == "'+SUM(A1:A9)"
    assert sheet["B2"].data_type == "s"
    assert Decimal(str(values[1][2])) == Decimal("0.0001")
    assert sheet["C2"].number_format == "0.0000"
    assert values[2][2] == 1_000_000
    assert values[1][3] == datetime.datetime(2026, 12, 7, 23, 59, 59)


@pytest.mark.django_db
def test_rows_are_read_in_chunks_in_key_order(django_assert_num_queries):
    from django.contrib.auth.models import Group

    groups = [Group.objects.create(name=f"chunk {n}") for n in range(5)]
    queryset = Group.objects.filter(name__startswith="chunk").order_by("-name")
    # Five rows in chunks of two: two full chunks and a short one, nothing more.
    with django_assert_num_queries(3):
        assert list(rows_in_chunks(queryset, chunk_size=2)) == groups


# Up to 15 significant digits, what a spreadsheet's number (a double) holds exactly:
# ten billion diamonds to the unit, a trillion in cash to the cent.
@settings(max_examples=25, deadline=None)
@given(
    units=st.integers(min_value=0, max_value=10**14),
    cents=st.integers(min_value=-(10**14), max_value=10**14),
    coins=st.integers(min_value=0, max_value=10**15),
)
def test_figures_come_back_exactly_from_csv_and_xlsx(units, cents, coins):
    diamonds = (Decimal(units) / DIAMOND_SCALE).quantize(Decimal("0.0001"))
    cash = Decimal(cents) / 100
    columns = (
        Column("diamonds", "diamonds"),
        Column("cash", "cash"),
        Column("coins", "coins"),
    )
    row = SimpleNamespace(diamonds=diamonds, cash=cash, coins=coins)

    (parsed,) = csv.DictReader(
        io.StringIO(b"".join(csv_lines(columns, [row])).decode())
    )
    assert Decimal(parsed["diamonds"]) * DIAMOND_SCALE == units
    assert Decimal(parsed["cash"]) * 100 == cents
    assert int(parsed["coins"]) == coins

    sheet = load_workbook(xlsx_file(columns, [row], title="t")).active
    read = list(sheet.iter_rows(values_only=True))[1]
    assert Decimal(repr(read[0])) * DIAMOND_SCALE == units
    assert Decimal(repr(read[1])) * 100 == cents
    assert read[2] == coins
