from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallets.models import AccountKind, amount_display
from wallets.units import (
    DIAMOND_SCALE,
    diamonds_display,
    diamonds_from_units,
    units_from_diamonds,
    whole_diamonds_from_units,
)


@pytest.mark.parametrize(
    ("units", "diamonds"),
    [(0, "0.0000"), (1, "0.0001"), (50_000, "5.0000"), (-15_000, "-1.5000")],
)
def test_units_become_diamonds_with_four_decimals(units, diamonds):
    assert str(diamonds_from_units(units)) == diamonds
    assert units_from_diamonds(Decimal(diamonds)) == units


@given(st.integers(-(2**63), 2**63 - 1))
def test_every_amount_the_ledger_holds_goes_to_diamonds_and_back_exactly(units):
    assert units_from_diamonds(diamonds_from_units(units)) == units


def test_a_fraction_finer_than_a_unit_is_refused_not_rounded():
    with pytest.raises(ValueError, match="the smallest amount is 0.0001"):
        units_from_diamonds(Decimal("0.00005"))
    assert units_from_diamonds(25_000) == 25_000 * DIAMOND_SCALE


def test_staff_read_diamonds_with_separators_and_whole_ones_rounded_down():
    assert diamonds_display(200_000_000_000) == "20,000,000"
    assert diamonds_display(-15_000, signed=True) == "-1.5"
    assert diamonds_display(15_000, signed=True) == "+1.5"
    assert diamonds_display(20_000 * DIAMOND_SCALE - 1, places=0) == "19,999"
    assert whole_diamonds_from_units(20_000 * DIAMOND_SCALE - 1) == 19_999
    assert amount_display(AccountKind.DIAMONDS, 50_000) == "5 diamonds"
    assert amount_display(AccountKind.DIAMONDS, 5_000) == "0.5 diamonds"
