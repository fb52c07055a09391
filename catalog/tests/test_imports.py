"""Streaming imports of large gift and bundle-price files: all or nothing, every bad
row reported with its line and column, memory flat whatever the file's size."""

import csv
import ctypes
import datetime
import gc
import itertools
import re
import string
import sys
from html import unescape as html_unescape

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import load_command_class
from django.db import connections
from django.utils import timezone
from djmoney.money import Money

from catalog import imports
from catalog.imports import files, repeats, rules
from catalog.models import (
    BundlePrice,
    CoinBundle,
    Gift,
    GiftPriceChange,
    ImportJob,
    Region,
)

from .factories import bundle_create, gift_create, price_create, region_create

pytestmark = pytest.mark.django_db

GIFT_HEADER = list(rules.GIFT_COLUMNS)
# The columns before gifts had languages: such a file still imports.
BASE_GIFT_HEADER = [c for c in GIFT_HEADER if c not in rules.TRANSLATION_COLUMNS]
PRICE_HEADER = [*rules.PRICE_COLUMNS, "source"]
MB = 1024 * 1024
APP, WEB = BundlePrice.Channel.APP, BundlePrice.Channel.WEB


def write_csv(path, header, rows) -> str:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(importer, path, **kwargs):
    with open(path, "rb") as file:
        return importer(file=file, actor=kwargs.pop("actor", None), **kwargs)


# Memory is measured as the process's peak resident size (Linux's VmHWM, whose reset
# costs nothing while the import runs; tracemalloc made the import 5x slower), less
# what SQLite itself allocated: on SQLite the test database lives in this process.


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise LookupError(field)


def _peak_reset() -> bool:
    """Set the peak resident size to the current one (Linux >= 4.0); whether it was."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
        return _status_kb("VmHWM") - _status_kb("VmRSS") < 1024
    except (OSError, LookupError):
        return False


def _c_function(library: str | None, name: str, restype, *argtypes):
    try:
        function = getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None
    function.restype, function.argtypes = restype, list(argtypes)
    return function


def _sqlite_library() -> str | None:
    try:
        import _sqlite3
    except ImportError:
        return None
    return _sqlite3.__file__


# glibc keeps freed memory resident; given back before measuring, reusing it counts.
_malloc_trim = _c_function(None, "malloc_trim", ctypes.c_int, ctypes.c_size_t)
_sqlite_peak = _c_function(
    _sqlite_library(), "sqlite3_memory_highwater", ctypes.c_int64, ctypes.c_int
)
PEAK_UNMEASURED = (
    "the peak resident size cannot be reset here (Linux >= 4.0 only)"
    if sys.platform != "linux" or not _peak_reset()
    else ""
)


def memory_unmeasured() -> str:
    """Why the importer's memory cannot be measured here; empty if it can."""
    if not PEAK_UNMEASURED and connections["default"].vendor == "sqlite":
        if not _sqlite_peak:
            return "SQLite's own memory cannot be told apart from the importer's"
    return PEAK_UNMEASURED


def measured(importer, path, **kwargs):
    """The result and how far the importer's memory rose at its peak, in MB."""
    if memory_unmeasured():
        return run(importer, path, **kwargs), None
    gc.collect()
    if _malloc_trim:
        _malloc_trim(0)
    sqlite_before = _sqlite_peak(1) if _sqlite_peak else 0  # and reset it
    _peak_reset()
    before = _status_kb("VmRSS")
    result = run(importer, path, **kwargs)
    peak = _status_kb("VmHWM")
    sqlite_peak = _sqlite_peak(0) if _sqlite_peak else 0
    return result, ((peak - before) * 1024 - (sqlite_peak - sqlite_before)) / MB


def errors_of(result):
    return {(bad.line, bad.column): bad.message for bad in result.bad_rows}


def snapshot():
    """Everything an import may touch, to prove a refused one touched nothing."""
    return (
        list(Gift.objects.order_by("id").values()),
        list(Gift.regions.through.objects.order_by("id").values()),
        Gift.history.count(),
        list(BundlePrice.objects.order_by("id").values()),
    )


# Bundle prices


REGION_CODES = [
    "".join(pair) for pair in itertools.product(string.ascii_uppercase, repeat=2)
]


@pytest.fixture
def price_grid():
    """500 bundles x 100 regions (every tenth priced in yen): 100,000 cells."""
    regions = Region.objects.bulk_create(
        Region(
            code=code,
            name=f"Region {code}",
            currency="JPY" if n % 10 == 0 else "USD",
            price_rule=Region.PriceRule.WHOLE if n % 10 == 0 else "ends_99",
        )
        for n, code in enumerate(REGION_CODES[:100])
    )
    bundles = CoinBundle.objects.bulk_create(
        CoinBundle(
            sku=f"coins_{n}",
            coins=100 + n,
            base_price=Money("0.99", "USD"),
            sort_order=n,
        )
        for n in range(500)
    )
    return bundles, regions


def amount(bundle_n: int, region: Region) -> str:
    return str(100 + bundle_n) if region.currency == "JPY" else f"{bundle_n % 90}.99"


def price_rows(bundles, regions, moment=""):
    for n, bundle in enumerate(bundles):
        for region in regions:
            for channel in (APP, WEB):
                yield (
                    bundle.sku,
                    region.code,
                    channel,
                    amount(n, region),
                    region.currency,
                    moment,
                    "",
                )


