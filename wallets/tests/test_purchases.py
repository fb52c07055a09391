import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money

from catalog.models import BundlePrice
from core.idempotency import IdempotencyKeyReused
from wallets import services
from wallets.models import (
    LedgerAccount,
    Promotion,
    Purchase,
    SpendingLimit,
    SpendingLimitOverride,
    Transfer,
)
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.stores import ReceiptRejected, StoreUnavailable, sandbox_receipt

from .factories import on_sale, price_create, region_create, user_create

pytestmark = pytest.mark.django_db
APP = BundlePrice.Channel.APP
WEB = BundlePrice.Channel.WEB


def buy(
    user,
    bundle,
    region,
    *,
    channel=APP,
    store="apple",
    receipt=None,
    txn=None,
    outcome="accept",
    key=None,
    now=None,
):
    n = Purchase.objects.count() + Transfer.objects.count()
    txn = txn or f"txn-{user.id}-{n}"
    return services.purchase_record(
        user=user,
        bundle=bundle,
        region=region,
        channel=channel,
        store=store,
        receipt=receipt
        or sandbox_receipt(user.id, bundle.sku, txn, outcome, store=store),
        idempotency_key=key or f"key-{user.id}-{n}",
        now=now,
    )


def nothing_recorded():
    return not Purchase.objects.exists() and not Transfer.objects.exists()


def test_a_purchase_credits_paid_and_bonus_coins_apart_at_todays_price():
    user = user_create()
    bundle, region = on_sale(coins=500, amount="4.99", bonus_coins=25)

    result = buy(user, bundle, region)

    purchase = result.purchase
    assert result.created
    assert purchase.price == Money("4.99", "USD")
    assert (purchase.coins, purchase.bundle_bonus_coins) == (500, 25)
    balances = wallet_balances(user=user)
    assert (balances.paid_coins, balances.bonus_coins) == (500, 25)
    assert sorted(Transfer.objects.values_list("kind", "amount")) == [
        ("purchase", 500),
        ("purchase_bonus", 25),
    ]
    assert ledger_reconcile().is_clean


def test_the_price_is_the_one_in_effect_at_that_moment():
    user = user_create()
    bundle, region = on_sale(amount="0.99")
    moment = timezone.now() + datetime.timedelta(hours=1)
    price_create(bundle, region, "1.29", effective_at=moment)

    before = buy(user, bundle, region, now=moment - datetime.timedelta(seconds=1))
    after = buy(user, bundle, region, now=moment)

    assert before.purchase.price == Money("0.99", "USD")
    assert after.purchase.price == Money("1.29", "USD")
    assert after.purchase.bundle_price.effective_at == moment


def test_same_idempotency_key_returns_the_first_purchase_and_moves_nothing():
    user = user_create()
    bundle, region = on_sale()
    first = buy(user, bundle, region, key="k1", txn="t1")

    again = buy(user, bundle, region, key="k1", txn="t1")
    with pytest.raises(IdempotencyKeyReused):
        buy(user, bundle, region, key="k1", txn="t2")  # another receipt

    assert not again.created
    assert again.purchase == first.purchase
    assert wallet_balances(user=user).paid_coins == 100
    assert Purchase.objects.count() == 1


def test_same_store_transaction_by_the_same_user_returns_the_first_purchase():
    user = user_create()
    bundle, region = on_sale()
    first = buy(user, bundle, region, key="k1", txn="t1")

    again = buy(user, bundle, region, key="k2", txn="t1")

    assert again.purchase == first.purchase
    assert wallet_balances(user=user).paid_coins == 100


def test_a_receipt_used_by_another_user_is_refused():
    bundle, region = on_sale()
    buy(user_create(), bundle, region, txn="t1")
    thief = user_create()

    with pytest.raises(services.PurchaseRefused) as refusal:
        buy(thief, bundle, region, txn="t1")

    assert (refusal.value.status_code, refusal.value.field) == (409, "receipt")
    assert wallet_balances(user=thief).coins == 0


@pytest.mark.parametrize(
    ("birth_date", "message"),
    [
        (datetime.date.today().replace(year=datetime.date.today().year - 17), "age 18"),
        (None, "add your birth date"),
    ],
)
def test_under_age_or_unknown_age_cannot_buy(birth_date, message):
    user = user_create(birth_date=birth_date)
    bundle, region = on_sale()

    with pytest.raises(services.PurchaseRefused, match=message) as refusal:
        buy(user, bundle, region)

    assert (refusal.value.status_code, refusal.value.code) == (403, "under_age")
    assert nothing_recorded()


def test_a_bundle_not_on_sale_in_that_region_or_channel_is_refused():
    user = user_create()
    bundle, us = on_sale()
    jp = region_create("JP", currency="JPY")

    for region, channel, store in ((jp, APP, "apple"), (us, WEB, "web")):
        with pytest.raises(services.PurchaseRefused) as refusal:
            buy(user, bundle, region, channel=channel, store=store)
        assert refusal.value.field == "bundle"
    assert nothing_recorded()


def test_an_inactive_bundle_is_not_on_sale():
    bundle, region = on_sale(is_active=False)
    with pytest.raises(services.PurchaseRefused, match="not on sale"):
        buy(user_create(), bundle, region)
    assert nothing_recorded()


