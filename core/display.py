"""How numbers and money read for staff: the admin, the dashboard, messages.

One module, so a figure reads the same on every screen: thousands separated, in the
locale `settings.DISPLAY_LOCALE` names (CLDR, "en" by default), and never rounded
into something that is not there (half a diamond is 0.5, not 1).

- `coins(1000000)` "1,000,000"; `coins(-39860)` "-39,860"; `coins(1, unit="coin")`
  "1 coin"
- `diamonds(units)` from ledger units (ten-thousandths): "250,000", "0.5", "1.2345";
  `diamonds(units, unit=True)` "0.5 diamonds", "1 diamond"
- `money(Money("994.70", "USD"))` "$994.70"; KRW "₩6,737"; IDR "IDR 78,800";
  `money_in(Decimal("994.70"), "USD")` the same from an amount and its code
- `number(Decimal("1350.25"))` "1,350.25"; `rate(Decimal("150.00000000"))` "150"
- `when(datetime)` "2026-12-07 14:05" in the current time zone
- `parse_diamonds("1,234.5")` 12345000: what `diamonds` shows, back to units

`signed=True` puts a plus before positive amounts (a change, not a balance). Every
function shows `None` as "—". Exports keep plain numbers (they import back).
"""

import datetime
import functools
import re
from decimal import ROUND_DOWN, Decimal, localcontext

from babel import Locale
from babel.numbers import (
    format_currency,
    format_decimal,
    get_currency_precision,
    get_currency_symbol,
    get_plus_sign_symbol,
    parse_decimal,
)
from django.conf import settings
from django.utils import timezone
from djmoney.money import Money

from .units import DIAMOND_PLACES, DIAMOND_SCALE

NONE = "—"
# Python's own limit for an int written out (sys.int_max_str_digits).
MAX_DIGITS = 4300


@functools.cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


def locale() -> Locale:
    """The locale every figure is shown in (`DISPLAY_LOCALE`)."""
    return _locale(getattr(settings, "DISPLAY_LOCALE", "en"))


def language_tag() -> str:
    """The locale as a browser names it (de-DE), for scripts that format figures
    as this module does (Intl.NumberFormat)."""
    return str(locale()).replace("_", "-")


def _signed(text: str, value, signed: bool) -> str:
    return f"{get_plus_sign_symbol(locale())}{text}" if signed and value > 0 else text


def _room(value: Decimal):
    """A decimal context with room for every digit of `value`: a figure is shown
    exactly however large it is (the default 28 digits would round it, or fail)."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a figure.")
    _, digits, exponent = value.as_tuple()
    if len(digits) + abs(exponent) > MAX_DIGITS:
        raise ValueError("Too many digits to show.")
    return localcontext(prec=max(28, len(digits) + abs(exponent) + 10))


def _exact(value: Decimal) -> Decimal:
    """The value without trailing zeros: 0.5000 is shown 0.5, 250000.0000 250,000."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def number(value, *, signed: bool = False) -> str:
    """An integer or a `Decimal` with thousands separators and every decimal it has
    (trailing zeros dropped)."""
    if value is None:
        return NONE
    if isinstance(value, float):
        raise TypeError("Figures are int or Decimal, never float.")
    value = Decimal(value)
    with _room(value):
        text = format_decimal(
            _exact(value), locale=locale(), decimal_quantization=False
        )
    return _signed(text, value, signed)


def _counted(text: str, value, noun: str | None) -> str:
    """`text` and its noun, plural unless the amount is exactly one."""
    if noun is None:
        return text
    return f"{text} {noun if abs(value) == 1 else noun + 's'}"


def coins(value: int | None, *, signed: bool = False, unit: str | None = None) -> str:
    """Coins are whole: "1,000,000"; with `unit` ("coin", "bonus coin") the noun
    follows: "1 coin", "5 bonus coins"."""
    if value is None:
        return NONE
    if isinstance(value, Decimal) and value != value.to_integral_value():
        raise ValueError(f"{value} is not a whole number of coins.")
    return _counted(number(int(value), signed=signed), value, unit)


def diamonds(
    units: int | None,
    *,
    signed: bool = False,
    places: int | None = None,
    unit: bool = False,
) -> str:
    """Ledger units as diamonds with the decimals they have: 5000 units "0.5",
    2,500,000,000 units "250,000". `places` caps the decimals, rounding toward
    zero: a screen never shows a diamond that is not there. `unit` adds the noun:
    "0.5 diamonds", "1 diamond"."""
    if units is None:
        return NONE
    if isinstance(units, Decimal) and units.as_tuple().exponent == 0:
        # PostgreSQL's SUM of integer units is an integral NUMERIC; diamonds as a
        # Decimal (diamonds_from_units: four places) are still refused.
        units = int(units)
    if not isinstance(units, int):
        raise TypeError(f"Diamonds are shown from integer units, not {units!r}.")
    with _room(Decimal(units)):
        value = Decimal(units).scaleb(-DIAMOND_PLACES)
        if places is not None:
            value = value.quantize(Decimal(1).scaleb(-places), ROUND_DOWN)
    return _counted(number(value, signed=signed), value, "diamond" if unit else None)


def parse_diamonds(text: str) -> int:
    """What `diamonds` showed, back to units; ValueError when it is not a figure or
    finer than a unit."""
    try:
        # Room for every digit written, as `diamonds` had.
        with localcontext(prec=max(28, len(text) + 10)):
            value = parse_decimal(
                text.strip().lstrip("+"), locale=locale(), strict=True
            )
            units = value * DIAMOND_SCALE
    except Exception as error:  # babel raises NumberFormatError, a ValueError kin
        raise ValueError(f"{text!r} is not a number of diamonds.") from error
    if units != units.to_integral_value():
        raise ValueError(f"{text!r} is finer than the smallest amount of diamonds.")
    return int(units)


def money_in(amount: Decimal | None, currency: str, *, signed: bool = False) -> str:
    """`money` for an amount stored beside its currency code (a payout's net)."""
    return NONE if amount is None else money(Money(amount, currency), signed=signed)


def money(value: Money | None, *, signed: bool = False) -> str:
    """An amount in its currency as the locale writes it, with the currency's
    digits ("$994.70", "₩6,737"); a finer amount keeps its extra decimals."""
    if value is None:
        return NONE
    amount, code = value.amount, value.currency.code
    digits = Decimal(1).scaleb(-_currency_digits(code))
    with _room(amount):
        shown = amount.quantize(digits) if amount == amount.quantize(digits) else amount
        text = format_currency(shown, code, locale=locale(), decimal_quantization=False)
    return _signed(_currency_spaced(text, code), amount, signed)


@functools.cache
def _currency_digits(code: str) -> int:
    return get_currency_precision(code)


def _currency_spaced(text: str, code: str) -> str:
    """CLDR's currency spacing, which babel leaves out: a symbol of letters gets a
    no-break space before or after the digits it touches ("IDR 78,800")."""
    symbol = get_currency_symbol(code, locale=locale())
    if symbol[-1:].isalpha():
        text = re.sub(rf"({re.escape(symbol)})(?=[\d\-−])", "\\1\u00a0", text)
    if symbol[:1].isalpha():
        text = re.sub(rf"(?<=\d)({re.escape(symbol)})", "\u00a0\\1", text)
    return text


def rate(value: Decimal | None) -> str:
    """An exchange or cash rate: every decimal it has, none of its padding
    ("150", "0.005", "1,350.12345678")."""
    return number(value)


def when(value: datetime.datetime | None) -> str:
    """A moment, to the minute, in the current time zone: "2026-12-07 14:05"."""
    if value is None:
        return NONE
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}"