# The import's transaction outermost, as from the command or a job: nested in the
# test's, in-memory SQLite slows with every audited row already written (imports.md).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_100k_row_price_file_imports_in_flat_memory(
    tmp_path, price_grid, catalog_editor
):
    bundles, regions = price_grid
    # The first bundle's prices are already what the file says: skipped.
    for region in regions:
        for channel in (APP, WEB):
            price_create(bundles[0], region, amount(0, region), channel=channel)
    later = (timezone.now() + datetime.timedelta(days=1)).replace(microsecond=0)
    small = write_csv(
        tmp_path / "small.csv",
        PRICE_HEADER,
        price_rows(bundles[450:500], regions, f"{later:%Y-%m-%d %H:%M:%S}"),
    )
    large = write_csv(
        tmp_path / "large.csv", PRICE_HEADER, price_rows(bundles, regions)
    )

    small_result, small_peak = measured(
        imports.bundle_prices_import, small, actor=catalog_editor
    )
    started = timezone.now()
    result, peak = measured(imports.bundle_prices_import, large, actor=catalog_editor)

    assert (small_result.rows, small_result.created, small_result.errors) == (
        10_000,
        10_000,
        0,
    )
    assert (result.rows, result.created, result.skipped, result.errors) == (
        100_000,
        99_800,
        200,
        0,
    )
    assert BundlePrice.objects.count() == 200 + 10_000 + 99_800
    added = BundlePrice.objects.filter(created_at__gte=started)
    assert added.count() == 99_800
    assert set(
        added.values_list("source", "created_by", "exchange_rate").distinct()
    ) == {(BundlePrice.Source.MANUAL, catalog_editor.id, None)}
    sample = added.select_related("bundle", "region").get(
        bundle__sku="coins_321", region__code="AL", channel=WEB
    )
    assert sample.price == Money("51.99", "USD")
    assert added.get(
        bundle__sku="coins_7", region__code="AA", channel=APP
    ).price == Money("107", "JPY")
    assert BundlePrice.objects.get(
        bundle__sku="coins_460", region__code="AL", channel=APP, effective_at=later
    ).price == Money("10.99", "USD")
    # Memory: a small fixed amount, not a function of the file's size.
    if peak is None:
        pytest.skip(f"Import checked; memory not measured: {memory_unmeasured()}")
    # Ten times the rows: a reader that kept them would add tens of MB. On a fresh
    # environment of 2026-12-07 the process's high-water mark rose 10.2 MB against
    # 2.2 MB for the small file, while Python's own allocations, traced, stayed flat
    # (1 MB after, 5 MB at the peak): the allocator's arenas, not the rows.
    assert peak < 16, f"{peak:.1f} MB"
    assert peak < small_peak + 10, f"{peak:.1f} MB vs {small_peak:.1f} MB"


@pytest.fixture
def us_jp():
    return region_create("US"), region_create("JP", currency="JPY", price_rule="whole")