def test_store_must_sell_on_the_channel():
    bundle, region = on_sale()
    with pytest.raises(services.PurchaseRefused) as refusal:
        buy(user_create(), bundle, region, channel=APP, store="web")
    assert refusal.value.field == "store"
    assert nothing_recorded()


def test_a_rejected_receipt_records_nothing():
    bundle, region = on_sale()
    with pytest.raises(ReceiptRejected) as refusal:
        buy(user_create(), bundle, region, outcome="reject")
    assert refusal.value.field == "receipt"
    assert nothing_recorded()


def test_a_store_that_times_out_records_nothing():
    bundle, region = on_sale()
    with pytest.raises(StoreUnavailable) as refusal:
        buy(user_create(), bundle, region, outcome="timeout")
    assert refusal.value.status_code == 503
    assert nothing_recorded()


def test_daily_limit_refuses_the_purchase_that_would_pass_it():
    user = user_create()
    bundle, region = on_sale(amount="4.99")
    SpendingLimit.objects.create(
        region=region, daily_limit=Money("10", "USD"), monthly_limit=Money("100", "USD")
    )
    now = timezone.now().replace(hour=12)
    buy(user, bundle, region, now=now)
    buy(user, bundle, region, now=now)

    with pytest.raises(services.PurchaseRefused) as refusal:
        buy(user, bundle, region, now=now)

    assert refusal.value.code == "daily_limit_reached"
    assert refusal.value.status_code == 403
    assert "$0.02 left" in refusal.value.message or "0.02" in refusal.value.message
    assert Purchase.objects.count() == 2
    assert buy(user, bundle, region, now=now + datetime.timedelta(days=1)).created


def test_monthly_limit_and_a_per_user_override():
    user = user_create()
    bundle, region = on_sale(amount="4.99")
    SpendingLimit.objects.create(
        region=region, daily_limit=Money("5", "USD"), monthly_limit=Money("5", "USD")
    )
    now = timezone.now().replace(day=1, hour=12)
    buy(user, bundle, region, now=now)
    with pytest.raises(services.PurchaseRefused) as refusal:
        buy(user, bundle, region, now=now + datetime.timedelta(days=1))
    assert refusal.value.code == "monthly_limit_reached"

    SpendingLimitOverride.objects.create(
        user=user, region=region, monthly_limit=Money("50", "USD"), reason="VIP"
    )
    assert buy(user, bundle, region, now=now + datetime.timedelta(days=1)).created


def test_refunded_purchases_do_not_count_against_limits():
    user = user_create()
    bundle, region = on_sale(amount="4.99")
    SpendingLimit.objects.create(
        region=region, daily_limit=Money("5", "USD"), monthly_limit=Money("50", "USD")
    )
    first = buy(user, bundle, region).purchase
    services.purchase_refund(
        purchase=first, actor=None, reason="test", source="finance"
    )

    assert buy(user, bundle, region).created


def test_first_purchase_bonus_and_the_best_campaign_stack_rounded_down():
    user = user_create()
    bundle, region = on_sale(coins=333)
    Promotion.objects.create(
        name="Welcome", kind="first_purchase", bonus_percent=Decimal("10")
    )
    Promotion.objects.create(name="Small", kind="campaign", bonus_percent=Decimal("5"))
    best = Promotion.objects.create(
        name="Big", kind="campaign", bonus_percent=Decimal("20")
    )
    Promotion.objects.create(
        name="Over",
        kind="campaign",
        bonus_percent=Decimal("90"),
        ends_at=timezone.now() - datetime.timedelta(hours=1),
    )
    Promotion.objects.create(
        name="Web", kind="campaign", bonus_percent=Decimal("50"), channel=WEB
    )

    first = buy(user, bundle, region).purchase
    second = buy(user, bundle, region).purchase

    assert first.promotion_bonus_coins == 33 + 66
    assert second.promotion_bonus_coins == 66
    assert list(second.promotions.all()) == [best]
    assert wallet_balances(user=user).bonus_coins == 33 + 66 + 66


def test_a_campaign_for_another_region_does_not_apply():
    user = user_create()
    bundle, region = on_sale(coins=100)
    promo = Promotion.objects.create(
        name="JP", kind="campaign", bonus_percent=Decimal("10")
    )
    promo.regions.add(region_create("JP", currency="JPY"))

    assert buy(user, bundle, region).purchase.promotion_bonus_coins == 0


def test_system_account_balances_are_not_cached():
    bundle, region = on_sale()
    buy(user_create(), bundle, region)
    assert (
        not LedgerAccount.objects.filter(owner__isnull=True).exclude(balance=0).exists()
    )


def test_a_receipt_for_another_bundle_is_refused(monkeypatch):
    from wallets import stores

    cheap, region = on_sale(coins=100, amount="0.99", sku="coins_100")
    dear, _ = on_sale(coins=10_000, amount="99.99", sku="coins_10000")

    def verify_cheap(self, receipt, *, sku, user_id):
        return stores.VerifiedReceipt(transaction_id="t1", sku="coins_100")

    monkeypatch.setattr(stores.SandboxStore, "verify_receipt", verify_cheap)
    with pytest.raises(ReceiptRejected, match="for coins_100, not coins_10000"):
        buy(user_create(), dear, region)
    assert nothing_recorded()
