"""Refunds of a subscription charge (docs/subscriptions.md, *Refunds*): asked for by
support or finance, granted by a second finance user, by the purchase rules; the
coins go back to the purchases they came from, the creator's diamonds are taken
back as far as the creator holds them.

Level 1 pays 50 %: a coin earns the creator 5,000 units (0.5 diamond).
"""

import datetime

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.roles import FINANCE, SUPPORT
from gifting.selectors import creator_hold
from gifting.tests.factories import creator_create
from subscriptions import services
from subscriptions.models import ChargeRefund, Subscription, SubscriptionCharge
from subscriptions.tests.factories import tier_create
from wallets.models import AccountKind, Purchase, RefundRule, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.factories import (
    on_sale,
    purchase_buy,
    region_create,
    staff_create,
    user_create,
)

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)
UNITS_PER_COIN = 5_000


def bought(user, coins, *, at, txn, region=None):
    bundle, region = on_sale(coins=coins, amount="4.99", region=region)
    return purchase_buy(
        user, bundle, region, key=f"buy-{txn}", when=at, txn=txn
    ).purchase


def subscribed(viewer, tier, *, at, key="s-1"):
    return services.subscription_subscribe(
        subscriber=viewer,
        tier=tier,
        coin_price=tier.coin_price,
        idempotency_key=key,
        now=at,
    ).subscription


@pytest.fixture
def charged():
    """A viewer with two purchases (60 and 80 coins, bought a day apart) who
    subscribed for 100 coins an hour ago: 60 from the first, 40 from the second."""
    now = timezone.now()
    viewer = user_create()
    first = bought(viewer, 60, at=now - 2 * DAY, txn="t-1")
    second = bought(viewer, 80, at=now - DAY, txn="t-2")
    creator = creator_create()
    subscription = subscribed(
        viewer,
        tier_create(creator, coin_price=100),
        at=now - datetime.timedelta(hours=1),
    )
    return viewer, creator, subscription, first, second


def asked(charge, *, by=None, reason="Charged after cancelling"):
    return services.charge_refund_request(
        charge=charge, actor=by or staff_create(SUPPORT), reason=reason
    )


def test_a_charge_records_the_purchases_its_paid_coins_came_from(charged):
    _, _, subscription, first, second = charged
    charge = subscription.charges.get()
    assert sorted(charge.lots.values_list("purchase_id", "paid_coins")) == [
        (first.id, 60),
        (second.id, 40),
    ]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.paid_coins_remaining, second.paid_coins_remaining) == (0, 40)


def test_a_refund_asked_by_support_and_granted_by_finance_gives_the_coins_back(
    charged,
):
    viewer, creator, subscription, first, second = charged
    charge = subscription.charges.get()
    refund = asked(charge)
    assert refund.status == ChargeRefund.Status.REQUESTED
    # Nothing moves until a finance user grants it.
    assert wallet_balances(user=viewer).paid_coins == 40

    refund = services.charge_refund_approve(refund=refund, actor=staff_create(FINANCE))

    assert refund.status == ChargeRefund.Status.REFUNDED
    assert (refund.paid_coins, refund.bonus_coins) == (100, 0)
    assert refund.creator_units == 100 * UNITS_PER_COIN
    assert refund.platform_units == 100 * UNITS_PER_COIN
    assert wallet_balances(user=viewer).paid_coins == 140
    assert wallet_balances(user=creator.user).diamond_units == 0
    # Back to the purchases they came from: both unused again.
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.paid_coins_remaining, second.paid_coins_remaining) == (60, 80)
    # The refunded period was the last paid one: the subscription ends now.
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ENDED
    assert subscription.next_charge_at is None
    assert "refunded" in subscription.notice
    kinds = set(
        Transfer.objects.filter(reference=f"subscription:{subscription.id}")
        .exclude(idempotency_key__endswith=(":1:paid"))
        .values_list("kind", flat=True)
    )
    assert {
        Transfer.Kind.SUBSCRIPTION_REFUND,
        Transfer.Kind.SUBSCRIPTION_EARNING_BACK,
        Transfer.Kind.SUBSCRIPTION_PLATFORM_BACK,
    } <= kinds
    assert ledger_reconcile().is_clean
    # The charge itself stays, as the record of the period that was paid.
    assert SubscriptionCharge.objects.filter(id=charge.id).exists()