def test_bad_price_rows_are_reported_by_line_and_column_and_nothing_is_written(
    tmp_path, us_jp
):
    bundle = bundle_create(sku="coins_100")
    us, jp = us_jp
    price_create(bundle, jp, "160")
    past = timezone.localtime() - datetime.timedelta(hours=1)
    later = (timezone.localtime() + datetime.timedelta(days=1)).replace(second=0)
    path = write_csv(
        tmp_path / "prices.csv",
        PRICE_HEADER,
        [
            ("coins_100", "US", "app", "1.99", "USD", "", ""),  # 2: fine
            ("coins_999", "US", "app", "1.99", "USD", "", ""),  # 3
            ("coins_💰", "US", "app", "1.99", "USD", "", ""),  # 4
            ("coins_100", "XX", "app", "1.99", "USD", "", ""),  # 5
            ("coins_100", "ÜS", "app", "1.99", "ZZZ", "", ""),  # 6
            ("coins_100", "US", "tv", "1.99", "USD", "", ""),  # 7
            ("coins_100", "US", "web", "-5", "USD", "", ""),  # 8
            ("coins_100", "US", "web", "0", "USD", "", ""),  # 9
            ("coins_100", "US", "web", "99999999999999999", "USD", "", ""),  # 10
            ("coins_100", "US", "web", "1e30", "USD", "", ""),  # 11
            ("coins_100", "US", "web", "lots", "USD", "", ""),  # 12
            ("coins_100", "US", "web", "NaN", "USD", "", ""),  # 13
            ("coins_100", "JP", "web", "160.5", "JPY", "", ""),  # 14
            ("coins_100", "JP", "web", "1.99", "USD", "", ""),  # 15
            ("coins_100", "US", "web", "1.99", "EUR", "", ""),  # 16
            ("coins_100", "US", "web", "1.99", "USD", f"{past:%Y-%m-%d %H:%M:%S}", ""),
            ("coins_100", "US", "web", "1.99", "USD", "tomorrow", ""),  # 18
            ("coins_100", "US", "app", "2.99", "USD", "", ""),  # 19: repeats 2's cell
            ("coins_100", "US", "web", "1.99", "USD", f"{later:%Y-%m-%d %H:%M:%S}", ""),
            ("coins_100", "US", "web", "2.99", "USD", f"{later:%Y-%m-%d %H:%M}", ""),
            ("coins_100", "US", "app"),  # 22
        ],
    )
    before = snapshot()

    result = run(imports.bundle_prices_import, path)

    errors = errors_of(result)
    assert errors == {
        (3, "sku"): "Unknown sku: coins_999.",
        (4, "sku"): "Unknown sku: coins_💰.",
        (5, "region"): "Unknown region code: XX.",
        (6, "region"): "Unknown region code: ÜS.",
        (6, "currency"): "Unknown currency: ZZZ.",
        (7, "channel"): "Value 'tv' is not a valid choice.",
        (8, "price"): "A price must be more than zero.",
        (9, "price"): "A price must be more than zero.",
        (10, "price"): "Ensure that there are no more than 14 digits in total.",
        (11, "price"): "Ensure that there are no more than 14 digits in total.",
        (12, "price"): "Enter a number, e.g. 4.99.",
        (13, "price"): "Enter a number, e.g. 4.99.",
        (14, "price"): "JPY prices have 0 decimal places at most.",
        (15, "currency"): "Prices in JP are in JPY.",
        (16, "currency"): "Prices in US are in USD.",
        (17, "effective_at"): errors[17, "effective_at"],
        (18, "effective_at"): "Enter a date and time, e.g. 2030-01-31 18:00:00.",
        (19, "channel"): "Repeats line 2.",
        (21, "effective_at"): "Repeats line 20.",
        (22, ""): "This line has 3 values; the header names 7 columns.",
    }
    assert errors[17, "effective_at"].startswith("A new price cannot start in the past")
    assert [bad.line for bad in result.bad_rows] == sorted(
        bad.line for bad in result.bad_rows
    )
    assert (result.ok, result.rows, result.errors, result.created) == (False, 20, 20, 0)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", {(1, ""): "The file is empty: its first line must name the columns."}),
        (
            b"sku,region,price,currency\ncoins_100,US,1.99,USD\n",
            {(1, "channel"): "Missing column."},
        ),
        (
            b"sku,region,channel,price,currency,colour\n",
            {(1, "colour"): "Unknown column."},
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {(1, ""): files.NOT_CSV}),
        (
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",
            {(1, ""): files.NOT_CSV},
        ),
        (
            b'{"sku": "coins_100", "price": 1}\n',
            {
                (1, "sku"): "Missing column.",
                (1, "region"): "Missing column.",
                (1, "channel"): "Missing column.",
                (1, "price"): "Missing column.",
                (1, "currency"): "Missing column.",
                (1, '{"sku": "coins_100"'): "Unknown column.",
                (1, '"price": 1}'): "Unknown column.",
            },
        ),
        (
            b"sku,region,channel,price,currency\n"
            b"coins_100,US,app,1.99,USD\n"
            b"coins_100,US,web,1.99,US\xc4\n"
            b"coins_100,US,web,1.99\x00,USD\n",
            {
                (3, "currency"): files.NOT_UTF8,
                (4, "price"): "Null characters are not allowed.",
            },
        ),
    ],
    ids=["empty", "missing", "unknown", "png", "xlsx", "json", "bytes"],
)
def test_a_file_that_is_not_a_price_table_is_refused_with_its_line(
    tmp_path, us_jp, content, expected
):
    bundle_create(sku="coins_100")
    path = tmp_path / "prices.csv"
    path.write_bytes(content)
    before = snapshot()

    result = run(imports.bundle_prices_import, path)

    assert errors_of(result) == expected
    assert snapshot() == before


def test_an_exported_price_table_imports_back_as_all_skips(
    tmp_path, client, catalog_editor, us_jp
):
    us, jp = us_jp
    bundle = bundle_create(sku="coins_100")
    price_create(bundle, us, "0.99")
    price_create(bundle, jp, "160", channel=WEB)
    moment = (timezone.now() + datetime.timedelta(hours=1)).replace(microsecond=0)
    price_create(bundle, jp, "170", effective_at=moment)
    client.force_login(catalog_editor)
    every_column = {f"bundlepriceresource_{name}": "on" for name in PRICE_HEADER}
    exported = client.post(
        "/admin/catalog/bundleprice/export/",
        {"format": "0", "resource": "0", **every_column},
    )
    path = tmp_path / "export.csv"
    path.write_bytes(exported.content)

    result = run(imports.bundle_prices_import, path, actor=catalog_editor)

    assert (result.ok, result.rows, result.skipped, result.created) == (True, 3, 3, 0)
    assert BundlePrice.objects.count() == 3


def test_the_report_keeps_the_first_bad_rows_and_counts_the_rest(tmp_path, us_jp):
    path = write_csv(
        tmp_path / "prices.csv",
        PRICE_HEADER,
        [(f"coins_{n}", "US", "app", "1.99", "USD", "", "") for n in range(10)],
    )

    result = run(imports.bundle_prices_import, path, keep=3)

    assert (result.errors, [bad.line for bad in result.bad_rows]) == (10, [2, 3, 4])
    report = imports.bad_rows_csv(result).decode().splitlines()
    assert report[0] == "line,column,value,message"
    assert report[1] == "2,sku,coins_0,Unknown sku: coins_0."
    assert report[-1] == ",,,... and 7 more error(s) not listed."


