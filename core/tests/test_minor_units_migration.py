"""The migrations to minor units keep every stored amount exact, on both databases,
in the tables and in their history; and they can be reversed."""

import datetime
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.models import F

from audit import db as audit_db
from core.fields import MinorUnitsMixin
from gifting.tests.factories import creator_create
from wallets.tests.factories import region_create, user_create

# Dozens of these would fail `gross = fee + net` in the old SQLite columns; these
# pass it there (1.49 + 121.96 does not), so old rows like them can exist.
PAYOUTS = [
    ("1008.45", "10.34", "998.11"),
    ("100.29", "1.26", "99.03"),
    ("250.07", "2.76", "247.31"),
    ("999999999999.99", "0.99", "999999999999.00"),
]
AWKWARD = ["1008.45", "0.29", "10.34", "123.45", "1.49", "121.96", "0.01", "4.35"]
APPS = ("catalog", "wallets", "payouts")


def _switches() -> dict[str, tuple[str, str]]:
    """{app: (the migration before the switch, the switch)} as the graph names them."""
    graph = MigrationLoader(connection).graph
    found = {}
    for app, name in graph.nodes:
        if app in APPS and name.endswith("_amounts_in_minor_units"):
            parents = graph.node_map[app, name].parents
            (parent,) = [p.key[1] for p in parents if p.key[0] == app]
            found[app] = (parent, name)
    assert sorted(found) == sorted(APPS)
    return found


def _migrate_back(switches):
    """Unapply the three switches (and only what depends on them); the old models."""
    nodes = [(app, before) for app, (before, _) in switches.items()]
    # As `migrate` does on SQLite: a column an audit trigger names cannot be dropped
    # (the gift's translations, catalog 0014); the `migrate` forward puts them back.
    audit_db.uninstall()
    executor = MigrationExecutor(connection)
    executor.migrate(nodes)
    return MigrationExecutor(connection).loader.project_state(nodes).apps


