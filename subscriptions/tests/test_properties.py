"""Property-based tests of subscription money, through the services and the
database, on SQLite and PostgreSQL alike (see tests/test_money_properties.py)."""

import contextlib
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gifting.models import CreatorLevel
from gifting.tests.factories import creator_create, funded_sender
from subscriptions import services
from subscriptions.models import PERIOD, RETRY_EVERY, Subscription, SubscriptionCharge
from wallets import ledger
from wallets.models import DIAMOND_SCALE, AccountKind
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.factories import on_sale, purchase_buy

from .factories import tier_create

pytestmark = pytest.mark.django_db
EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NOW = timezone.now().replace(microsecond=0)


@contextlib.contextmanager
def _example():
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def coins_of(user) -> int:
    balances = wallet_balances(user=user)
    return balances.paid_coins + balances.bonus_coins


def diamond_units_of(creator) -> int:
    account = ledger.user_account(creator.user, AccountKind.DIAMONDS)
    pending = account.pending_credits.aggregate(total=Sum("amount"))["total"] or 0
    return account.balance + pending


@EXAMPLES
@given(
    price=st.integers(50, 5_000),
    share=st.integers(1, 10_000).map(lambda bp: Decimal(bp).scaleb(-2)),
    bonus=st.integers(0, 6_000),
)
def test_a_charge_splits_exactly_and_spends_bonus_first(price, share, bonus):
    with _example():
        CreatorLevel.objects.filter(number=1).update(share_percent=share)
        viewer = funded_sender(5_000)
        if bonus:
            account = ledger.user_account(viewer, AccountKind.BONUS_COINS)
            ledger.adjustment_post(
                account=account, amount=bonus, actor_id=1, client_key="b"
            )
        tier = tier_create(creator_create(), coin_price=price)
        sub = services.subscription_subscribe(
            subscriber=viewer,
            tier=tier,
            coin_price=tier.coin_price,
            idempotency_key="k",
            now=NOW,
        ).subscription
        charge = sub.charges.get()
        assert charge.share_percent == share
        assert charge.creator_diamond_units == price * int(share * 100)
        assert (
            charge.creator_diamond_units + charge.platform_diamond_units
            == price * DIAMOND_SCALE
        )
        assert charge.bonus_coins == min(bonus, price)
        assert charge.paid_coins == price - min(bonus, price)
        assert coins_of(viewer) == 5_000 + bonus - price
        assert diamond_units_of(tier.creator) == charge.creator_diamond_units
        assert ledger_reconcile().is_clean


STEPS = st.lists(
    st.sampled_from(["renew", "wait", "cancel", "top_up", "resubscribe"]),
    min_size=1,
    max_size=12,
)


@EXAMPLES
@given(price=st.integers(50, 400), start=st.integers(0, 900), steps=STEPS)
def test_any_sequence_conserves_coins_and_charges_a_period_once(price, start, steps):
    with _example():
        viewer = funded_sender(1_000) if start else funded_sender(price)
        tier = tier_create(creator_create(), coin_price=price)
        bought = 1_000 if start else price
        now = NOW
        keys = iter(range(1_000))
        services.subscription_subscribe(
            subscriber=viewer,
            tier=tier,
            coin_price=tier.coin_price,
            idempotency_key="first",
            now=now,
        )
        for step in steps:
            live = Subscription.objects.filter(
                subscriber=viewer, status__in=Subscription.LIVE
            ).first()
            if step == "wait":
                now += PERIOD / 3
            elif step == "renew":
                now = max(now, live.next_charge_at) if live else now + RETRY_EVERY
                for due in services.subscriptions_due(now=now):
                    services.subscription_renew(subscription_id=due, now=now)
                    # Run twice: the second finds nothing due.
                    assert (
                        services.subscription_renew(subscription_id=due, now=now)
                        == services.Renewal.NOT_DUE
                    )
            elif step == "cancel" and live:
                services.subscription_cancel(subscription=live, now=now)
            elif step == "top_up":
                bundle, region = on_sale(coins=price, amount="0.99")
                purchase_buy(viewer, bundle, region, key=f"top-{next(keys)}", when=now)
                bought += price
            elif step == "resubscribe" and not live:
                with contextlib.suppress(ledger.InsufficientBalance):
                    with transaction.atomic():
                        services.subscription_subscribe(
                            subscriber=viewer,
                            tier=tier,
                            coin_price=tier.coin_price,
                            idempotency_key=f"again-{next(keys)}",
                            now=now,
                        )
        charges = SubscriptionCharge.objects.filter(subscriber=viewer)
        spent = charges.aggregate(total=Sum("coins"))["total"]
        assert coins_of(viewer) == bought - spent
        for sub in Subscription.objects.filter(subscriber=viewer):
            periods = list(
                sub.charges.order_by("period").values_list("period", flat=True)
            )
            assert periods == list(range(1, sub.period + 1))
        assert (
            Subscription.objects.filter(
                subscriber=viewer, status__in=Subscription.LIVE
            ).count()
            <= 1
        )
        earned = charges.aggregate(total=Sum("creator_diamond_units"))["total"]
        assert diamond_units_of(tier.creator) == earned
        assert ledger_reconcile().is_clean
