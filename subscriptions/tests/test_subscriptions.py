import datetime

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from core.idempotency import IdempotencyKeyReused
from gifting.models import CreatorProfile
from gifting.tests.factories import creator_create, funded_sender
from subscriptions import services
from subscriptions.models import (
    GRACE,
    PERIOD,
    RETRY_EVERY,
    Subscription,
    SubscriptionCharge,
    Tier,
)
from subscriptions.services import Renewal, renewals
from subscriptions.services import subscriptions as subscribing
from wallets import ledger
from wallets.ledger import InsufficientBalance
from wallets.models import DIAMOND_SCALE, AccountKind, LedgerAccount, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.factories import on_sale, purchase_buy, user_create

from .factories import limit_of, tier_create

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)


def coins_of(user) -> int:
    balances = wallet_balances(user=user)
    return balances.paid_coins + balances.bonus_coins


def diamond_units_of(creator: CreatorProfile) -> int:
    account = ledger.user_account(creator.user, AccountKind.DIAMONDS)
    pending = account.pending_credits.aggregate(total=Sum("amount"))["total"] or 0
    return account.balance + pending


def subscribe(viewer, tier, key="k1", now=NOW):
    return services.subscription_subscribe(
        subscriber=viewer,
        tier=tier,
        coin_price=tier.coin_price,
        idempotency_key=key,
        now=now,
    ).subscription


def renew(subscription, now):
    return services.subscription_renew(subscription_id=subscription.id, now=now)


def retry_until_over(subscription, at):
    """Run each retry of a subscription in grace when it is due; the last one's time."""
    while subscription.status == "grace":
        at = subscription.next_charge_at
        renew(subscription, at)
        subscription.refresh_from_db()
    return at


def test_a_price_changed_after_it_was_shown_is_refused_and_moves_nothing():
    viewer = funded_sender(1000)
    tier = tier_create(coin_price=100)
    shown = tier.coin_price
    services.tier_update(tier=tier, coin_price=tier.limit.max_coins)

    with pytest.raises(services.PriceChanged) as refused:
        services.subscription_subscribe(
            subscriber=viewer,
            tier=tier,
            coin_price=shown,
            idempotency_key="k",
            now=NOW,
        )

    assert refused.value.status_code == 409
    assert refused.value.extra == {"coin_price": tier.limit.max_coins}
    assert coins_of(viewer) == 1000
    assert not Subscription.objects.exists()
    assert not Transfer.objects.filter(kind="subscription").exists()


def test_the_price_read_is_the_tiers_now_not_the_callers_copy():
    """The caller's tier object may be stale: the locked row decides."""
    viewer = funded_sender(1000)
    tier = tier_create(coin_price=100)
    Tier.objects.filter(id=tier.id).update(coin_price=150)

    with pytest.raises(services.PriceChanged):
        services.subscription_subscribe(
            subscriber=viewer, tier=tier, coin_price=100, idempotency_key="k"
        )
    sub = services.subscription_subscribe(
        subscriber=viewer, tier=tier, coin_price=150, idempotency_key="k"
    ).subscription
    assert (sub.coin_price, sub.charges.get().coins) == (150, 150)
    assert coins_of(viewer) == 850
    with pytest.raises(IdempotencyKeyReused):
        services.subscription_subscribe(
            subscriber=viewer, tier=tier, coin_price=100, idempotency_key="k"
        )


def test_subscribing_charges_the_first_period_at_the_creators_share():
    viewer = funded_sender(1000)
    tier = tier_create(coin_price=120)
    result = services.subscription_subscribe(
        subscriber=viewer,
        tier=tier,
        coin_price=tier.coin_price,
        idempotency_key="k1",
        now=NOW,
    )
    sub = result.subscription
    assert result.created
    assert (sub.status, sub.period, sub.coin_price) == ("active", 1, 120)
    assert sub.period_ends_at == sub.next_charge_at == NOW + PERIOD
    charge = SubscriptionCharge.objects.get()
    share = tier.creator.level.share_percent
    assert (charge.period, charge.coins, charge.paid_coins) == (1, 120, 120)
    assert charge.share_percent == share
    assert charge.creator_diamond_units == int(120 * share * 100)
    assert charge.creator_diamond_units + charge.platform_diamond_units == (
        120 * DIAMOND_SCALE
    )
    assert coins_of(viewer) == 880
    assert diamond_units_of(tier.creator) == charge.creator_diamond_units
    assert ledger_reconcile().is_clean


