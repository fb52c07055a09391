"""The price-point rules, the web discount and how prices read: exact Decimals."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from catalog import pricing
from catalog.models import Region

Rule = Region.PriceRule
D = Decimal


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0.01", "0.99"),  # never below the lowest point
        ("0.99", "0.99"),
        ("1.48", "0.99"),  # 0.49 from 0.99, 0.51 from 1.99
        ("1.49", "1.99"),  # halfway: rounds up
        ("3.9421", "3.99"),
        ("4.4899", "3.99"),
        ("4.49", "4.99"),
        ("5.00", "4.99"),
        ("99.99", "99.99"),
        ("1624.99", "1624.99"),
    ],
)
def test_ends_99_rounds_to_the_nearest_point_ending_in_99(amount, expected):
    assert pricing.price_point_round(D(amount), rule=Rule.ENDS_99) == D(expected)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0.2", "1"),  # never below one unit
        ("0.5", "1"),
        ("148.49", "148"),
        ("148.5", "149"),  # halfway: rounds up
        ("480", "480"),
        ("1336.5", "1337"),
    ],
)
def test_whole_rounds_to_the_nearest_unit(amount, expected):
    assert pricing.price_point_round(D(amount), rule=Rule.WHOLE) == D(expected)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("3", "10"),  # never below one step
        ("82.17", "80"),
        ("84.99", "80"),
        ("85", "90"),  # halfway: rounds up
        ("490", "490"),
    ],
)
def test_round_10_rounds_to_the_nearest_multiple_of_10(amount, expected):
    assert pricing.price_point_round(D(amount), rule=Rule.ROUND_10) == D(expected)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("49", "100"),  # never below one step
        ("15642", "15600"),
        ("15649.99", "15600"),
        ("15650", "15700"),  # halfway: rounds up
        ("1579842", "1579800"),
    ],
)
def test_round_100_rounds_to_the_nearest_multiple_of_100(amount, expected):
    assert pricing.price_point_round(D(amount), rule=Rule.ROUND_100) == D(expected)


@pytest.mark.parametrize("rule", Rule.values)
@pytest.mark.parametrize("amount", ["0", "-1"])
def test_a_price_point_needs_a_positive_amount(rule, amount):
    with pytest.raises(ValueError, match="positive amount"):
        pricing.price_point_round(D(amount), rule=rule)


@pytest.mark.parametrize(
    ("base", "rate", "rule", "expected"),
    [
        ("0.99", "1", Rule.ENDS_99, "0.99"),
        ("4.99", "0.79", Rule.ENDS_99, "3.99"),
        ("0.99", "150", Rule.WHOLE, "149"),
        ("0.99", "83", Rule.ROUND_10, "80"),
        ("0.99", "15800", Rule.ROUND_100, "15600"),
    ],
)
def test_app_price_is_the_base_at_the_rate_rounded(base, rate, rule, expected):
    price = pricing.app_price_derive(base=D(base), rate=D(rate), rule=rule)
    assert price == D(expected)


@pytest.mark.parametrize(
    ("app", "discount", "rule", "expected"),
    [
        ("4.99", "0", Rule.ENDS_99, "4.99"),
        ("4.99", "15", Rule.ENDS_99, "3.99"),  # 4.2415
        ("4.99", "10", Rule.ENDS_99, "4.99"),  # 4.491: the discount rounds away
        ("0.99", "15", Rule.ENDS_99, "0.99"),  # nothing below the lowest point
        ("749", "10", Rule.WHOLE, "674"),  # 674.1
        ("410", "20", Rule.ROUND_10, "330"),  # 328
        ("78800", "20", Rule.ROUND_100, "63000"),  # 63040
    ],
)
def test_web_price_is_the_app_price_less_the_discount_rounded(
    app, discount, rule, expected
):
    price = pricing.web_price_derive(
        app_price=D(app), discount_percent=D(discount), rule=rule
    )
    assert price == D(expected)


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (Money("0.99", "USD"), "0.99"),
        (Money("5", "EUR"), "5.00"),
        (Money("480.00", "JPY"), "480"),
        # CLDR 47 (babel 2.19) gives the rupiah no decimals, as the stores price it.
        (Money("15600.00", "IDR"), "15600"),
    ],
)
def test_amount_text_has_the_currency_digits(price, expected):
    assert pricing.amount_text(price) == expected


@pytest.mark.parametrize(
    ("code", "currency", "rule", "amount", "expected"),
    [
        ("US", "USD", Rule.ENDS_99, "0.99", "$0.99"),
        ("US", "USD", Rule.ENDS_99, "5.00", "$5.00"),
        ("JP", "JPY", Rule.WHOLE, "480.00", "￥480"),
        ("ID", "IDR", Rule.ROUND_100, "15600.00", "Rp15.600"),
        ("BR", "BRL", Rule.ENDS_99, "15650.50", "R$\xa015.650,50"),
        ("DE", "EUR", Rule.ENDS_99, "0.99", "0,99\xa0€"),
        ("DE", "EUR", Rule.ENDS_99, "1234.99", "1.234,99\xa0€"),
    ],
)
def test_prices_read_as_shoppers_in_the_region_read_them(
    code, currency, rule, amount, expected
):
    region = Region(code=code, currency=currency, price_rule=rule)
    formatted = pricing.price_format(price=Money(amount, currency), region=region)
    assert formatted == expected
