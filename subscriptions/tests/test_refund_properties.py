"""Property-based tests of charge refunds and store refunds together, through the
services and the database, on SQLite and PostgreSQL alike: any sequence of
purchases, subscriptions, renewals, gifts, charge refunds, store refunds and time
keeps the ledger reconciled, no balance negative, and every diamond a creator holds
explained by what they earned less what was taken back."""

import contextlib
import datetime

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.roles import FINANCE, SUPPORT
from catalog.tests.factories import gift_create
from core.errors import ServiceError
from gifting import services as gifting_services
from gifting.models import GiftSend, HoldRecovery
from gifting.tests.factories import creator_create
from subscriptions import services
from subscriptions.models import (
    ChargeHoldRecovery,
    ChargeRefund,
    Subscription,
    SubscriptionCharge,
)
from subscriptions.tests.factories import tier_create
from wallets import ledger
from wallets import services as wallet_services
from wallets.models import AccountKind, LedgerAccount, UnrecoveredStoreRefund
from wallets.reconciliation import ledger_reconcile
from wallets.tests.factories import (
    bundle_create,
    price_create,
    purchase_buy,
    region_create,
    staff_create,
    user_create,
)

pytestmark = pytest.mark.django_db
EXAMPLES = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DAY = datetime.timedelta(days=1)
START = timezone.now().replace(microsecond=0) - 90 * DAY

OPS = st.one_of(
    st.tuples(st.just("buy"), st.integers(1, 300)),
    st.tuples(st.just("subscribe"), st.integers(0, 1), st.integers(50, 200)),
    st.tuples(st.just("renew"), st.just(0)),
    st.tuples(st.just("gift"), st.integers(0, 1), st.integers(1, 150)),
    st.tuples(st.just("refund_charge"), st.integers(0, 5)),
    st.tuples(st.just("store_refund"), st.integers(0, 5)),
    st.tuples(st.just("wait"), st.integers(0, 20)),
)


@contextlib.contextmanager
def _example():
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def _units(creator) -> int:
    account = ledger.user_account(creator.user, AccountKind.DIAMONDS)
    pending = account.pending_credits.aggregate(total=Sum("amount"))["total"] or 0
    return account.balance + pending


def _sum(queryset, field) -> int:
    return queryset.aggregate(total=Sum(field))["total"] or 0


@EXAMPLES
@given(
    ops=st.lists(OPS, min_size=1, max_size=14),
    hold_days=st.integers(0, 10),
    bonus=st.integers(0, 120),
)
def test_refunds_of_charges_and_purchases_keep_every_coin_and_diamond(
    ops, hold_days, bonus, settings
):
    settings.EARNINGS_HOLD_DAYS = hold_days
    with _example():
        region = region_create()
        viewer = user_create()
        if bonus:
            ledger.adjustment_post(
                account=ledger.user_account(viewer, AccountKind.BONUS_COINS),
                amount=bonus,
                actor_id=1,
                client_key="bonus",
            )
        creators = [creator_create(), creator_create()]
        tiers = {}
        support, finance = staff_create(SUPPORT), staff_create(FINANCE)
        gift = gift_create(coin_price=1)
        purchases, now = [], START
        for n, op in enumerate(ops):
            kind = op[0]
            try:
                if kind == "buy":
                    bundle = bundle_create(coins=op[1], price="1.99")
                    price_create(bundle, region, "1.99", effective_at=START - DAY)
                    purchases.append(
                        purchase_buy(
                            viewer, bundle, region, key=f"b{n}", when=now, txn=f"t{n}"
                        ).purchase
                    )
                elif kind == "subscribe":
                    creator = creators[op[1]]
                    tier = tiers.get(op[1]) or tier_create(creator, coin_price=op[2])
                    tiers[op[1]] = tier
                    services.subscription_subscribe(
                        subscriber=viewer,
                        tier=tier,
                        coin_price=tier.coin_price,
                        idempotency_key=f"s{n}",
                        now=now,
                    )
                elif kind == "renew":
                    for subscription_id in Subscription.objects.filter(
                        status__in=Subscription.LIVE
                    ).values_list("id", flat=True):
                        services.subscription_renew(
                            subscription_id=subscription_id, now=now
                        )
                elif kind == "gift":
                    gifting_services.gift_send(
                        sender=viewer,
                        creator=creators[op[1]],
                        gift=gift,
                        quantity=op[2],
                        placement="live",
                        stream_id="s",
                        region=None,
                        idempotency_key=f"g{n}",
                        now=now,
                    )
                elif kind == "refund_charge":
                    charges = list(SubscriptionCharge.objects.order_by("id"))
                    if charges:
                        charge = charges[op[1] % len(charges)]
                        refund = services.charge_refund_request(
                            charge=charge, actor=support, reason="r", now=now
                        )
                        services.charge_refund_approve(
                            refund=refund, actor=finance, now=now
                        )
                elif kind == "store_refund" and purchases:
                    purchase = purchases[op[1] % len(purchases)]
                    wallet_services.store_refund_notification_handle(
                        store="apple",
                        transaction_id=purchase.store_transaction_id,
                        now=now,
                    )
                elif kind == "wait":
                    now += op[1] * DAY
            except ServiceError:
                pass  # refused, saying why: nothing moved (checked below)
            now += datetime.timedelta(minutes=1)

        assert ledger_reconcile().is_clean
        assert not LedgerAccount.objects.filter(
            owner__isnull=False, balance__lt=0
        ).exists()
        for refund in ChargeRefund.objects.filter(
            status=ChargeRefund.Status.REFUNDED
        ).select_related("charge"):
            charge = refund.charge
            assert refund.bonus_coins + refund.paid_coins == charge.coins
            assert refund.creator_units == charge.creator_diamond_units
            assert refund.platform_units == charge.platform_diamond_units
        for charge in SubscriptionCharge.objects.all():
            assert _sum(charge.lots, "paid_coins") == charge.paid_coins
        for record in UnrecoveredStoreRefund.objects.all():
            assert 0 <= record.paid_coins_recovered <= record.paid_coins_spent
        for creator in creators:
            earned = _sum(
                SubscriptionCharge.objects.filter(creator=creator),
                "creator_diamond_units",
            ) + _sum(GiftSend.objects.filter(creator=creator), "creator_diamond_units")
            taken = (
                _sum(
                    HoldRecovery.objects.filter(gift_send__creator=creator),
                    "diamond_units",
                )
                + _sum(
                    ChargeHoldRecovery.objects.filter(charge__creator=creator),
                    "diamond_units",
                )
                + _sum(
                    ChargeRefund.objects.filter(charge__creator=creator),
                    "creator_units",
                )
            )
            assert _units(creator) == earned - taken