def _column(table: str, column: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" ORDER BY "id"')
        return [row[0] for row in cursor.fetchall()]


def _minor_units_columns_not_bigint() -> list[str]:
    """Every minor-units column, history included, is a BIGINT in the database."""
    wrong = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            fields = [
                f for f in model._meta.concrete_fields if isinstance(f, MinorUnitsMixin)
            ]
            if not fields:
                continue
            description = {
                column.name: column
                for column in connection.introspection.get_table_description(
                    cursor, model._meta.db_table
                )
            }
            for field in fields:
                column = description[field.column]
                found = connection.introspection.get_field_type(
                    column.type_code, column
                )
                if found != "BigIntegerField":
                    wrong.append(f"{model._meta.db_table}.{field.column}: {found}")
    return wrong


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_old_decimal_amounts_become_exact_minor_units_and_back():
    switches = _switches()
    user, creator = user_create(), creator_create()
    region = region_create()
    jp = region_create(code="JP", currency="JPY")
    old = _migrate_back(switches)
    now = datetime.datetime.now(datetime.UTC)
    amounts = [Decimal(a) for a in AWKWARD]

    bundles = [
        old.get_model("catalog", "CoinBundle").objects.create(
            sku=f"old_{n}", coins=100, base_price=amount, base_price_currency="USD"
        )
        for n, amount in enumerate(amounts)
    ]
    history = {"history_date": now, "history_type": "~"}
    old.get_model("catalog", "HistoricalCoinBundle").objects.create(
        id=bundles[0].id,
        sku="old_0",
        coins=100,
        base_price=Decimal("1008.45"),
        base_price_currency="USD",
        sort_order=0,
        is_active=True,
        bonus_coins=0,
        **history,
    )
    prices = [
        old.get_model("catalog", "BundlePrice").objects.create(
            bundle_id=bundle.id,
            region_id=region.id,
            channel="app",
            price=bundle.base_price,
            price_currency="USD",
            effective_at=now,
        )
        for bundle in bundles
    ]
    proposal = old.get_model("catalog", "RepricingProposal").objects.create()
    old.get_model("catalog", "RepricingLine").objects.create(
        proposal_id=proposal.id,
        bundle_id=bundles[0].id,
        region_id=jp.id,
        channel="app",
        new_price=Decimal("123.45"),
        new_price_currency="JPY",
        exchange_rate=Decimal("149.12345678"),
    )
    purchases = [
        old.get_model("wallets", "Purchase").objects.create(
            user_id=user.id,
            bundle_id=price.bundle_id,
            region_id=region.id,
            channel="app",
            store="apple",
            store_transaction_id=f"t{n}",
            idempotency_key=f"k{n}",
            bundle_price_id=price.id,
            price=price.price,
            price_currency="USD",
            coins=100,
            paid_coins_remaining=100,
        )
        for n, price in enumerate(prices)
    ]
    old.get_model("wallets", "UnrecoveredStoreRefund").objects.create(
        purchase_id=purchases[1].id,
        store="apple",
        price=Decimal("0.29"),
        price_currency="USD",
        paid_coins_spent=3,
        bonus_coins_missing=0,
    )
    limits = old.get_model("wallets", "SpendingLimit").objects.create(
        region_id=region.id,
        daily_limit=Decimal("10.34"),
        daily_limit_currency="USD",
        monthly_limit=Decimal("1008.45"),
        monthly_limit_currency="USD",
    )
    old.get_model("wallets", "SpendingLimitOverride").objects.create(
        user_id=user.id,
        region_id=region.id,
        daily_limit=Decimal("0.29"),
        daily_limit_currency="USD",
        monthly_limit=None,
        monthly_limit_currency=None,
        reason="awkward",
    )
    old.get_model("wallets", "HistoricalSpendingLimit").objects.create(
        id=limits.id,
        region_id=region.id,
        daily_limit=Decimal("10.34"),
        daily_limit_currency="USD",
        monthly_limit=Decimal("1008.45"),
        monthly_limit_currency="USD",
        **history,
    )
    old.get_model("wallets", "HistoricalSpendingLimitOverride").objects.create(
        id=1,
        user_id=user.id,
        region_id=region.id,
        daily_limit=Decimal("121.96"),
        daily_limit_currency="USD",
        reason="awkward",
        **history,
    )
    Rules = old.get_model("payouts", "PayoutRules")
    Rules.objects.filter(currency="USD").update(
        minimum_cashout=Decimal("123.45"),
        fee_fixed=Decimal("0.29"),
        daily_maximum=Decimal("9999999999.99"),
        second_approval_from=Decimal("1.49"),
    )
    rules = Rules.objects.get(currency="USD")
    old.get_model("payouts", "HistoricalPayoutRules").objects.create(
        id=rules.id,
        currency="USD",
        minimum_cashout=Decimal("123.45"),
        fee_fixed=Decimal("0.29"),
        fee_percent=Decimal("1.00"),
        daily_maximum=Decimal("9999999999.99"),
        second_approval_from=Decimal("1.49"),
        method_cooloff_days=5,
        **history,
    )
    for n, (gross, fee, net) in enumerate(PAYOUTS):
        old.get_model("payouts", "Payout").objects.create(
            creator_id=creator.id,
            requester_id=creator.user_id,
            diamond_units=1,
            currency="USD",
            rate=Decimal("0.005"),
            gross_amount=Decimal(gross),
            fee_amount=Decimal(fee),
            net_amount=Decimal(net),
            method="paypal",
            destination="c@example.com",
            status="paid",
            reference=f"PO-{n}",
            idempotency_key=f"k{n}",
        )
        old.get_model("payouts", "SandboxPayoutRecord").objects.create(
            reference=f"PO-{n}", outcome="paid", amount=Decimal(net), currency="USD"
        )

    call_command("migrate", verbosity=0)

    from catalog.models import BundlePrice, CoinBundle, RepricingLine
    from payouts.models import Payout, PayoutRules, SandboxPayoutRecord
    from wallets.models import (
        Purchase,
        SpendingLimit,
        SpendingLimitOverride,
        UnrecoveredStoreRefund,
    )

    ids = [bundle.id for bundle in bundles]
    got = CoinBundle.objects.filter(id__in=ids).order_by("id")
    assert [bundle.base_price.amount for bundle in got] == amounts
    assert [
        p.price.amount
        for p in BundlePrice.objects.filter(bundle_id__in=ids).order_by("id")
    ] == amounts
    assert [p.price.amount for p in Purchase.objects.order_by("id")] == amounts
    assert _column("wallets_purchase", "price") == [int(a * 100) for a in amounts]
    line = RepricingLine.objects.get()
    assert (line.new_price.amount, str(line.new_price.currency)) == (
        Decimal("123.45"),
        "JPY",
    )
    assert UnrecoveredStoreRefund.objects.get().price.amount == Decimal("0.29")
    limit = SpendingLimit.objects.get(region=region)
    assert (limit.daily_limit.amount, limit.monthly_limit.amount) == (
        Decimal("10.34"),
        Decimal("1008.45"),
    )
    override = SpendingLimitOverride.objects.get()
    assert (override.daily_limit.amount, override.monthly_limit) == (
        Decimal("0.29"),
        None,
    )
    rules = PayoutRules.objects.get(currency="USD")
    assert (
        rules.minimum_cashout,
        rules.fee_fixed,
        rules.daily_maximum,
        rules.second_approval_from,
        rules.fee_percent,
    ) == (
        Decimal("123.45"),
        Decimal("0.29"),
        Decimal("9999999999.99"),
        Decimal("1.49"),
        Decimal("1.00"),
    )
    payouts = Payout.objects.order_by("id")
    assert [
        (str(p.gross_amount), str(p.fee_amount), str(p.net_amount)) for p in payouts
    ] == PAYOUTS
    assert [str(r.amount) for r in SandboxPayoutRecord.objects.order_by("id")] == [
        net for _, _, net in PAYOUTS
    ]
    # The exact check now holds in the database too.
    assert Payout.objects.filter(
        gross_amount=F("fee_amount") + F("net_amount")
    ).count() == len(PAYOUTS)
    # History keeps the same amounts.
    assert CoinBundle.history.get(id=bundles[0].id).base_price.amount == Decimal(
        "1008.45"
    )
    assert PayoutRules.history.filter(id=rules.id).first().minimum_cashout == Decimal(
        "123.45"
    )
    assert {
        h.daily_limit.amount for h in SpendingLimit.history.filter(id=limit.id)
    } == {Decimal("10.34")}
    assert SpendingLimitOverride.history.get(id=1).daily_limit.amount == Decimal(
        "121.96"
    )
    assert _column("payouts_historicalpayoutrules", "minimum_cashout")[-1] == 12345

    assert _minor_units_columns_not_bigint() == []

    # And back: the old columns hold the same amounts again.
    back = _migrate_back(switches)
    assert [
        (p.gross_amount, p.fee_amount, p.net_amount)
        for p in back.get_model("payouts", "Payout").objects.order_by("id")
    ] == [tuple(Decimal(a) for a in triple) for triple in PAYOUTS]
    assert [
        p.price.amount
        for p in back.get_model("wallets", "Purchase").objects.order_by("id")
    ] == amounts
    call_command("migrate", verbosity=0)
    assert Purchase.objects.order_by("id").first().price.amount == amounts[0]