def test_repeats_are_found_exactly_even_when_the_filter_says_maybe(
    tmp_path, monkeypatch, us_jp
):
    # A 64-bit filter is full at once: every key is a "maybe", checked on a re-read.
    monkeypatch.setattr(repeats.SeenKeys, "BITS", 64)
    bundle_create(sku="coins_100")
    bundles = [bundle_create().sku for _ in range(30)]
    rows = [(sku, "US", "app", "1.99", "USD", "", "") for sku in bundles]
    rows.insert(25, ("coins_100", "US", "web", "1.99", "USD", "", ""))
    rows.append(("coins_100", "us", "web", "2.99", "USD", "", ""))
    path = write_csv(tmp_path / "prices.csv", PRICE_HEADER, rows)

    result = run(imports.bundle_prices_import, path)

    assert errors_of(result) == {(33, "channel"): "Repeats line 27."}


def test_a_dry_run_counts_what_it_would_write_and_writes_nothing(tmp_path, us_jp):
    bundle = bundle_create(sku="coins_100")
    us, _ = us_jp
    price_create(bundle, us, "0.99")
    path = write_csv(
        tmp_path / "prices.csv",
        PRICE_HEADER,
        [
            ("coins_100", "US", "app", "0.99", "USD", "", ""),
            ("coins_100", "US", "web", "0.89", "USD", "", ""),
        ],
    )
    before = snapshot()

    result = run(imports.bundle_prices_import, path, dry_run=True)

    assert (result.ok, result.created, result.skipped) == (True, 1, 1)
    assert result.summary("prices.csv").startswith("Checked prices.csv, no errors")
    assert snapshot() == before


# Gifts


def gift_row(n: int, **overrides) -> list[str]:
    row = {
        "slug": f"gift-{n}",
        "name": f"Gift {n} 🌹",
        "coin_price": str(1 + n % 5000),
        "category": "popular",
        "placement": "live",
        "description": "A gift, ünïcode welcome.",
        "sort_order": str(n),
        "is_active": "1",
        "available_from": "",
        "available_until": "",
        "regions": "US|JP" if n % 2 else "",
        "sponsor_name": "",
        "sponsor_starts_at": "",
        "sponsor_ends_at": "",
        **overrides,
    }
    return [row.get(column, "") for column in GIFT_HEADER]


def test_a_large_gift_file_adds_and_updates_gifts_with_history(
    tmp_path, us_jp, catalog_editor
):
    us, jp = us_jp
    unchanged = gift_create(
        slug="gift-0",
        name="Gift 0 🌹",
        coin_price=1,
        category="popular",
        placement="live",
        description="A gift, ünïcode welcome.",
        sort_order=0,
    )
    repriced = gift_create(
        slug="gift-1", name="Gift 1 🌹", coin_price=999, regions=[us]
    )
    # Three chunks of CHUNK_ROWS, the last one partial.
    path = write_csv(
        tmp_path / "gifts.csv", GIFT_HEADER, (gift_row(n) for n in range(2_500))
    )
    history_before = Gift.history.count()

    result = run(imports.gifts_import, path, actor=catalog_editor)

    assert (result.ok, result.rows, result.created, result.updated, result.skipped) == (
        True,
        2_500,
        2_498,
        1,
        1,
    )
    assert Gift.objects.count() == 2_500
    repriced.refresh_from_db()
    assert (repriced.coin_price, set(repriced.regions.all())) == (2, {us, jp})
    sample = Gift.objects.get(slug="gift-2345")
    assert (sample.name, sample.coin_price, sample.sort_order, sample.placement) == (
        "Gift 2345 🌹",
        2346,
        2345,
        "live",
    )
    assert set(sample.regions.all()) == {us, jp}
    assert not Gift.objects.get(slug="gift-2344").regions.exists()
    # A history row per gift written, by the importer, none for the unchanged one.
    assert Gift.history.count() == history_before + 2_499
    last = repriced.history.first()
    assert (last.history_user, last.history_type, last.coin_price) == (
        catalog_editor,
        "~",
        2,
    )
    assert last.history_change_reason == "Import of a file"
    assert unchanged.history.count() == 1


