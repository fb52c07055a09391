"""One display of numbers and money (core.display): what staff read, exactly."""

from decimal import Decimal

import pytest
from babel.numbers import parse_decimal
from django.template import Context, Template
from django.test import override_settings
from djmoney.money import Money
from hypothesis import given
from hypothesis import strategies as st

from core import display
from core.units import DIAMOND_SCALE

NBSP = "\u00a0"
# Locales that group and mark decimals differently: 1,234.5 / 1.234,5 /
# 1 234,5 (narrow no-break space) / 12,34,567.5 (Indian grouping) / 1 234,5.
LOCALES = ("en", "de_DE", "fr_FR", "hi_IN", "sv_SE")
# Up to a hundred billion diamonds, either way, to the unit.
UNITS = st.integers(min_value=-(10**15), max_value=10**15)
# Any integer the ledger's 64-bit columns hold, and past them.
ANY_UNITS = st.integers(min_value=-(10**40), max_value=10**40)


@pytest.mark.parametrize(
    ("units", "shown"),
    [
        (5_000, "0.5"),
        (10_000, "1"),
        (2_500_000_000, "250,000"),
        (51_250_000, "5,125"),
        (12_345, "1.2345"),
        (1, "0.0001"),
        (0, "0"),
        (-12_345, "-1.2345"),
        (-398_600_000, "-39,860"),
        (1_000_000_000_000_005, "100,000,000,000.0005"),
    ],
)
def test_diamonds_show_the_decimals_they_have_and_no_more(units, shown):
    assert display.diamonds(units) == shown


def test_half_a_diamond_is_never_shown_as_one():
    assert display.diamonds(5_000) == "0.5"
    assert display.diamonds(5_000, unit=True) == "0.5 diamonds"
    assert display.diamonds(10_000, unit=True) == "1 diamond"
    assert display.diamonds(5_000, places=0) == "0"


def test_fewer_places_round_toward_zero_never_up():
    assert display.diamonds(19_999, places=0) == "1"
    assert display.diamonds(-19_999, places=0) == "-1"
    assert display.diamonds(12_399, places=2) == "1.23"


def test_signed_amounts_carry_a_plus_and_a_minus():
    assert display.diamonds(5_000, signed=True) == "+0.5"
    assert display.diamonds(-5_000, signed=True) == "-0.5"
    assert display.diamonds(0, signed=True) == "0"
    assert display.coins(1_000, signed=True, unit="coin") == "+1,000 coins"
    assert display.coins(-1, signed=True, unit="bonus coin") == "-1 bonus coin"


@pytest.mark.parametrize(
    ("coins", "shown"),
    [(0, "0"), (1000, "1,000"), (1_000_000, "1,000,000"), (-39_860, "-39,860")],
)
def test_coins_are_whole_with_thousands_separated(coins, shown):
    assert display.coins(coins) == shown


def test_figures_past_the_default_28_digits_are_shown_exactly():
    """A bad form value (10**30 coins) is shown back on the error page, and the
    ledger's integers have no ceiling but the database's."""
    assert display.coins(10**30) == "1," + ",".join(["000"] * 10)
    assert display.diamonds(10**40 + 5) == "1," + ",".join(["000"] * 12) + ".0005"
    huge = Decimal("1234567890123456789012345678901.5")
    assert display.number(huge) == "1,234,567,890,123,456,789,012,345,678,901.5"
    assert display.money(Money(huge, "USD")) == (
        "$1,234,567,890,123,456,789,012,345,678,901.50"
    )
    assert display.parse_diamonds(display.diamonds(10**40 + 5)) == 10**40 + 5


def test_what_is_not_a_figure_is_refused():
    with pytest.raises(ValueError, match="not a figure"):
        display.number(Decimal("NaN"))
    with pytest.raises(ValueError, match="Too many digits"):
        display.number(Decimal("1E+999999"))


def test_a_fraction_of_a_coin_or_a_float_is_refused_not_rounded():
    with pytest.raises(ValueError, match="not a whole number of coins"):
        display.coins(Decimal("1.5"))
    with pytest.raises(TypeError, match="never float"):
        display.number(0.1)


def test_diamonds_are_shown_from_units_only():
    """A Decimal of diamonds passed where units belong would read 10,000 times
    too small: it is refused."""
    with pytest.raises(TypeError, match="integer units"):
        display.diamonds(Decimal("0.5"))
    with pytest.raises(TypeError, match="integer units"):
        display.diamonds(Decimal("2000.0000"))  # diamonds_from_units' four places