def test_a_repeat_with_the_same_key_moves_nothing():
    viewer = funded_sender(1000)
    tier = tier_create()
    first = subscribe(viewer, tier)
    again = services.subscription_subscribe(
        subscriber=viewer,
        tier=tier,
        coin_price=tier.coin_price,
        idempotency_key="k1",
        now=NOW,
    )
    assert not again.created and again.subscription.id == first.id
    assert coins_of(viewer) == 900
    other = tier_create(coin_price=60)
    with pytest.raises(IdempotencyKeyReused):
        subscribe(viewer, other)


def test_a_second_subscription_to_the_same_creator_is_a_409():
    viewer = funded_sender(1000)
    tier = tier_create()
    subscribe(viewer, tier)
    with pytest.raises(services.AlreadySubscribed) as refused:
        subscribe(viewer, tier, key="k2")
    assert refused.value.status_code == 409
    assert SubscriptionCharge.objects.count() == 1
    assert coins_of(viewer) == 900


@pytest.mark.parametrize(
    "change, message",
    [
        ({"suspended": True}, "This creator is suspended."),
        ({"follower_count": 10}, "1,000 followers required"),
    ],
)
def test_an_ineligible_creator_cannot_be_subscribed_to(change, message):
    viewer = funded_sender(1000)
    tier = tier_create()
    CreatorProfile.objects.filter(id=tier.creator_id).update(**change)
    tier.creator.refresh_from_db()
    with pytest.raises(services.TierRefused, match=message) as refused:
        subscribe(viewer, tier)
    assert refused.value.field == "tier"
    assert not Subscription.objects.exists()
    assert coins_of(viewer) == 1000


def test_nobody_subscribes_to_themselves_or_under_18():
    creator = creator_create(user=funded_sender(1000))
    tier = tier_create(creator)
    with pytest.raises(services.SubscriptionRefused, match="yourself"):
        subscribe(creator.user, tier)
    minor = user_create(birth_date=datetime.date.today() - datetime.timedelta(days=365))
    with pytest.raises(services.SubscriptionRefused) as refused:
        subscribe(minor, tier)
    assert refused.value.status_code == 403
    assert not Subscription.objects.exists()


def test_too_few_coins_to_subscribe_creates_nothing():
    viewer = funded_sender(50)
    tier = tier_create(coin_price=100)
    with pytest.raises(InsufficientBalance):
        subscribe(viewer, tier)
    assert not Subscription.objects.exists()
    assert not Transfer.objects.filter(kind=Transfer.Kind.SUBSCRIPTION).exists()


def test_a_tier_priced_outside_its_limits_is_refused_and_changes_nothing():
    creator = creator_create()
    limit = limit_of(1)
    with pytest.raises(services.TierRefused) as refused:
        services.tier_create(
            creator=creator, limit=limit, name="Big", coin_price=limit.max_coins + 1
        )
    assert refused.value.field == "coin_price"
    tier = services.tier_create(creator=creator, limit=limit, name="T", coin_price=50)
    with pytest.raises(services.TierRefused):
        services.tier_update(tier=tier, coin_price=limit.min_coins - 1)
    tier.refresh_from_db()
    assert tier.coin_price == 50
    with pytest.raises(services.TierRefused, match="already offer"):
        services.tier_create(creator=creator, limit=limit, name="T2", coin_price=60)


def test_an_ineligible_creator_cannot_offer_a_tier():
    creator = creator_create(follower_count=3)
    with pytest.raises(services.TierRefused, match="followers"):
        services.tier_create(
            creator=creator, limit=limit_of(1), name="T", coin_price=100
        )


def test_renewal_charges_the_next_period_once_at_the_stamped_price():
    viewer = funded_sender(1000)
    tier = tier_create(coin_price=100)
    sub = subscribe(viewer, tier)
    services.tier_update(tier=tier, coin_price=300)
    assert renew(sub, NOW + PERIOD - datetime.timedelta(seconds=1)) == "not_due"
    assert renew(sub, NOW + PERIOD) == Renewal.RENEWED
    assert renew(sub, NOW + PERIOD) == Renewal.NOT_DUE
    sub.refresh_from_db()
    assert (sub.period, sub.period_starts_at) == (2, NOW + PERIOD)
    assert sub.next_charge_at == NOW + 2 * PERIOD
    assert list(sub.charges.order_by("period").values_list("period", "coins")) == [
        (1, 100),
        (2, 100),
    ]
    assert coins_of(viewer) == 800
    assert ledger_reconcile().is_clean


