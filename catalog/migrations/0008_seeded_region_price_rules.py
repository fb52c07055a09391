"""Regions created by the first seed got 0004's defaults (.99 endings, no web
discount, tax included), which do not fit every market: JPY has no cents. Give them
the seed's rules, unless staff have edited the region since 0004 (a history row)."""

from decimal import Decimal

from django.db import migrations

DEFAULTS = ("ends_99", Decimal("0"), True)
SEEDED = {
    "US": ("USD", "ends_99", Decimal("0"), False),
    "GB": ("GBP", "ends_99", Decimal("15"), True),
    "DE": ("EUR", "ends_99", Decimal("15"), True),
    "JP": ("JPY", "whole", Decimal("10"), True),
    "KR": ("KRW", "whole", Decimal("10"), True),
    "BR": ("BRL", "ends_99", Decimal("15"), True),
    "IN": ("INR", "round_10", Decimal("20"), True),
    "ID": ("IDR", "round_100", Decimal("20"), True),
    "MX": ("MXN", "ends_99", Decimal("15"), True),
    "TR": ("TRY", "ends_99", Decimal("20"), True),
}


def _move(apps, code, currency, old, new):
    Region = apps.get_model("catalog", "Region")
    HistoricalRegion = apps.get_model("catalog", "HistoricalRegion")
    Region.objects.exclude(id__in=HistoricalRegion.objects.values("id")).filter(
        code=code,
        currency=currency,
        price_rule=old[0],
        web_discount_percent=old[1],
        prices_include_tax=old[2],
    ).update(price_rule=new[0], web_discount_percent=new[1], prices_include_tax=new[2])


def forwards(apps, schema_editor):
    for code, (currency, *seeded) in SEEDED.items():
        _move(apps, code, currency, DEFAULTS, seeded)


def backwards(apps, schema_editor):
    for code, (currency, *seeded) in SEEDED.items():
        _move(apps, code, currency, seeded, DEFAULTS)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0007_exchange_rates_schedule")]

    operations = [migrations.RunPython(forwards, backwards)]
