"""The triggers record every write path, and only the changes the audit is for."""

import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money

from accounts.roles import FINANCE
from audit import db
from audit.context import acting_as
from audit.models import AuditRecord
from audit.registry import AUDITED, audited_tables
from catalog.models import BundlePrice, Gift, GiftPriceChange
from catalog.tests.factories import gift_create
from gifting.models import CreatorLevel
from gifting.services import gift_send
from gifting.tests.factories import creator_create, funded_sender, rose
from payouts.models import DiamondCashRate, PayoutRules
from wallets import services as wallet_services
from wallets.models import Purchase
from wallets.stores import sandbox_receipt
from wallets.tests.factories import (
    bundle_create,
    on_sale,
    region_create,
    staff_create,
    user_create,
)

from .helpers import actor_in_connection, amount, dec, records

pytestmark = pytest.mark.django_db


def test_every_audited_model_has_its_triggers_and_installing_again_changes_nothing():
    installed = db._pg_existing if connection.vendor == "postgresql" else None
    with connection.cursor() as cursor:
        existing = (installed or db._sqlite_existing)(cursor)

    for spec in audited_tables():
        assert f"audit_{spec.table}_update" in existing, spec.label
        assert f"audit_{spec.table}_delete" in existing, spec.label
        assert (f"audit_{spec.table}_insert" in existing) == spec.insert, spec.label
    assert len(audited_tables()) == len(AUDITED)
    assert db.install() == []


def test_a_missing_trigger_is_put_back_and_only_that_one():
    with connection.cursor() as cursor:
        db._drop(cursor, connection, "audit_catalog_gift_update", "catalog_gift")

    assert db.install() == ["audit_catalog_gift_update"]
    Gift.objects.filter(pk=gift_create().pk).update(coin_price=7)
    assert records("catalog.Gift", operation="update")


def test_a_migrate_leaves_the_triggers_in_place():
    call_command("migrate", verbosity=0)

    assert db.install() == []
    Gift.objects.filter(pk=gift_create().pk).update(coin_price=8)
    assert records("catalog.Gift", operation="update")[0].actor_label == ""


def test_bulk_update_of_gift_prices_is_recorded_with_before_and_after():
    rose_gift = gift_create(slug="rose", coin_price=1)
    lion = gift_create(slug="lion", coin_price=2000)

    changed = Gift.objects.filter(slug__in=["rose", "lion"]).update(coin_price=3)

    assert changed == 2
    updates = records("catalog.Gift", operation="update")
    assert {
        (r.object_id, r.before["coin_price"], r.after["coin_price"]) for r in updates
    } == {
        (str(rose_gift.pk), 1, 3),
        (str(lion.pk), 2000, 3),
    }
    for record in updates:
        assert record.changed_fields == ["coin_price"]
        assert record.before["slug"] == record.after["slug"]  # The whole row.
        assert record.at is not None


def test_a_whole_row_is_every_column_of_the_table():
    gift = gift_create()

    (created,) = records("catalog.Gift", operation="insert", object_id=str(gift.pk))

    assert created.before is None
    assert set(created.after) == {f.column for f in Gift._meta.concrete_fields}


def test_bulk_updates_of_shares_rates_and_payout_rules_are_recorded():
    PayoutRules.objects.filter(currency="USD").update(
        minimum_cashout=Decimal("150.00"), fee_percent=Decimal("2.50")
    )
    CreatorLevel.objects.filter(number=1).update(share_percent=Decimal("55.00"))
    DiamondCashRate.objects.filter(currency="USD").update(rate=Decimal("0.006"))

    (rules,) = records("payouts.PayoutRules")
    assert rules.operation == "update"
    assert rules.changed_fields == ["fee_percent", "minimum_cashout"]
    assert (
        amount(rules.before["minimum_cashout"]),
        amount(rules.after["minimum_cashout"]),
    ) == (
        Decimal("100"),
        Decimal("150"),
    )
    assert dec(rules.after["fee_percent"]) == Decimal("2.5")
    (level,) = records("gifting.CreatorLevel")
    assert dec(level.after["share_percent"]) == Decimal("55")
    (rate,) = records("payouts.DiamondCashRate")
    assert (dec(rate.before["rate"]), dec(rate.after["rate"])) == (
        Decimal("0.005"),
        Decimal("0.006"),
    )


def test_bulk_created_bundle_prices_are_recorded():
    region, bundle = region_create(), bundle_create()
    moment = timezone.now()

    BundlePrice.objects.bulk_create(
        BundlePrice(
            bundle=bundle,
            region=region,
            channel=channel,
            price=Money("1.99", "USD"),
            effective_at=moment,
        )
        for channel in ("app", "web")
    )

    created = records("catalog.BundlePrice", operation="insert")
    assert sorted(r.after["channel"] for r in created) == ["app", "web"]
    assert {amount(r.after["price"]) for r in created} == {Decimal("1.99")}
    assert all(r.after["price_currency"] == "USD" for r in created)


def test_a_delete_keeps_the_row_as_it_was():
    gift = gift_create(slug="gone", coin_price=40)
    GiftPriceChange.objects.create(
        gift=gift, coin_price=45, effective_at=timezone.now() + datetime.timedelta(1)
    )

    Gift.objects.filter(pk=gift.pk).delete()

    (deleted,) = records("catalog.Gift", operation="delete")
    assert (deleted.object_id, deleted.after) == (str(gift.pk), None)
    assert (deleted.before["slug"], deleted.before["coin_price"]) == ("gone", 40)
    # The cascade is on record too.
    assert records("catalog.GiftPriceChange", operation="delete")