def test_the_database_charges_a_period_once():
    viewer = funded_sender(1000)
    sub = subscribe(viewer, tier_create())
    charge = sub.charges.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriptionCharge.objects.create(
            **{
                f.attname: getattr(charge, f.attname)
                for f in SubscriptionCharge._meta.concrete_fields
                if f.name != "id"
            }
        )


def test_cancelled_stays_active_until_the_period_ends_then_ends_without_charge():
    viewer = funded_sender(1000)
    sub = subscribe(viewer, tier_create())
    sub = services.subscription_cancel(subscription=sub, now=NOW)
    assert sub.status == "active" and "active until" in sub.notice
    assert renew(sub, NOW + PERIOD) == Renewal.ENDED
    sub.refresh_from_db()
    assert (sub.status, sub.ended_at, sub.next_charge_at) == (
        "ended",
        NOW + PERIOD,
        None,
    )
    assert sub.charges.count() == 1
    assert coins_of(viewer) == 900
    # Over: they may subscribe again.
    assert subscribe(viewer, sub.tier, key="again", now=NOW + PERIOD).period == 1


def resume(subscription, now, by=None):
    return services.subscription_resume(
        subscription=subscription, subscriber=by or subscription.subscriber, now=now
    )


def resume_refused(subscription, now, by=None) -> tuple[int, str]:
    with pytest.raises(services.SubscriptionRefused) as refused:
        resume(subscription, now, by)
    subscription.refresh_from_db()
    return refused.value.status_code, refused.value.code


def test_a_cancelled_subscription_resumed_in_its_period_renews_at_its_end():
    viewer = funded_sender(1000)
    sub = subscribe(viewer, tier_create())
    cancelled = services.subscription_cancel(subscription=sub, now=NOW)
    resumed = resume(sub, NOW + PERIOD / 2)
    assert (resumed.status, resumed.cancelled_at, resumed.notice) == (
        "active",
        None,
        "",
    )
    assert (resumed.period, resumed.period_ends_at, resumed.next_charge_at) == (
        1,
        cancelled.period_ends_at,
        cancelled.period_ends_at,
    )
    # No charge now.
    assert sub.charges.count() == 1 and coins_of(viewer) == 900
    assert renew(sub, NOW + PERIOD) == Renewal.RENEWED
    assert sub.charges.count() == 2 and coins_of(viewer) == 800


def test_resuming_one_not_cancelled_is_a_no_op():
    sub = subscribe(funded_sender(1000), tier_create())
    services.subscription_cancel(subscription=sub, now=NOW)
    resume(sub, NOW)
    history = sub.history.count()
    assert resume(sub, NOW).cancelled_at is None and sub.history.count() == history


def test_a_subscription_past_its_paid_period_or_over_cannot_be_resumed():
    sub = subscribe(funded_sender(1000), tier_create())
    services.subscription_cancel(subscription=sub, now=NOW)
    # The period is over but the renewal has not ended it yet.
    assert resume_refused(sub, NOW + PERIOD) == (409, "period_over")
    assert sub.cancelled_at == NOW and "active until" in sub.notice
    renew(sub, NOW + PERIOD)
    assert resume_refused(sub, NOW + PERIOD) == (409, "not_live")
    assert sub.status == "ended" and sub.charges.count() == 1


def test_only_the_subscriber_resumes():
    sub = subscribe(funded_sender(1000), tier_create())
    services.subscription_cancel(subscription=sub, now=NOW)
    assert resume_refused(sub, NOW, by=funded_sender(10)) == (404, "not_found")
    assert sub.cancelled_at == NOW


def test_a_renewal_short_of_coins_enters_grace_retries_and_lapses():
    viewer = funded_sender(150)
    sub = subscribe(viewer, tier_create(coin_price=100))
    due = NOW + PERIOD
    assert renew(sub, due) == Renewal.GRACE
    sub.refresh_from_db()
    assert sub.status == "grace"
    assert sub.grace_until == due + GRACE
    assert sub.next_charge_at == due + RETRY_EVERY
    assert "100 coins needed, 50 in your wallet" in sub.notice
    at = retry_until_over(sub, due)
    assert sub.status == "lapsed" and at == due + GRACE
    assert "Lapsed" in sub.notice
    assert sub.charges.count() == 1
    assert coins_of(viewer) == 50
    assert ledger_reconcile().is_clean


def test_coins_arriving_in_grace_renew_from_the_periods_start():
    viewer = funded_sender(150)
    sub = subscribe(viewer, tier_create(coin_price=100))
    due = NOW + PERIOD
    renew(sub, due)
    bundle, region = on_sale(coins=100, amount="0.99")
    purchase_buy(viewer, bundle, region, key="top-up")
    assert renew(sub, due + RETRY_EVERY) == Renewal.RENEWED
    sub.refresh_from_db()
    assert (sub.status, sub.period, sub.period_starts_at) == ("active", 2, due)
    assert sub.notice == "" and sub.grace_until is None