def test_bonus_coins_go_back_as_bonus_coins():
    now = timezone.now()
    viewer = user_create()
    bundle, region = on_sale(coins=100, amount="4.99", bonus_coins=30)
    purchase_buy(viewer, bundle, region, key="b", when=now - DAY, txn="t-1")
    subscription = subscribed(viewer, tier_create(coin_price=50), at=now)
    charge = subscription.charges.get()
    assert (charge.bonus_coins, charge.paid_coins) == (30, 20)

    refund = services.charge_refund_approve(
        refund=asked(charge), actor=staff_create(FINANCE)
    )

    balances = wallet_balances(user=viewer)
    assert (balances.bonus_coins, balances.paid_coins) == (30, 100)
    assert (refund.bonus_coins, refund.paid_coins) == (30, 20)
    assert ledger_reconcile().is_clean


def test_an_older_period_is_refunded_without_ending_the_subscription(charged):
    viewer, _, subscription, *_ = charged
    bought(viewer, 200, at=timezone.now() - DAY, txn="t-3")
    services.subscription_renew(
        subscription_id=subscription.id, now=subscription.period_ends_at
    )
    first_period = subscription.charges.get(period=1)

    services.charge_refund_approve(
        refund=asked(first_period, reason="Double charge"),
        actor=staff_create(FINANCE),
        now=subscription.period_ends_at,
    )

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.period == 2


def test_a_charge_the_creator_cashed_out_is_not_refunded(charged):
    """Else a subscriber and a creator turn coins into cash on a loop: the hold
    ends, the creator cashes out, the refund gives the coins back to spend again."""
    viewer, creator, subscription, *_ = charged
    charge = subscription.charges.get()
    refund = asked(charge)
    # The creator has only 30 of the charge's 50 diamonds left (moved by hand,
    # as a payout would).
    from wallets import ledger

    with transaction.atomic():
        account = ledger.user_account(creator.user, AccountKind.DIAMONDS)
        ledger.pending_credits_fold(account_id=account.id)
        ledger.adjustment_post(
            account=account, amount=-20 * 10_000, actor_id=1, client_key="cashed"
        )

    with pytest.raises(services.ChargeRefundRefused) as refused:
        services.charge_refund_approve(refund=refund, actor=staff_create(FINANCE))

    assert refused.value.code == "creator_cashed_out"
    assert "30 diamonds" in refused.value.message
    refund.refresh_from_db()
    assert refund.status == ChargeRefund.Status.REQUESTED
    assert wallet_balances(user=viewer).paid_coins == 40
    assert wallet_balances(user=creator.user).diamond_units == 30 * 10_000
    assert not Transfer.objects.filter(kind=Transfer.Kind.SUBSCRIPTION_REFUND).exists()


def test_bonus_coins_a_store_refund_could_not_take_back_are_not_given_back():
    """Bonus coins are spent first and not kept per purchase: after the store
    refunded the purchase whose bonus the charge spent, giving them back would
    hand the buyer coins they already have the money for."""
    from wallets import services as wallet_services

    now = timezone.now()
    viewer = user_create()
    bundle, region = on_sale(coins=100, amount="4.99", bonus_coins=50)
    purchase_buy(viewer, bundle, region, key="b", when=now - DAY, txn="t-1")
    subscription = subscribed(viewer, tier_create(coin_price=50), at=now)
    charge = subscription.charges.get()
    assert (charge.bonus_coins, charge.paid_coins) == (50, 0)
    refund = asked(charge)
    wallet_services.store_refund_notification_handle(
        store="apple", transaction_id="t-1"
    )

    with pytest.raises(services.ChargeRefundRefused) as refused:
        services.charge_refund_approve(refund=refund, actor=staff_create(FINANCE))

    assert refused.value.code == "bonus_refunded_by_store"
    balances = wallet_balances(user=viewer)
    assert (balances.bonus_coins, balances.paid_coins) == (0, 0)