def test_postgresqls_sum_of_units_is_shown_as_units():
    # SUM of a bigint column is an integral NUMERIC on PostgreSQL.
    assert display.diamonds(Decimal("20000000")) == display.diamonds(20_000_000)
    assert display.diamonds(Decimal("20000000")) == "2,000"


@pytest.mark.parametrize(
    ("money", "shown"),
    [
        (Money("994.70", "USD"), "$994.70"),
        (Money("1005", "USD"), "$1,005.00"),
        (Money("1005", "EUR"), "€1,005.00"),
        (Money("6737", "KRW"), "₩6,737"),
        (Money("78800", "IDR"), f"IDR{NBSP}78,800"),
        (Money("480", "JPY"), "¥480"),
        (Money("12.5", "TRY"), f"TRY{NBSP}12.50"),
        (Money("-39860", "USD"), "-$39,860.00"),
    ],
)
def test_money_reads_with_its_currency_and_the_currencys_digits(money, shown):
    assert display.money(money) == shown


def test_money_finer_than_its_currency_keeps_every_digit():
    """Rounding would show money that is not there (or hide money that is)."""
    assert display.money(Money("0.005", "USD")) == "$0.005"
    assert display.money(Money("6737.5", "KRW")) == "₩6,737.5"


def test_nothing_reads_as_a_dash():
    for shown in (
        display.coins(None),
        display.diamonds(None),
        display.money(None),
        display.number(None),
        display.rate(None),
        display.when(None),
    ):
        assert shown == "—"


@pytest.mark.parametrize(
    ("rate", "shown"),
    [
        (Decimal("150.00000000"), "150"),
        (Decimal("0.00500000"), "0.005"),
        (Decimal("15780.12345678"), "15,780.12345678"),
    ],
)
def test_rates_show_every_decimal_and_none_of_the_padding(rate, shown):
    assert display.rate(rate) == shown


@override_settings(DISPLAY_LOCALE="de_DE")
def test_the_locale_comes_from_settings():
    assert display.diamonds(12_345_678) == "1.234,5678"
    assert display.coins(1_000_000) == "1.000.000"
    assert display.money(Money("1234.5", "EUR")) == f"1.234,50{NBSP}€"
    assert display.parse_diamonds("1.234,5678") == 12_345_678
    assert display.money_in(Decimal("1234.5"), "EUR") == f"1.234,50{NBSP}€"
    # What the payout queue's script hands Intl.NumberFormat.
    assert display.language_tag() == "de-DE"


def test_an_amount_beside_its_currency_code_reads_as_money():
    assert display.money_in(Decimal("1484.75"), "USD") == "$1,484.75"
    assert display.money_in(Decimal("-15.25"), "USD", signed=True) == "-$15.25"
    assert display.money_in(None, "USD") == display.NONE


@given(units=UNITS | ANY_UNITS, locale=st.sampled_from(LOCALES), signed=st.booleans())
def test_diamonds_read_back_as_the_same_units(units, locale, signed):
    with override_settings(DISPLAY_LOCALE=locale):
        shown = display.diamonds(units, signed=signed)
        assert display.parse_diamonds(shown) == units


@given(units=UNITS)
def test_diamonds_group_thousands_and_keep_at_most_four_decimals(units):
    shown = display.diamonds(units)
    whole, _, decimals = shown.lstrip("-").partition(".")
    assert len(decimals) <= 4
    assert not decimals.endswith("0")
    groups = whole.split(",")
    assert all(len(group) == 3 for group in groups[1:])
    assert 1 <= len(groups[0]) <= 3
    assert shown.startswith("-") == (units < 0)
    assert Decimal(shown.replace(",", "")) * DIAMOND_SCALE == units


@given(
    amount=st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2),
    locale=st.sampled_from(LOCALES),
)
def test_numbers_read_back_as_the_same_value(amount, locale):
    with override_settings(DISPLAY_LOCALE=locale):
        assert parse_decimal(display.number(amount), locale=locale) == amount


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "0.00001", "1,23,4.5x"])
def test_what_is_not_a_figure_of_diamonds_is_refused(text):
    with pytest.raises(ValueError):
        display.parse_diamonds(text)


def test_templates_use_the_same_display():
    template = Template(
        "{% load display %}{{ units|diamonds }} · {{ coins|coins }} · "
        "{{ price|money }} · {{ amount|money:'JPY' }} · {{ rate|rate }}"
    )
    shown = template.render(
        Context(
            {
                "units": 2_500_005_000,
                "coins": 1_000_000,
                "price": Money("994.7", "USD"),
                "amount": Decimal("480.00"),
                "rate": Decimal("150.00000000"),
            }
        )
    )
    assert shown == "250,000.5 · 1,000,000 · $994.70 · ¥480 · 150"
