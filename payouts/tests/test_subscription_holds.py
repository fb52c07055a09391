"""Subscription charges under the earnings hold (docs/holds.md, docs/subscriptions.md):
a charge's diamonds are held as a gift's, by the rule in force when charged for the
subscriber's home region, counted by the earnings API and refused to payouts.

Level 1 pays 50 %: a coin earns the creator 5,000 units (0.5 diamond).
"""

import datetime

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.tests.factories import gift_create
from gifting import services as gifting_services
from gifting.selectors import creator_earnings, creator_hold
from gifting.tests.factories import creator_create, funded_sender, rich_creator
from payouts import services as payout_services
from payouts.models import Payout
from subscriptions import services as subscription_services
from subscriptions.models import PERIOD, SubscriptionCharge
from subscriptions.tests.factories import tier_create
from wallets.models import LedgerAccount
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.factories import on_sale, purchase_buy, region_create, user_create

from .test_hold_properties import _example
from .test_holds import hold_on, rule  # noqa: F401 - the hold on, seven days

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)
UNITS_PER_COIN = 5_000  # level 1's 50 %
DIAMOND = 10_000


def subscriber_in(region, *, coins=1000, at, txn):
    """A viewer whose home region is `region`, set by a purchase at `at`."""
    user = user_create()
    bundle, region = on_sale(coins=coins, amount="9.99", region=region)
    purchase_buy(user, bundle, region, key=f"buy-{txn}", when=at, txn=txn)
    return user


def subscribe(viewer, tier, *, at, key="s-1"):
    return subscription_services.subscription_subscribe(
        subscriber=viewer,
        tier=tier,
        coin_price=tier.coin_price,
        idempotency_key=key,
        now=at,
    ).subscription


def test_a_charge_stamps_the_subscribers_region_and_is_held_seven_days():
    now = timezone.now()
    us = region_create("US")
    viewer = subscriber_in(us, at=now - 3 * DAY, txn="t-1")
    creator = creator_create()

    subscribe(viewer, tier_create(creator, coin_price=100), at=now - 2 * DAY)

    charge = SubscriptionCharge.objects.get()
    assert charge.sender_region_id == us.id
    hold = creator_hold(creator=creator, now=now)
    assert hold.on_hold_units == 100 * UNITS_PER_COIN
    assert hold.frees == [((now + 5 * DAY).date(), 100 * UNITS_PER_COIN)]
    # Seven days after the charge, to the second, it is free.
    later = charge.created_at + 7 * DAY
    assert creator_hold(creator=creator, now=later).on_hold_units == 0
    assert creator_hold(
        creator=creator, now=later - datetime.timedelta(seconds=1)
    ).on_hold_units == (100 * UNITS_PER_COIN)


def test_a_charge_is_held_by_its_regions_rule_in_force_when_charged():
    now = timezone.now()
    us, gb = region_create("US"), region_create("GB", currency="GBP")
    rule(14, at=now - 20 * DAY, region=us)
    rule(0, at=now - 20 * DAY, region=gb)
    american = subscriber_in(us, at=now - 15 * DAY, txn="t-us")
    briton = subscriber_in(gb, at=now - 15 * DAY, txn="t-gb")
    creator = creator_create()
    tier = tier_create(creator, coin_price=100)

    subscribe(american, tier, at=now - 10 * DAY, key="us")  # 14 days: held
    subscribe(briton, tier, at=now - 10 * DAY, key="gb")  # 0 days: free

    hold = creator_hold(creator=creator, now=now)
    assert hold.on_hold_units == 100 * UNITS_PER_COIN
    assert hold.frees == [((now + 4 * DAY).date(), 100 * UNITS_PER_COIN)]
    # A later rule never releases a charge already made.
    rule(0, at=now - HOUR, region=us)
    assert creator_hold(creator=creator, now=now).on_hold_units == (
        100 * UNITS_PER_COIN
    )


def test_a_renewal_is_held_from_its_own_charge():
    now = timezone.now()
    viewer = funded_sender(1000)
    creator = creator_create()
    sub = subscribe(viewer, tier_create(creator, coin_price=60), at=now - PERIOD)

    assert creator_hold(creator=creator, now=now).on_hold_units == 0
    subscription_services.subscription_renew(subscription_id=sub.id, now=now)

    assert SubscriptionCharge.objects.count() == 2
    hold = creator_hold(creator=creator, now=now)
    assert hold.frees == [((now + 7 * DAY).date(), 60 * UNITS_PER_COIN)]