def test_cancel_in_grace_ends_at_once():
    viewer = funded_sender(150)
    sub = subscribe(viewer, tier_create(coin_price=100))
    renew(sub, NOW + PERIOD)
    sub = services.subscription_cancel(subscription=sub, now=NOW + PERIOD)
    assert sub.status == "ended" and sub.next_charge_at is None
    with pytest.raises(services.SubscriptionRefused) as refused:
        services.subscription_cancel(subscription=sub, now=NOW + PERIOD)
    assert refused.value.status_code == 409


def test_a_creator_who_becomes_ineligible_is_not_renewed():
    viewer = funded_sender(1000)
    sub = subscribe(viewer, tier_create())
    CreatorProfile.objects.filter(id=sub.creator_id).update(suspended=True)
    assert renew(sub, NOW + PERIOD) == Renewal.ENDED
    sub.refresh_from_db()
    assert sub.status == "ended" and "suspended" in sub.notice
    assert coins_of(viewer) == 900


@pytest.mark.parametrize(
    "change, words",
    [
        ({"is_active": False}, "deactivated"),
        (
            {"birth_date": datetime.date.today() - datetime.timedelta(days=365)},
            "18 or over",
        ),
    ],
)
def test_a_deactivated_or_under_age_subscriber_is_ended_without_a_charge(change, words):
    viewer = funded_sender(1000)
    sub = subscribe(viewer, tier_create())
    User.objects.filter(id=viewer.id).update(**change)

    assert renew(sub, NOW + PERIOD) == Renewal.ENDED

    sub.refresh_from_db()
    assert (sub.status, sub.next_charge_at) == ("ended", None)
    assert words in sub.notice and "without a charge" in sub.notice
    assert sub.charges.count() == 1
    assert coins_of(viewer) == 900
    assert renew(sub, NOW + 2 * PERIOD) == Renewal.NOT_DUE


def test_a_renewal_after_an_outage_charges_one_period_from_now_not_the_backlog():
    viewer = funded_sender(1000)
    sub = subscribe(viewer, tier_create(coin_price=100))
    late = NOW + 4 * PERIOD + datetime.timedelta(hours=1)

    for minute in range(5):
        renew(sub, late + datetime.timedelta(minutes=minute))

    sub.refresh_from_db()
    assert (sub.status, sub.period) == ("active", 2)
    assert (sub.period_starts_at, sub.period_ends_at) == (late, late + PERIOD)
    assert sub.next_charge_at == late + PERIOD
    charge = sub.charges.get(period=2)
    assert (charge.period_starts_at, charge.period_ends_at) == (late, late + PERIOD)
    assert sub.charges.count() == 2
    assert coins_of(viewer) == 800
    assert ledger_reconcile().is_clean


def test_a_renewal_on_time_keeps_periods_contiguous():
    viewer = funded_sender(1000)
    sub = subscribe(viewer, tier_create(coin_price=100))
    a_bit_late = NOW + PERIOD + GRACE - datetime.timedelta(minutes=1)
    assert renew(sub, a_bit_late) == Renewal.RENEWED
    sub.refresh_from_db()
    assert sub.period_starts_at == NOW + PERIOD
    assert sub.charges.get(period=2).period_starts_at == NOW + PERIOD


def test_a_late_first_failure_gets_the_full_grace_period():
    viewer = funded_sender(150)
    sub = subscribe(viewer, tier_create(coin_price=100))
    late = NOW + PERIOD + GRACE + datetime.timedelta(days=2)

    assert renew(sub, late) == Renewal.GRACE

    sub.refresh_from_db()
    assert sub.grace_until == late + GRACE
    assert sub.next_charge_at == late + RETRY_EVERY
    # A second failure keeps the grace period of the first.
    assert renew(sub, late + RETRY_EVERY) == Renewal.GRACE
    sub.refresh_from_db()
    assert sub.grace_until == late + GRACE
    bundle, region = on_sale(coins=100, amount="0.99")
    purchase_buy(viewer, bundle, region, key="top-up")
    retried = late + 2 * RETRY_EVERY
    assert renew(sub, retried) == Renewal.RENEWED
    sub.refresh_from_db()
    assert (sub.status, sub.period, sub.period_starts_at) == ("active", 2, retried)
    assert sub.charges.count() == 2


