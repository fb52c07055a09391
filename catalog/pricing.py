"""The rules of regional bundle prices: price points, the web discount, and how a
price reads. Pure functions on Decimal and Money; docs/pricing.md has the examples.
"""

import functools
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision
from django.core.exceptions import ValidationError
from djmoney.money import Money
from moneyed import CurrencyDoesNotExist

from .models import Region

CENT = Decimal("0.01")
ONE = Decimal(1)
HUNDRED = Decimal(100)
STEPS = {
    Region.PriceRule.WHOLE: Decimal(1),
    Region.PriceRule.ROUND_10: Decimal(10),
    Region.PriceRule.ROUND_100: Decimal(100),
}


def price_point_round(amount: Decimal, *, rule: str) -> Decimal:
    """The price point nearest to `amount` under `rule`; a half rounds up.

    - ENDS_99: the nearest x.99 (3.48 -> 2.99, 3.49 -> 3.99), at least 0.99.
    - WHOLE: the nearest whole unit (148.49 -> 148, 148.5 -> 149), at least 1.
    - ROUND_10, ROUND_100: the nearest multiple (84.99 -> 80, 85 -> 90), at least
      one step (10 or 100).
    """
    if amount <= 0:
        raise ValueError(f"A price point needs a positive amount, not {amount}.")
    if rule == Region.PriceRule.ENDS_99:
        # x.99 points are whole numbers less a cent: round amount + 0.01 to a whole.
        point = max(_nearest(amount + CENT, step=ONE) - CENT, ONE - CENT)
    else:
        step = STEPS[rule]
        point = max(_nearest(amount, step=step), step)
    return point.quantize(CENT)


def _nearest(amount: Decimal, *, step: Decimal) -> Decimal:
    return (amount / step).quantize(ONE, rounding=ROUND_HALF_UP) * step


def app_price_derive(*, base: Decimal, rate: Decimal, rule: str) -> Decimal:
    """The in-app price: the USD `base` at `rate`, rounded to a price point."""
    return price_point_round(base * rate, rule=rule)


def web_price_derive(
    *, app_price: Decimal, discount_percent: Decimal, rule: str
) -> Decimal:
    """The web price: the in-app price less the discount, rounded to a price point.

    A discount smaller than half a price step rounds away (10% off 4.99 is 4.491,
    which rounds back to 4.99).
    """
    return price_point_round(
        app_price * (HUNDRED - discount_percent) / HUNDRED, rule=rule
    )


def price_parse(*, amount: str, currency: str, region: Region | None) -> Money:
    """A hand-set price as typed in a file: `amount` in `currency`, for `region`.

    Raises ValidationError keyed "currency" (another currency than the region's, an
    unknown one) or "price" (not a number). `BundlePrice.clean` checks the rest:
    more than zero, no more decimals than the currency has.
    """
    currency = currency.strip().upper()
    if region is not None and currency != region.currency:
        raise ValidationError(
            {"currency": f"Prices in {region.code} are in {region.currency}."}
        )
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise ValidationError({"price": "Enter a number, e.g. 4.99."})
    try:
        return Money(value, currency)
    except CurrencyDoesNotExist:
        raise ValidationError({"currency": f"Unknown currency: {currency}."}) from None


def amount_text(price: Money) -> str:
    """The amount as a decimal string with the currency's digits: "0.99", "480"."""
    digits = get_currency_precision(price.currency.code)
    return str(price.amount.quantize(ONE.scaleb(-digits)))


@functools.cache
def _locale(region_code: str) -> Locale:
    # CLDR's most likely locale for the country: de_DE for DE, ja_JP for JP.
    try:
        return Locale.parse(f"und_{region_code}")
    except UnknownLocaleError:
        return Locale.parse("en_US")


def price_format(*, price: Money, region: Region) -> str:
    """`price` as shoppers in `region` read it: "$0.99", "0,99 €", "￥480", "Rp15.600".

    Regions priced in whole units or multiples show no decimals for whole amounts.
    """
    locale = _locale(region.code)
    code = price.currency.code
    whole = price.amount == price.amount.to_integral_value()
    if whole and region.price_rule != Region.PriceRule.ENDS_99:
        pattern = locale.currency_formats["standard"].pattern.replace(".00", "")
        return format_currency(
            price.amount, code, format=pattern, locale=locale, currency_digits=False
        )
    return format_currency(price.amount, code, locale=locale)