def test_the_creator_in_finance_cannot_reject_refunds_of_their_own_charges(charged):
    _, creator, subscription, *_ = charged
    refund = asked(subscription.charges.get())
    creator.user.is_staff = True
    creator.user.save()
    creator.user.groups.add(*staff_create(FINANCE).groups.all())

    with pytest.raises(services.ChargeRefundRefused) as refused:
        services.charge_refund_reject(refund=refund, actor=creator.user, reason="no")

    assert refused.value.code == "own_subscription"
    refund.refresh_from_db()
    assert refund.status == ChargeRefund.Status.REQUESTED


def test_four_eyes_nobody_grants_what_they_asked_for(charged):
    _, _, subscription, *_ = charged
    finance = staff_create(FINANCE)
    refund = asked(subscription.charges.get(), by=finance)

    with pytest.raises(services.ChargeRefundRefused) as refused:
        services.charge_refund_approve(refund=refund, actor=finance)
    assert refused.value.code == "own_request"
    with pytest.raises(services.ChargeRefundRefused):
        services.charge_refund_reject(refund=refund, actor=finance, reason="oops")
    refund.refresh_from_db()
    assert refund.status == ChargeRefund.Status.REQUESTED
    # The database holds it too.
    with pytest.raises(IntegrityError), transaction.atomic():
        ChargeRefund.objects.filter(id=refund.id).update(
            status=ChargeRefund.Status.REFUNDED,
            decided_by=finance,
            decided_at=timezone.now(),
        )


def test_support_asks_but_only_finance_grants(charged):
    _, _, subscription, *_ = charged
    refund = asked(subscription.charges.get())
    with pytest.raises(services.ChargeRefundRefused) as refused:
        services.charge_refund_approve(refund=refund, actor=staff_create(SUPPORT))
    assert refused.value.status_code == 403
    with pytest.raises(services.ChargeRefundRefused) as refused:
        asked(subscription.charges.get(), by=user_create())
    assert refused.value.status_code == 403


def test_neither_the_subscriber_nor_the_creator_asks_or_grants(charged):
    viewer, creator, subscription, *_ = charged
    charge = subscription.charges.get()
    for person in (viewer, creator.user):
        person.is_staff = True
        person.save()
        person.groups.add(*staff_create(FINANCE).groups.all())
        with pytest.raises(services.ChargeRefundRefused) as refused:
            asked(charge, by=person)
        assert refused.value.code == "own_subscription"
    refund = asked(charge)
    with pytest.raises(services.ChargeRefundRefused) as refused:
        services.charge_refund_approve(refund=refund, actor=creator.user)
    assert refused.value.code == "own_subscription"
    assert wallet_balances(user=creator.user).diamond_units == 100 * UNITS_PER_COIN


def test_a_charge_is_refunded_once(charged):
    _, _, subscription, *_ = charged
    charge = subscription.charges.get()
    refund = asked(charge)
    with pytest.raises(services.ChargeRefundRefused) as refused:
        asked(charge)
    assert refused.value.code == "refund_already_requested"
    services.charge_refund_approve(refund=refund, actor=staff_create(FINANCE))
    with pytest.raises(services.ChargeRefundRefused):
        services.charge_refund_approve(refund=refund, actor=staff_create(FINANCE))
    with pytest.raises(services.ChargeRefundRefused):
        asked(charge)
    assert Transfer.objects.filter(kind=Transfer.Kind.SUBSCRIPTION_REFUND).count() == 1


def test_a_rejected_refund_moves_nothing_and_may_be_asked_again(charged):
    viewer, _, subscription, *_ = charged
    charge = subscription.charges.get()
    refund = services.charge_refund_reject(
        refund=asked(charge), actor=staff_create(FINANCE), reason="Used the perks"
    )
    assert refund.status == ChargeRefund.Status.REJECTED
    assert refund.decision_note == "Used the perks"
    assert wallet_balances(user=viewer).paid_coins == 40
    assert asked(charge).status == ChargeRefund.Status.REQUESTED