def test_a_late_first_failure_lapses_only_when_its_grace_runs_out():
    viewer = funded_sender(150)
    sub = subscribe(viewer, tier_create(coin_price=100))
    late = NOW + 3 * PERIOD
    renew(sub, late)
    sub.refresh_from_db()
    at = retry_until_over(sub, late)
    assert sub.status == "lapsed" and at == late + GRACE
    assert sub.charges.count() == 1 and coins_of(viewer) == 50


def test_bonus_coins_go_first_as_in_gifts():
    viewer = funded_sender(100)
    bonus = ledger.user_account(viewer, AccountKind.BONUS_COINS)
    with transaction.atomic():
        ledger.adjustment_post(account=bonus, amount=30, actor_id=1, client_key="b")
    sub = subscribe(viewer, tier_create(coin_price=50))
    charge = sub.charges.get()
    assert (charge.bonus_coins, charge.paid_coins) == (30, 20)
    assert LedgerAccount.objects.get(id=bonus.id).balance == 0


def test_the_batch_renews_due_ones_and_a_second_run_changes_nothing():
    viewers = [funded_sender(1000) for _ in range(3)]
    tier = tier_create()
    subs = [subscribe(v, tier, key=f"k{n}") for n, v in enumerate(viewers)]
    due = services.subscriptions_due(now=NOW + PERIOD)
    assert due == [s.id for s in subs]
    assert services.subscriptions_renew(subscription_ids=due, now=NOW + PERIOD) == {
        "renewed": 3
    }
    assert services.subscriptions_renew(subscription_ids=due, now=NOW + PERIOD) == {
        "not_due": 3
    }
    assert services.subscriptions_due(now=NOW + PERIOD) == []
    assert SubscriptionCharge.objects.count() == 6


def test_a_renewal_that_raises_is_logged_and_counted_and_the_batch_goes_on(
    monkeypatch, caplog
):
    viewers = [funded_sender(1000) for _ in range(3)]
    tier = tier_create()
    subs = [subscribe(v, tier, key=f"k{n}") for n, v in enumerate(viewers)]
    broken = subs[0].id
    real_charge = subscribing._charge

    def charge(subscription, **kwargs):
        if subscription.id == broken:
            raise RuntimeError("the database went away")
        return real_charge(subscription, **kwargs)

    monkeypatch.setattr(subscribing, "_charge", charge)
    due = renewals.subscriptions_due(now=NOW + PERIOD)

    with caplog.at_level("ERROR", logger="subscriptions.services.renewals"):
        outcome = renewals.subscriptions_renew(subscription_ids=due, now=NOW + PERIOD)

    assert outcome == {"error": 1, "renewed": 2}
    assert f"Renewal of subscription {broken} failed" in caplog.text
    assert SubscriptionCharge.objects.filter(subscription_id=broken).count() == 1
    assert coins_of(viewers[0]) == 900 and coins_of(viewers[1]) == 800
    # The next run, the fault gone, renews it.
    monkeypatch.setattr(subscribing, "_charge", real_charge)
    assert renewals.subscriptions_due(now=NOW + PERIOD) == [broken]
    assert renewals.subscriptions_renew(subscription_ids=due, now=NOW + PERIOD) == {
        "renewed": 1,
        "not_due": 2,
    }
    assert ledger_reconcile().is_clean


def test_an_ineligible_creator_cannot_reprice_a_tier():
    tier = tier_create(coin_price=100)
    CreatorProfile.objects.filter(id=tier.creator_id).update(suspended=True)
    with pytest.raises(services.TierRefused) as refused:
        services.tier_update(tier=tier, coin_price=200)
    assert refused.value.field == "coin_price"
    assert Tier.objects.get(id=tier.id).coin_price == 100
    # Switching it off stays possible.
    assert not services.tier_update(tier=tier, is_active=False).is_active


def test_a_tier_switched_off_or_outside_narrowed_limits_takes_no_new_subscriber():
    viewer = funded_sender(1000)
    tier = tier_create(coin_price=100)
    tier = services.tier_update(tier=tier, is_active=False)
    with pytest.raises(services.SubscriptionRefused, match="not offered"):
        subscribe(viewer, tier)
    services.tier_update(tier=tier, is_active=True)
    limit = limit_of(1)
    limit.min_coins = 200
    limit.save()
    tier = Tier.objects.select_related("limit", "creator").get(id=tier.id)
    with pytest.raises(services.SubscriptionRefused, match="outside the limits"):
        subscribe(viewer, tier)
    assert not Subscription.objects.exists()
    assert coins_of(viewer) == 1000