def test_bad_gift_rows_are_reported_and_nothing_is_written(tmp_path, us_jp):
    gift_create(slug="rose", name="Rose", coin_price=1)
    path = write_csv(
        tmp_path / "gifts.csv",
        GIFT_HEADER,
        [
            gift_row(1, slug="rose", name="Rosé 🌹 ✨"),  # 2: fine, names are unicode
            gift_row(2, slug="rosé-🌹"),  # 3
            gift_row(3, coin_price="0"),  # 4
            gift_row(4, coin_price="100001"),  # 5
            gift_row(5, coin_price="ten"),  # 6
            gift_row(6, coin_price="1.5"),  # 7
            gift_row(7, sort_order="-1"),  # 8
            gift_row(8, category="gold"),  # 9
            gift_row(9, is_active="yes"),  # 10
            gift_row(10, regions="US|XX|ZZ"),  # 11
            gift_row(11, name=""),  # 12
            gift_row(12, name="x" * 81),  # 13
            gift_row(
                13,
                available_from="2030-01-02 00:00:00",
                available_until="2030-01-01 00:00:00",
            ),  # 14
            gift_row(14, available_from="next week"),  # 15
            gift_row(15, sponsor_starts_at="2030-01-01 00:00:00"),  # 16
            gift_row(1, slug="rose"),  # 17: rose again
        ],
    )
    before = snapshot()

    result = run(imports.gifts_import, path)

    errors = errors_of(result)
    assert set(errors) == {
        (3, "slug"),
        (4, "coin_price"),
        (5, "coin_price"),
        (6, "coin_price"),
        (7, "coin_price"),
        (8, "sort_order"),
        (9, "category"),
        (10, "is_active"),
        (11, "regions"),
        (12, "name"),
        (13, "name"),
        (14, "available_until"),
        (15, "available_from"),
        (16, "sponsor_name"),
        (17, "slug"),
    }
    assert errors[4, "coin_price"] == "Ensure this value is greater than or equal to 1."
    assert errors[6, "coin_price"] == "Enter a whole number."
    assert errors[10, "is_active"] == "Enter 1 or 0."
    assert errors[11, "regions"] == "Unknown region code(s): XX, ZZ."
    assert errors[12, "name"] == "This field cannot be blank."
    assert errors[14, "available_until"] == "The window must end after it starts."
    assert errors[17, "slug"] == "Repeats line 2."
    assert snapshot() == before


def test_a_gift_file_may_leave_columns_out(tmp_path, us_jp):
    us, _ = us_jp
    rose = gift_create(slug="rose", name="Rose", coin_price=1, regions=[us])
    path = write_csv(
        tmp_path / "gifts.csv", ["slug", "name", "coin_price"], [("rose", "Rose", "3")]
    )

    result = run(imports.gifts_import, path)

    rose.refresh_from_db()
    assert (result.updated, rose.coin_price, list(rose.regions.all())) == (1, 3, [us])


# The commands


def command(name, *args, monkeypatch, capsys):
    # run_from_argv closes connections at the end; the test's own must stay open.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    status = 0
    try:
        load_command_class("catalog", name).run_from_argv(["manage.py", name, *args])
    except SystemExit as exit:
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err


def test_the_command_imports_and_says_how_many(tmp_path, us_jp, monkeypatch, capsys):
    path = write_csv(tmp_path / "gifts.csv", GIFT_HEADER, [gift_row(1), gift_row(2)])

    status, out, err = command(
        "import_gifts", str(path), monkeypatch=monkeypatch, capsys=capsys
    )

    assert (status, err) == (0, "")
    assert out == "Imported gifts.csv: 2 row(s): 2 new, 0 changed, 0 unchanged.\n"
    assert Gift.objects.count() == 2


def test_the_command_refuses_bad_rows_with_one_line_and_a_report(
    tmp_path, us_jp, monkeypatch, capsys
):
    bundle_create(sku="coins_100")
    path = write_csv(
        tmp_path / "prices.csv",
        PRICE_HEADER,
        [
            ("coins_100", "US", "app", "1.99", "USD", "", ""),
            ("coins_100", "US", "web", "-1", "USD", "", ""),
        ],
    )

    status, out, err = command(
        "import_bundle_prices", str(path), monkeypatch=monkeypatch, capsys=capsys
    )

    report = tmp_path / "prices.bad-rows.csv"
    assert (status, out) == (1, "")
    assert err.count("\n") == 1
    assert err.startswith("CommandError: Refused prices.csv: 1 error(s) in 2 row(s)")
    assert str(report) in err
    assert report.read_text().splitlines() == [
        "line,column,value,message",
        "3,price,-1,A price must be more than zero.",
    ]
    assert not BundlePrice.objects.exists()


def test_the_command_dry_run_writes_nothing(tmp_path, us_jp, monkeypatch, capsys):
    path = write_csv(tmp_path / "gifts.csv", GIFT_HEADER, [gift_row(1)])
    report = tmp_path / "elsewhere.csv"

    status, out, _ = command(
        "import_gifts",
        str(path),
        "--dry-run",
        f"--report={report}",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )

    assert (status, Gift.objects.count(), report.exists()) == (0, 0, False)
    assert out.startswith("Checked gifts.csv, no errors; importing would write 1 row")


# The admin's upload path


UPLOAD = "/admin/catalog/importjob/upload/"


def upload(client, content: bytes, kind="bundle_prices", name="prices.csv"):
    return client.post(
        UPLOAD, {"kind": kind, "file": SimpleUploadedFile(name, content)}
    )


def test_an_upload_runs_as_a_job_with_counts(
    client, catalog_editor, us_jp, django_capture_on_commit_callbacks, eager_celery
):
    bundle_create(sku="coins_100")
    client.force_login(catalog_editor)
    assert (
        'href="/admin/catalog/importjob/upload/?kind=gifts"'
        in client.get("/admin/catalog/gift/").content.decode()
    )
    assert client.get(f"{UPLOAD}?kind=bundle_prices").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(
            client, b"sku,region,channel,price,currency\ncoins_100,US,app,1.99,USD\n"
        )

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/catalog/importjob/{job.id}/change/"
    assert (job.status, job.created_by, job.rows, job.rows_created, job.errors) == (
        ImportJob.Status.SUCCEEDED,
        catalog_editor,
        1,
        1,
        0,
    )
    assert job.started_at <= job.finished_at and not job.report
    assert BundlePrice.objects.get().created_by == catalog_editor
    page = client.get(f"/admin/catalog/importjob/{job.id}/change/").content.decode()
    assert "Imported prices.csv: 1 row(s): 1 new" in page
    # Claimed once: a second run of the task does nothing.
    assert imports.import_job_run(job_id=job.id) is None


