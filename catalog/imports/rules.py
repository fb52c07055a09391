"""The rules of an imported file's cells, once for both imports: the admin's
(`catalog.resources`, django-import-export) and the streaming one (`rows`)."""

import datetime
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TypeVar

from django.core.exceptions import ValidationError
from djmoney.money import Money
from import_export.widgets import BooleanWidget, DateTimeWidget

from .. import languages, selectors
from ..models import BundlePrice

T = TypeVar("T")

# The export's columns, so an exported file imports again.
GIFT_COLUMNS = (
    "slug",
    "name",
    "coin_price",
    "category",
    "placement",
    "description",
    "sort_order",
    "is_active",
    "available_from",
    "available_until",
    "regions",
    "sponsor_name",
    "sponsor_starts_at",
    "sponsor_ends_at",
)
# `name` and `description` are English; each other language has a column per
# translated field, named by its code: `name_de`, `description_pt-br`.
TRANSLATION_COLUMNS = {
    f"{field}_{code}": languages.column(field, code)
    for code in languages.others()
    for field in languages.TRANSLATED
}
GIFT_COLUMNS = (*GIFT_COLUMNS, *TRANSLATION_COLUMNS)
# File column -> the translated field it writes (`name_pt-br` -> `name`).
TRANSLATED_FIELD_OF = {
    f"{field}_{code}": field
    for code in languages.others()
    for field in languages.TRANSLATED
}
# Model field -> file column, for the model's validation errors.
TRANSLATION_COLUMN_OF = {attr: column for column, attr in TRANSLATION_COLUMNS.items()}
# What an English column writes besides the field itself (the English column,
# which the field mirrors), so the text reads the same in every language.
_ENGLISH_COLUMNS = {
    field: languages.column(field, languages.DEFAULT) for field in languages.TRANSLATED
}
# Checked as the field they mirror, so an error is said once, in its column.
ENGLISH_MIRRORS = tuple(_ENGLISH_COLUMNS.values())
_TRANSLATED_PREFIXES = tuple(f"{field}_" for field in languages.TRANSLATED)
# The export adds `source`; an import always adds hand-set rows.
PRICE_COLUMNS = ("sku", "region", "channel", "price", "currency", "effective_at")


def gift_attributes(columns: Iterable[str]) -> list[str]:
    """The gift fields a file's gift columns write."""
    attributes = []
    for name in columns:
        attributes.append(TRANSLATION_COLUMNS.get(name, name))
        if name in _ENGLISH_COLUMNS:
            attributes.append(_ENGLISH_COLUMNS[name])
    return attributes


def translation_parse(value: str, field: str) -> str | None:
    """An empty translation is no translation (null, as the admin saves it), also
    one of only spaces or joiners, so the English text shows instead; control and
    format characters are refused with the model's message."""
    if languages.invisible(value):
        return None
    return text_parse(value, languages.TEXT_VALIDATORS[field])


def text_parse(value: str, validate) -> str:
    """`value` if `validate` takes it; its message as the cell's error if not."""
    try:
        validate(value)
    except ValidationError as error:
        raise ValueError(error.messages[0]) from None
    return value


_TRANSLATION_ATTRIBUTES = frozenset(TRANSLATION_COLUMNS.values())


def gift_value(gift, attribute: str):
    """What a gift holds in `attribute`, as a file compares it: an empty
    translation is none, whether it is stored empty or null."""
    value = getattr(gift, attribute)
    return (value or None) if attribute in _TRANSLATION_ATTRIBUTES else value


def unknown_language(column: str) -> str | None:
    """What is wrong with a column that looks like a translation of a language we
    do not have (`name_xx`, or `name_en`: English is `name`), or None."""
    if column in TRANSLATION_COLUMNS or not column.startswith(_TRANSLATED_PREFIXES):
        return None
    return (
        f"Unknown language in column {column}: the languages are "
        f"{', '.join(languages.others())} (English is the column without a suffix)."
    )


def import_reason(file_name: str | None) -> str:
    """The change reason of what an import writes, on the history pages."""
    return f"Import of {file_name or 'a file'}"[:100]


_DATETIME = DateTimeWidget()
_BOOLEAN = BooleanWidget()


def datetime_parse(value: str) -> datetime.datetime | None:
    """A moment as the export writes it (the import-export widget's formats)."""
    try:
        return _DATETIME.clean(value)
    except ValueError:
        raise ValueError("Enter a date and time, e.g. 2030-01-31 18:00:00.") from None


def integer_parse(value: str) -> int | None:
    if not value:
        return None
    if len(value) > 20 or not value.lstrip("+-").isdigit():
        raise ValueError("Enter a whole number.")
    return int(value)


def boolean_parse(value: str) -> bool:
    if value in _BOOLEAN.TRUE_VALUES:
        return True
    if value in _BOOLEAN.FALSE_VALUES:
        return False
    raise ValueError("Enter 1 or 0.")


def regions_parse(value, known: Callable[[set[str]], Mapping[str, T]]) -> list[T]:
    """The regions a cell names: codes split by `|`; an unknown code is an error,
    not dropped. `known(codes)` gives the regions (or their ids) by code."""
    codes = {
        code.strip().upper() for code in str(value or "").split("|") if code.strip()
    }
    regions = known(codes)
    unknown = codes - regions.keys()
    if unknown:
        raise ValueError(f"Unknown region code(s): {', '.join(sorted(unknown))}.")
    return [regions[code] for code in codes]


def record_by_key(
    value, find: Callable[[str], T | None], *, label: str, uppercase: bool = False
) -> T:
    """The record a key cell names (a sku, a region code); an empty or unknown key
    is an error. `find(key)` gives the record (or its id), or None."""
    key = str(value or "").strip()
    if uppercase:
        key = key.upper()
    if not key:
        raise ValueError("Required.")
    record = find(key)
    if record is None:
        raise ValueError(f"Unknown {label}: {key}.")
    return record


_PRICE_VALUES = (
    "bundle_id",
    "region_id",
    "channel",
    "effective_at",
    "price",
    "price_currency",
)

# (bundle id, region id, channel, moment or None): one price cell at one moment.
PriceCell = tuple[int, int, str, datetime.datetime | None]


def bundle_prices_there(
    cells: Iterable[PriceCell], *, now: datetime.datetime
) -> dict[PriceCell, tuple[Decimal, str]]:
    """What each cell holds: with a moment, the row from that moment; without, the
    price in force at `now`. A price row equal to it is skipped (`price_is_there`),
    so an export imports back as all skips, even after its moments have passed."""
    cells = list(cells)
    bundle_ids = {cell[0] for cell in cells}
    region_ids = {cell[1] for cell in cells}
    moments = {cell[3] for cell in cells if cell[3]}
    there = {}
    if moments:
        at_moments = BundlePrice.objects.filter(
            bundle_id__in=bundle_ids, region_id__in=region_ids, effective_at__in=moments
        )
        for bundle, region, channel, moment, amount, currency in at_moments.values_list(
            *_PRICE_VALUES
        ):
            there[bundle, region, channel, moment] = (amount, currency)
    if any(cell[3] is None for cell in cells):
        in_force = selectors.bundle_prices_in_force(when=now).filter(
            bundle_id__in=bundle_ids, region_id__in=region_ids
        )
        for bundle, region, channel, _, amount, currency in in_force.values_list(
            *_PRICE_VALUES
        ):
            there[bundle, region, channel, None] = (amount, currency)
    return there


def price_is_there(there: tuple[Decimal, str] | None, price: Money) -> bool:
    return there == (price.amount, price.currency.code)
