"""Minor-units fields: Decimal or Money in Python, exact integers in the database."""

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import F, Max, Sum, Value
from djmoney.money import Money

from catalog.models import BundlePrice
from core.fields import MinorUnitsDecimalField, from_minor_units, to_minor_units
from payouts.models import Payout, PayoutRules, SandboxPayoutRecord
from wallets.tests.factories import bundle_create, region_create

pytestmark = pytest.mark.django_db


def _column(table: str, column: str):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize(
    ("amount", "units"),
    [("1008.45", 100845), ("0.29", 29), ("10.34", 1034), ("0", 0), ("-2.5", -250)],
)
def test_amounts_convert_to_and_from_minor_units_exactly(amount, units):
    assert to_minor_units(Decimal(amount), 2) == units
    assert from_minor_units(units, 2) == Decimal(amount)
    assert from_minor_units(units, 2).as_tuple().exponent == -2


def test_an_amount_finer_than_the_column_is_refused_not_rounded():
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        to_minor_units(Decimal("0.005"), 2)
    with pytest.raises(ValueError), transaction.atomic():
        SandboxPayoutRecord.objects.create(
            reference="r", outcome="paid", amount=Decimal("1.005"), currency="USD"
        )
    assert not SandboxPayoutRecord.objects.exists()


def test_the_column_is_an_integer_of_cents_and_reads_back_as_decimal():
    SandboxPayoutRecord.objects.create(
        reference="r", outcome="paid", amount=Decimal("1008.45"), currency="USD"
    )

    assert _column("payouts_sandboxpayoutrecord", "amount") == [100845]
    record = SandboxPayoutRecord.objects.get()
    assert record.amount == Decimal("1008.45")
    assert str(record.amount) == "1008.45"
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(
            cursor, "payouts_sandboxpayoutrecord"
        )
    (amount,) = [column for column in description if column.name == "amount"]
    assert connection.introspection.get_field_type(amount.type_code, amount) in (
        "BigIntegerField",
    )


def test_lookups_sums_and_the_difference_of_two_columns_are_in_amounts():
    for reference, amount in (("a", "0.10"), ("b", "0.20"), ("c", "1008.45")):
        SandboxPayoutRecord.objects.create(
            reference=reference, outcome="paid", amount=Decimal(amount), currency="USD"
        )
    records = SandboxPayoutRecord.objects.all()

    # 0.10 + 0.20 is 0.30 exactly, as it is not in binary floating point.
    assert records.filter(amount__lt=Decimal("1")).aggregate(total=Sum("amount")) == {
        "total": Decimal("0.30")
    }
    assert records.filter(amount=Decimal("1008.45")).count() == 1
    assert records.filter(amount__in=[Decimal("0.1"), Decimal("0.2")]).count() == 2
    assert records.aggregate(top=Max("amount"))["top"] == Decimal("1008.45")
    doubled = records.annotate(twice=F("amount") + F("amount")).get(reference="c")
    assert doubled.twice == Decimal("2016.90")
    assert records.annotate(none=F("amount") - F("amount")).get(reference="a").none == 0
    # A constant in SQL goes through the field too, or it would be read as cents.
    fee = Value(Decimal("1.05"), output_field=MinorUnitsDecimalField())
    assert records.annotate(plus=F("amount") + fee).get(reference="a").plus == (
        Decimal("1.15")
    )


def test_a_money_field_keeps_money_and_its_currency():
    price = BundlePrice.objects.create(
        bundle=bundle_create(),
        region=region_create(code="JP", currency="JPY"),
        channel="app",
        price=Money("480", "JPY"),
    )

    assert _column("catalog_bundleprice", "price") == [48000]
    price.refresh_from_db()
    assert price.price == Money("480", "JPY")
    assert BundlePrice.objects.filter(price=Money("480", "JPY")).count() == 1
    assert BundlePrice.objects.aggregate(total=Sum("price"))["total"] == Decimal(
        "480.00"
    )


def test_the_payout_rules_seeded_before_the_switch_read_as_they_were():
    rules = PayoutRules.objects.get(currency="USD")

    assert (rules.minimum_cashout, rules.fee_fixed, rules.daily_maximum) == (
        Decimal("100.00"),
        Decimal("0.25"),
        Decimal("5000.00"),
    )
    assert _column("payouts_payoutrules", "fee_fixed") == [25]
    assert not Payout.objects.exists()