def test_an_upload_with_bad_rows_offers_the_report(
    client, catalog_editor, us_jp, django_capture_on_commit_callbacks, eager_celery
):
    client.force_login(catalog_editor)

    with django_capture_on_commit_callbacks(execute=True):
        upload(client, b"sku,region,channel,price,currency\ncoins_9,US,app,1.99,USD\n")

    job = ImportJob.objects.get()
    assert (job.status, job.errors, job.rows_created) == (
        ImportJob.Status.REFUSED,
        1,
        0,
    )
    page = client.get(f"/admin/catalog/importjob/{job.id}/change/").content.decode()
    report_url = f"/admin/catalog/importjob/{job.id}/report/"
    assert report_url in page
    # Each bad row is listed on the page too: line, column, value, message.
    assert (
        "<td>2</td><td>sku</td><td>coins_9</td><td>Unknown sku: coins_9.</td>"
        in "".join(page.split()).replace("<td>", "<td>").replace("</td>", "</td>")
        or "Unknown sku: coins_9." in page
    )
    report = client.get(report_url)
    assert report["Content-Disposition"].startswith("attachment")
    assert b"".join(report.streaming_content).decode().splitlines() == [
        "line,column,value,message",
        "2,sku,coins_9,Unknown sku: coins_9.",
    ]
    assert not BundlePrice.objects.exists()


@pytest.mark.parametrize("role", ["support_user", "finance_user"])
def test_roles_that_may_not_change_the_catalog_may_not_upload(
    client, role, request, us_jp, django_capture_on_commit_callbacks
):
    client.force_login(request.getfixturevalue(role))

    assert client.get(UPLOAD).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, b"slug,name,coin_price\nrose,Rose,1\n", kind="gifts")

    assert response.status_code == 403
    assert not ImportJob.objects.exists() and not Gift.objects.exists()
    assert "upload/" not in client.get("/admin/catalog/gift/").content.decode()
    assert client.get("/admin/catalog/importjob/").status_code == 200


def test_a_service_call_without_the_permission_is_refused(support_user):
    with pytest.raises(PermissionDenied):
        imports.import_job_start(
            kind="gifts",
            file=SimpleUploadedFile("g.csv", b"slug,name,coin_price\n"),
            actor=support_user,
        )
    assert not ImportJob.objects.exists()


# The admin's quick import, beside the large one: the same lines, errors on the page


def quick_import(client, path_or_content, *, model="gift", name=None, fmt="0"):
    if isinstance(path_or_content, bytes):
        content, name = path_or_content, name or f"{model}.csv"
    else:
        with open(path_or_content, "rb") as file:
            content = file.read()
        name = name or str(path_or_content).rsplit("/", 1)[-1]
    return client.post(
        f"/admin/catalog/{model}/import/",
        {
            "import_file": SimpleUploadedFile(name, content),
            "format": fmt,
            "resource": "0",
        },
    )


def quick_confirm(client, preview, *, model="gift"):
    return client.post(
        f"/admin/catalog/{model}/process_import/",
        preview.context["confirm_form"].initial,
    )


def rows_on_page(html: str, row_class: str) -> list[list[str]]:
    """The cells' text of each <tr class="`row_class` ...">, tags and spaces folded."""
    rows = re.findall(rf'<tr class="{row_class}[^"]*">(.*?)</tr>', html, re.S)
    return [
        [
            " ".join(html_unescape(re.sub(r"<[^>]+>", "", cell)).split()).strip("; ")
            for cell in re.findall(
                r"<td[^>]*>(.*?)</td>", row.replace("</li>", "; "), re.S
            )
        ]
        for row in rows
    ]


DATETIME_MESSAGE = "Enter a date and time, e.g. 2030-01-31 18:00:00."


def test_both_imports_list_the_same_bad_rows_by_the_same_line(
    tmp_path, us_jp, client, catalog_editor
):
    gift_create(slug="rose", name="Rose", coin_price=5)
    path = write_csv(
        tmp_path / "gifts.csv",
        GIFT_HEADER,
        [
            gift_row(1, slug="rose", name="Rose", coin_price="6"),  # line 2: fine
            gift_row(2, coin_price="0"),  # 3
            gift_row(3),  # 4: fine
            gift_row(4, category="gold"),  # 5
            gift_row(5, description="two\nlines"),  # 6: one row, two file lines
            gift_row(6, regions="US|XX"),  # 7
            gift_row(7),  # 8
            gift_row(8, coin_price="ten"),  # 9
            gift_row(9, available_from="next week", is_active="yes"),  # 10
        ],
    )
    client.force_login(catalog_editor)

    page = quick_import(client, path)
    large = run(imports.gifts_import, path)

    html = page.content.decode()
    on_page = rows_on_page(html, "bad-row")
    assert on_page[:-2] == [
        ["3", "coin_price", "0", "Ensure this value is greater than or equal to 1."],
        ["5", "category", "gold", "Value 'gold' is not a valid choice."],
        ["7", "regions", "US|XX", "Unknown region code(s): XX."],
        ["9", "coin_price", "ten", "Enter a whole number."],
    ]
    assert sorted(on_page[-2:]) == [
        ["10", "available_from", "next week", DATETIME_MESSAGE],
        ["10", "is_active", "yes", "Enter 1 or 0."],
    ]
    # The same lines, columns and messages as the large import's.
    assert {(bad.line, bad.column, bad.message) for bad in large.bad_rows} == {
        (int(line), column, message) for line, column, _, message in on_page
    }
    assert "header is line 1" in html
    assert "validation-error-count" not in html  # no badge to hover
    assert "confirm_form" not in page.context
    assert Gift.objects.get(slug="rose").coin_price == 5