def test_past_the_regions_refund_window_a_charge_is_not_refunded():
    now = timezone.now()
    us = region_create("US")
    viewer = user_create()
    bought(viewer, 200, at=now - 20 * DAY, txn="t-1", region=us)
    RefundRule.objects.create(
        region=us,
        window_days=3,
        self_service_days=0,
        effective_at=now - 30 * DAY,
        created_by=staff_create(FINANCE),
    )
    old = subscribed(viewer, tier_create(coin_price=50), at=now - 3 * DAY)
    charge = old.charges.get()
    assert charge.sender_region_id == us.id

    with pytest.raises(services.ChargeRefundRefused) as refused:
        asked(charge)
    assert refused.value.code == "refund_window_passed"
    # One second before the window ends it may still be asked for, and granted
    # after it (asked in time).
    refund = services.charge_refund_request(
        charge=charge,
        actor=staff_create(SUPPORT),
        reason="late",
        now=charge.created_at + 3 * DAY - datetime.timedelta(seconds=1),
    )
    services.charge_refund_approve(refund=refund, actor=staff_create(FINANCE))
    assert ChargeRefund.objects.get().status == ChargeRefund.Status.REFUNDED


def test_a_charge_whose_purchase_the_store_refunded_is_not_refunded_again(charged):
    from wallets import services as wallet_services

    viewer, _, subscription, first, _ = charged
    wallet_services.store_refund_notification_handle(
        store="apple", transaction_id="t-1"
    )
    first.refresh_from_db()
    assert first.status == Purchase.Status.REFUNDED

    with pytest.raises(services.ChargeRefundRefused) as refused:
        asked(subscription.charges.get())
    assert refused.value.code == "purchase_refunded"
    assert not ChargeRefund.objects.exists()


def test_a_refund_asked_before_the_store_refund_is_refused_when_granted(charged):
    from wallets import services as wallet_services

    _, _, subscription, *_ = charged
    refund = asked(subscription.charges.get())
    wallet_services.store_refund_notification_handle(
        store="apple", transaction_id="t-2"
    )

    with pytest.raises(services.ChargeRefundRefused) as refused:
        services.charge_refund_approve(refund=refund, actor=staff_create(FINANCE))
    assert refused.value.code == "purchase_refunded"
    assert not Transfer.objects.filter(kind=Transfer.Kind.SUBSCRIPTION_REFUND).exists()


def test_a_reason_is_required(charged):
    _, _, subscription, *_ = charged
    with pytest.raises(services.ChargeRefundRefused) as refused:
        asked(subscription.charges.get(), reason="  ")
    assert (refused.value.field, refused.value.status_code) == ("reason", 400)


def test_a_refunded_charge_on_hold_is_no_longer_held(charged, settings):
    settings.EARNINGS_HOLD_DAYS = 7
    _, creator, subscription, *_ = charged
    charge = subscription.charges.get()
    assert creator_hold(creator=creator).on_hold_units == 100 * UNITS_PER_COIN

    services.charge_refund_approve(refund=asked(charge), actor=staff_create(FINANCE))

    assert creator_hold(creator=creator).on_hold_units == 0


def test_the_revenue_per_month_counts_refunds_and_the_platforms_net(charged, client):
    from django.urls import reverse

    from subscriptions.selectors import revenue_by_month

    _, _, subscription, *_ = charged
    services.charge_refund_approve(
        refund=asked(subscription.charges.get()), actor=staff_create(FINANCE)
    )

    (month,) = revenue_by_month()
    assert (month["charges"], month["coins"]) == (1, 100)
    assert (month["refunds"], month["refunded_coins"]) == (1, 100)
    assert month["platform_diamond_units"] == 100 * UNITS_PER_COIN
    assert month["platform_net_units"] == 0
    client.force_login(staff_create(FINANCE))
    page = client.get(reverse("admin:subscriptions_subscriptioncharge_revenue"))
    assert page.status_code == 200
    assert "Platform, net" in page.content.decode()


def test_a_charge_without_its_purchases_on_record_is_not_refunded(charged):
    """A charge made before charges recorded their purchases cannot give its paid
    coins back to the right purchases: refused, for a balance adjustment."""
    from subscriptions.models import SubscriptionChargeLot

    _, _, subscription, *_ = charged
    charge = subscription.charges.get()
    SubscriptionChargeLot._base_manager.filter(charge=charge).delete()

    with pytest.raises(services.ChargeRefundRefused) as refused:
        asked(charge)
    assert refused.value.code == "lots_unknown"
    assert not ChargeRefund.objects.exists()
