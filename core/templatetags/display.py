"""core.display as template filters: `{% load display %}{{ units|diamonds }}`,
`{{ price|money }}`, `{{ amount|money:"JPY" }}` (a Decimal in that currency)."""

from django import template
from djmoney.money import Money

from core import display

register = template.Library()

for name in ("coins", "diamonds", "number", "rate", "when"):
    register.filter(name, getattr(display, name))


@register.filter
def money(value, currency=None):
    if value is not None and currency is not None and not isinstance(value, Money):
        value = Money(value, str(currency))
    return display.money(value)