def test_the_preview_shows_each_change_as_old_to_new(client, catalog_editor, us_jp):
    gift_create(slug="rose", name="Rose", coin_price=5, sort_order=10)
    gift_create(slug="star", name="Star", coin_price=7, sort_order=20)
    content = (
        ",".join(BASE_GIFT_HEADER)
        + "\nrose,Rose,6,basic,both,,10,1,,,,,,\n"
        + "star,Star,7,basic,both,,20,1,,,,,,\n"
        + "koi,Koi,300,premium,live,,70,1,,,JP,,,\n"
    ).encode()
    client.force_login(catalog_editor)

    preview = quick_import(client, content)

    rows = rows_on_page(preview.content.decode(), "import-row")
    assert rows[0] == ["2", "Change", rows[0][2], "coin_price: 5 -> 6"]
    assert rows[1][:2] == ["3", "Unchanged"] and rows[1][3] == "no change"
    assert rows[2][:2] == ["4", "New"]
    assert "coin_price: 300" in rows[2][3] and "regions: JP" in rows[2][3]
    assert "<del" not in preview.content.decode()


def test_import_and_export_forms_start_on_csv(client, catalog_editor):
    client.force_login(catalog_editor)

    for page in ("import", "export"):
        html = client.get(f"/admin/catalog/gift/{page}/").content.decode()
        select = re.search(r'<select name="format"[^>]*>(.*?)</select>', html, re.S)
        assert re.search(r'<option value="0" selected>csv</option>', select[1]), page
        assert "xlsx" in select[1]


PRICE_CHANGES = "giftpricechange"


def test_scheduled_price_changes_export_and_import_back_unchanged(
    client, catalog_editor
):
    rose = gift_create(slug="rose", coin_price=5)
    later = timezone.localtime() + datetime.timedelta(days=3)
    pending = GiftPriceChange.objects.create(
        gift=rose, coin_price=6, effective_at=later.replace(second=0, microsecond=0)
    )
    GiftPriceChange.objects.create(
        gift=rose,
        coin_price=4,
        effective_at=timezone.now() - datetime.timedelta(days=1),
        applied_at=timezone.now(),
    )
    client.force_login(catalog_editor)

    exported = client.post(
        f"/admin/catalog/{PRICE_CHANGES}/export/",
        {
            "format": "0",
            "resource": "0",
            **{f"giftpricechangeresource_{n}": "on" for n in PRICE_CHANGE_HEADER},
        },
    )

    lines = exported.content.decode().splitlines()
    assert lines == [
        "gift,coin_price,effective_at",
        f"rose,6,{timezone.localtime(pending.effective_at):%Y-%m-%d %H:%M:%S}",
    ]
    preview = quick_import(client, exported.content, model=PRICE_CHANGES)
    assert [row.import_type for row in preview.context["result"].rows] == ["skip"]


PRICE_CHANGE_HEADER = ("gift", "coin_price", "effective_at")


def test_an_imported_price_change_is_scheduled_as_the_form_does(
    client, catalog_editor, django_capture_on_commit_callbacks
):
    rose = gift_create(slug="rose", coin_price=5)
    later = (timezone.localtime() + datetime.timedelta(days=2)).replace(microsecond=0)
    content = f"gift,coin_price,effective_at\nrose,8,{later:%Y-%m-%d %H:%M:%S}\n"
    client.force_login(catalog_editor)

    preview = quick_import(client, content.encode(), model=PRICE_CHANGES)
    assert not GiftPriceChange.objects.exists()
    quick_confirm(client, preview, model=PRICE_CHANGES)

    change = GiftPriceChange.objects.get()
    assert (change.gift, change.coin_price, change.effective_at) == (rose, 8, later)
    assert change.created_by == catalog_editor and change.applied_at is None
    assert Gift.objects.get(slug="rose").coin_price == 5