def test_a_raw_update_with_no_actor_is_recorded_without_one():
    gift = gift_create(coin_price=10)

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_gift SET coin_price = 11 WHERE id = %s", [gift.pk]
        )

    (record,) = records("catalog.Gift", operation="update")
    assert (record.before["coin_price"], record.after["coin_price"]) == (10, 11)
    assert (record.actor, record.actor_label) == (None, "")


def test_a_save_that_changes_only_an_ignored_field_is_not_recorded():
    gift = gift_create()
    creator = creator_create()
    before = AuditRecord.objects.count()
    gift.save()  # Only updated_at moves.
    creator.follower_count += 10
    creator.save(update_fields=["follower_count"])

    assert AuditRecord.objects.count() == before


def test_spending_a_lot_is_not_recorded_and_a_refund_is():
    bundle, region = on_sale(coins=100, amount="0.99")
    buyer = user_create()
    wallet_services.purchase_record(
        user=buyer,
        bundle=bundle,
        region=region,
        channel="app",
        store="apple",
        receipt=sandbox_receipt(buyer.id, bundle.sku, "t-1", store="apple"),
        idempotency_key="k-1",
    )
    purchase = Purchase.objects.get(user=buyer)
    finance = staff_create(FINANCE)

    Purchase.objects.filter(pk=purchase.pk).update(paid_coins_remaining=60)
    Purchase.objects.filter(pk=purchase.pk).update(paid_coins_remaining=100)
    assert records("wallets.Purchase") == []

    with acting_as(user=finance, label="test"):
        wallet_services.purchase_refund(
            purchase=purchase, actor=finance, reason="asked for it", source="finance"
        )

    (refund,) = records("wallets.Purchase")
    assert refund.operation == "update"
    assert (refund.before["status"], refund.after["status"]) == (
        "completed",
        "refunded",
    )
    assert refund.after["refund_reason"] == "asked for it"
    assert {"status", "refunded_at", "refunded_by_id", "paid_coins_remaining"} <= set(
        refund.changed_fields
    )
    assert refund.actor == finance


def test_a_gift_send_and_a_purchase_write_no_audit_row_and_pay_no_actor_statement():
    sender = funded_sender(coins=500)  # A purchase, made through the service.
    creator, gift = creator_create(), rose()
    bundle, region = on_sale(coins=100, amount="0.99")
    before = AuditRecord.objects.count()

    with CaptureQueriesContext(connection) as queries:
        with acting_as(user=sender, label="api"):
            for n in range(3):
                gift_send(
                    sender=sender,
                    creator=creator,
                    gift=gift,
                    quantity=2,
                    placement="live",
                    stream_id="s1",
                    region=None,
                    idempotency_key=f"send-{n}",
                )
            wallet_services.purchase_record(
                user=sender,
                bundle=bundle,
                region=region,
                channel="app",
                store="apple",
                receipt=sandbox_receipt(sender.id, bundle.sku, "again", store="apple"),
                idempotency_key="buy-again",
            )

    assert AuditRecord.objects.count() == before
    # The sends did draw the purchase lot down: the triggers saw it and let it be.
    assert Purchase.objects.filter(user=sender, paid_coins_remaining__lt=500).exists()
    statements = [query["sql"] for query in queries.captured_queries]
    assert not [sql for sql in statements if db.records(sql)]
    assert not [sql for sql in statements if "audit" in sql]


def test_audit_rows_cannot_be_changed_or_deleted_in_the_database():
    Gift.objects.filter(pk=gift_create().pk).update(coin_price=9)
    record = AuditRecord.objects.first()

    for sql in (
        "UPDATE audit_auditrecord SET actor_label = 'me' WHERE id = %s",
        "DELETE FROM audit_auditrecord WHERE id = %s",
    ):
        with pytest.raises(IntegrityError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [record.pk])

    with pytest.raises(TypeError):
        AuditRecord.objects.filter(pk=record.pk).update(actor_label="me")
    with pytest.raises(TypeError):
        AuditRecord.objects.filter(pk=record.pk).delete()
    with pytest.raises(TypeError):
        record.save()
    record.refresh_from_db()
    assert record.actor_label == ""


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="TRUNCATE is PostgreSQL's"
)
def test_the_audit_cannot_be_truncated():
    with pytest.raises(IntegrityError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("TRUNCATE audit_auditrecord")


def test_a_management_command_records_its_label():
    call_command("seed_catalog", verbosity=0)

    labels = set(AuditRecord.objects.values_list("actor_label", flat=True))
    assert labels == {"command:seed_catalog"}
    assert records("catalog.Gift", operation="insert")
    assert records("catalog.BundlePrice", operation="insert")
    assert actor_in_connection() == (None, None)


def test_a_task_records_its_label(eager_celery):
    from catalog.tasks import apply_due_price_changes

    gift = gift_create(coin_price=10)
    GiftPriceChange.objects.create(
        gift=gift, coin_price=12, effective_at=timezone.now() - datetime.timedelta(1)
    )

    apply_due_price_changes.delay()

    (price,) = records("catalog.Gift", operation="update")
    assert (price.before["coin_price"], price.after["coin_price"]) == (10, 12)
    assert (price.actor, price.actor_label) == (
        None,
        "task:catalog.apply_due_price_changes",
    )
    assert records("catalog.GiftPriceChange", operation="update")[0].actor_label == (
        "task:catalog.apply_due_price_changes"
    )
    # Outside the task, nobody is acting.
    Gift.objects.filter(pk=gift.pk).update(coin_price=13)
    assert records("catalog.Gift", operation="update")[-1].actor_label == ""