def test_a_payout_never_takes_held_subscription_diamonds():
    now = timezone.now()
    creator = rich_creator(diamonds=30_000)  # credited long ago: free
    viewer = funded_sender(1000)
    subscribe(viewer, tier_create(creator, coin_price=100), at=now)  # 50 held

    with pytest.raises(payout_services.PayoutRefused) as refused:
        payout_services.payout_request(
            creator=creator, diamond_units=30_001 * DIAMOND, idempotency_key="p-1"
        )
    assert "50 diamonds are on hold" in refused.value.message
    assert refused.value.field == "diamonds"
    assert not Payout.objects.exists()

    paid = payout_services.payout_request(
        creator=creator, diamond_units=None, idempotency_key="p-2"
    ).payout

    assert paid.diamond_units == 30_000 * DIAMOND
    assert wallet_balances(user=creator.user).diamond_units == 50 * DIAMOND
    assert ledger_reconcile().is_clean


def test_the_earnings_api_counts_gifts_and_charges_on_hold(api_client):
    now = timezone.now()
    creator = creator_create()
    viewer = funded_sender(1000)
    gifting_services.gift_send(
        sender=viewer,
        creator=creator,
        gift=gift_create(coin_price=20),
        quantity=1,
        placement="live",
        stream_id="s-1",
        region=None,
        idempotency_key="g-1",
        now=now - 2 * DAY,
    )  # 10 diamonds, frees in 5 days
    subscribe(viewer, tier_create(creator, coin_price=60), at=now - 2 * DAY)  # 30
    other = funded_sender(1000)
    subscribe(other, tier_create(coin_price=50), at=now)  # another creator's
    api_client.force_authenticate(creator.user)

    earnings = api_client.get("/api/v1/creator/earnings/").json()

    assert earnings["diamonds"] == "40.0000"
    assert earnings["on_hold"] == "40.0000"
    assert earnings["available"] == "0.0000"
    assert earnings["on_hold_frees"] == [
        {"on": str((now + 5 * DAY).date()), "diamonds": "40.0000"}
    ]


FREE = 30_000  # whole diamonds the creator holds from long ago: over the minimum


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    hold_days=st.integers(0, 10),
    charges=st.lists(
        st.tuples(
            st.integers(50, 200),  # coins a period
            st.integers(0, 14 * 24),  # hours before now of the last charge
            st.booleans(),  # renewed (the first period long before)
        ),
        min_size=1,
        max_size=4,
    ),
    asks=st.lists(st.one_of(st.none(), st.integers(1, 40_000)), max_size=2),
)
def test_available_and_on_hold_make_the_balance_and_no_payout_takes_a_held_charge(
    settings, hold_days, charges, asks
):
    settings.EARNINGS_HOLD_DAYS = hold_days
    now = timezone.now()
    with _example():
        creator = rich_creator(diamonds=FREE)
        earned = held = 0
        tier = tier_create(creator, coin_price=charges[0][0])
        for n, (coins, hours, renewed) in enumerate(charges):
            at = now - hours * HOUR
            # A price change applies to new subscribers; each keeps its own.
            tier.coin_price = coins
            tier.save()
            sub = subscribe(
                funded_sender(2 * coins),
                tier,
                at=at - PERIOD if renewed else at,
                key=f"s-{n}",
            )
            if renewed:
                subscription_services.subscription_renew(subscription_id=sub.id, now=at)
            units = sub.coin_price * UNITS_PER_COIN
            earned += units * (2 if renewed else 1)
            if at + datetime.timedelta(days=hold_days) > now:
                held += units

        for n, ask in enumerate(asks):
            try:
                payout_services.payout_request(
                    creator=creator,
                    diamond_units=None if ask is None else ask * DIAMOND,
                    idempotency_key=f"p-{n}",
                    now=now,
                )
            except payout_services.PayoutRefused:
                pass
            Payout.objects.filter(creator=creator).update(status=Payout.Status.REJECTED)
            earnings = creator_earnings(creator=creator, now=now)
            assert earnings.hold.on_hold_units == held
            assert earnings.available_units >= 0
            assert earnings.available_units + held == earnings.diamond_units
        paid_out = max(
            Payout.objects.values_list("diamond_units", flat=True), default=0
        )
        assert paid_out <= FREE * DIAMOND + earned - held
        assert wallet_balances(user=creator.user).diamond_units >= held
        assert not LedgerAccount.objects.filter(
            owner__isnull=False, balance__lt=0
        ).exists()
        assert ledger_reconcile().is_clean