def test_bad_price_change_rows_are_listed_and_nothing_is_scheduled(
    client, catalog_editor
):
    gift_create(slug="rose", coin_price=5)
    past = timezone.localtime() - datetime.timedelta(hours=1)
    later = timezone.localtime() + datetime.timedelta(days=1)
    content = (
        "gift,coin_price,effective_at\n"
        f"rose,8,{later:%Y-%m-%d %H:%M:%S}\n"  # 2: fine
        f"rose,9,{past:%Y-%m-%d %H:%M:%S}\n"  # 3: in the past
        f"rose,0,{later:%Y-%m-%d %H:%M:%S}\n"  # 4
        f"tulip,8,{later:%Y-%m-%d %H:%M:%S}\n"  # 5
        f"rose,100001,{later:%Y-%m-%d %H:%M:%S}\n"  # 6
    )
    client.force_login(catalog_editor)

    preview = quick_import(client, content.encode(), model=PRICE_CHANGES)

    bad = {(row.line, row.column): row.message for row in preview.context["bad_rows"]}
    assert bad == {
        (3, "effective_at"): "The moment must be in the future.",
        (4, "coin_price"): "Ensure this value is greater than or equal to 1.",
        (5, "gift"): "Unknown gift slug: tulip.",
        (6, "coin_price"): "Ensure this value is less than or equal to 100000.",
    }
    assert "confirm_form" not in preview.context
    assert not GiftPriceChange.objects.exists()


def test_an_import_needs_what_the_hand_edit_needs(client, catalog_editor, us_jp):
    """An editor who may change gifts but not add them cannot add one by import;
    one who may not schedule price changes cannot import them."""
    gift_create(slug="rose", coin_price=5)
    editor = catalog_editor
    editor.user_permissions.clear()
    group = editor.groups.get()
    group.permissions.remove(
        Permission.objects.get(codename="add_gift"),
        Permission.objects.get(codename="add_giftpricechange"),
    )
    editor = type(editor).objects.get(pk=editor.pk)  # no cached permissions
    client.force_login(editor)
    later = timezone.localtime() + datetime.timedelta(days=1)

    gifts = quick_import(client, b"slug,name,coin_price\nkoi,Koi,300\n")
    changes = quick_import(
        client,
        f"gift,coin_price,effective_at\nrose,8,{later:%Y-%m-%d %H:%M:%S}\n".encode(),
        model=PRICE_CHANGES,
    )

    assert (gifts.status_code, changes.status_code) == (403, 403)
    assert client.get("/admin/catalog/gift/import/").status_code == 403
    assert (
        "/admin/catalog/gift/import/"
        not in client.get("/admin/catalog/gift/").content.decode()
    )
    assert not Gift.objects.filter(slug="koi").exists()
    assert not GiftPriceChange.objects.exists()


@pytest.mark.parametrize("role", ["support_user", "finance_user"])
def test_staff_outside_the_catalog_may_not_import_price_changes(client, role, request):
    gift_create(slug="rose", coin_price=5)
    client.force_login(request.getfixturevalue(role))
    later = timezone.localtime() + datetime.timedelta(days=1)

    response = quick_import(
        client,
        f"gift,coin_price,effective_at\nrose,8,{later:%Y-%m-%d %H:%M:%S}\n".encode(),
        model=PRICE_CHANGES,
    )

    assert response.status_code == 403
    assert not GiftPriceChange.objects.exists()


def test_both_imports_list_the_same_bad_price_rows(
    tmp_path, us_jp, client, catalog_editor
):
    bundle_create(sku="coins_100")
    path = write_csv(
        tmp_path / "prices.csv",
        PRICE_HEADER,
        [
            ("coins_100", "US", "app", "1.99", "USD", "", ""),  # 2: fine
            ("coins_999", "US", "app", "1.99", "USD", "", ""),  # 3
            ("coins_100", "XX", "app", "1.99", "USD", "", ""),  # 4
            ("coins_100", "US", "web", "-5", "USD", "", ""),  # 5
            ("coins_100", "JP", "web", "1.99", "USD", "", ""),  # 6
            ("coins_100", "US", "web", "1.99", "USD", "tomorrow", ""),  # 7
        ],
    )
    client.force_login(catalog_editor)

    page = quick_import(client, path, model="bundleprice")
    large = run(imports.bundle_prices_import, path)

    on_page = rows_on_page(page.content.decode(), "bad-row")
    assert [row[:3] for row in on_page] == [
        ["3", "sku", "coins_999"],
        ["4", "region", "XX"],
        ["5", "price", "-5"],
        ["6", "currency", "USD"],
        ["7", "effective_at", "tomorrow"],
    ]
    assert {(bad.line, bad.column, bad.message) for bad in large.bad_rows} == {
        (int(line), column, message) for line, column, _, message in on_page
    }
    assert not BundlePrice.objects.exists()


def test_scheduled_price_changes_round_trip_through_xlsx(client, catalog_editor):
    rose = gift_create(slug="rose", coin_price=5)
    later = (timezone.localtime() + datetime.timedelta(days=3)).replace(microsecond=0)
    GiftPriceChange.objects.create(gift=rose, coin_price=6, effective_at=later)
    client.force_login(catalog_editor)

    exported = client.post(
        f"/admin/catalog/{PRICE_CHANGES}/export/",
        {
            "format": "1",
            "resource": "0",
            **{f"giftpricechangeresource_{n}": "on" for n in PRICE_CHANGE_HEADER},
        },
    )
    preview = quick_import(
        client, exported.content, model=PRICE_CHANGES, name="changes.xlsx", fmt="1"
    )

    assert [row.import_type for row in preview.context["result"].rows] == ["skip"]
    assert GiftPriceChange.objects.count() == 1
