"""Refunds of charges at once with everything else that locks the same rows:
threads against PostgreSQL. A deadlock or a lost update shows as an exception in
a thread or a ledger that does not reconcile."""

import datetime
import threading

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from accounts.roles import FINANCE, SUPPORT
from catalog.tests.factories import gift_create
from core.errors import ServiceError
from gifting import services as gifting_services
from gifting.tests.factories import rich_creator
from payouts import services as payout_services
from subscriptions import services
from subscriptions.models import PERIOD, ChargeRefund
from subscriptions.tests.factories import tier_create
from wallets import services as wallet_services
from wallets.models import LedgerAccount, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.tests.factories import (
    bundle_create,
    price_create,
    purchase_buy,
    region_create,
    staff_create,
    user_create,
)

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="concurrency needs PostgreSQL (set DATABASE_URL)",
    ),
]


def _at_once(works):
    """Run each of `works` in its own thread, started together; their outcomes:
    a value, a refusal's code, or the name of any other exception."""
    start = threading.Barrier(len(works))
    outcomes = [None] * len(works)

    def run(n):
        try:
            start.wait()
            outcomes[n] = works[n]()
        except ServiceError as refusal:
            outcomes[n] = refusal.code
        except Exception as error:  # a deadlock, a lost update: the test's failure
            outcomes[n] = f"{type(error).__name__}: {error}"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _buy(user, coins, *, txn, when):
    bundle, region = bundle_create(coins=coins, price="4.99"), region_create()
    price_create(bundle, region, "4.99", effective_at=when - PERIOD)
    return purchase_buy(user, bundle, region, key=txn, when=when, txn=txn).purchase


def test_finance_users_granting_one_refund_at_once_refund_it_once():
    now = timezone.now()
    viewer = user_create()
    _buy(viewer, 500, txn="t-1", when=now)
    subscription = services.subscription_subscribe(
        subscriber=viewer,
        tier=tier_create(coin_price=100),
        coin_price=100,
        idempotency_key="k",
        now=now,
    ).subscription
    refund = services.charge_refund_request(
        charge=subscription.charges.get(), actor=staff_create(SUPPORT), reason="x"
    )
    finance = [staff_create(FINANCE) for _ in range(5)]

    outcomes = _at_once(
        [
            lambda f=f: services.charge_refund_approve(refund=refund, actor=f).status
            for f in finance
        ]
    )

    assert sorted(outcomes) == ["already_decided"] * 4 + ["refunded"]
    assert Transfer.objects.filter(kind=Transfer.Kind.SUBSCRIPTION_REFUND).count() == 1
    assert ledger_reconcile().is_clean


@pytest.mark.parametrize("round_", range(3))
def test_a_refund_racing_renewals_gifts_payouts_and_store_refunds_neither_deadlocks_nor_loses(  # noqa: E501
    round_, settings
):
    """With the hold on, the subscriber's store refund locks the creator to take
    back from held earnings while the renewal and the charge's refund hold the
    creator's key share and wait for the subscriber's coins: the take-back's share
    lock lets all of them through."""
    settings.EARNINGS_HOLD_DAYS = 7
    day = datetime.timedelta(days=1)
    now = timezone.now()
    viewer = user_create()
    _buy(viewer, 150, txn="t-old", when=now - 40 * day)
    to_refund = _buy(viewer, 200, txn="t-store", when=now - 40 * day)
    creator = rich_creator(1_000)
    tier = tier_create(creator, coin_price=100)
    # An older subscription to another creator, paid from the first purchase.
    first = services.subscription_subscribe(
        subscriber=viewer,
        tier=tier_create(rich_creator(1), coin_price=100),
        coin_price=100,
        idempotency_key="k1",
        now=now - 39 * day,
    ).subscription
    services.subscription_cancel(subscription=first, now=now - 38 * day)
    services.subscription_renew(subscription_id=first.id, now=now - 9 * day)
    # The live one: 50 coins from each purchase; its period ends in an hour.
    second = services.subscription_subscribe(
        subscriber=viewer,
        tier=tier,
        coin_price=100,
        idempotency_key="k2",
        now=now - PERIOD + datetime.timedelta(hours=1),
    ).subscription
    gift = gift_create(coin_price=10)
    # A gift still on hold: the store refund takes it back, locking the creator.
    gifting_services.gift_send(
        sender=viewer,
        creator=creator,
        gift=gift,
        quantity=1,
        placement="live",
        stream_id="s",
        region=None,
        idempotency_key="g0",
        now=now - day,
    )
    refund = services.charge_refund_request(
        charge=second.charges.get(),
        actor=staff_create(SUPPORT),
        reason="x",
        now=now - PERIOD + datetime.timedelta(hours=2),
    )
    granter = staff_create(FINANCE)
    renew_at = second.period_ends_at

    outcomes = _at_once(
        [
            lambda: (
                services.charge_refund_approve(
                    refund=refund, actor=granter, now=renew_at
                ).status
            ),
            lambda: services.subscription_renew(
                subscription_id=second.id, now=renew_at
            ),
            lambda: (
                wallet_services.store_refund_notification_handle(
                    store="apple", transaction_id="t-store", now=renew_at
                ).refunded
            ),
            lambda: (
                payout_services.payout_request(
                    creator=creator, diamond_units=None, idempotency_key="p"
                ).payout.diamond_units
            ),
            lambda: (
                gifting_services.gift_send(
                    sender=viewer,
                    creator=creator,
                    gift=gift,
                    quantity=1,
                    placement="live",
                    stream_id="s",
                    region=None,
                    idempotency_key="g1",
                    now=renew_at,
                ).gift_send.coins
            ),
        ]
    )

    failures = [o for o in outcomes if isinstance(o, str) and ":" in o]
    assert not failures, outcomes
    assert ledger_reconcile().is_clean
    assert not LedgerAccount.objects.filter(owner__isnull=False, balance__lt=0).exists()
    refund.refresh_from_db()
    to_refund.refresh_from_db()
    # The store refund always lands; the charge's refund lands unless the store
    # refund of a purchase it drew on came first.
    assert to_refund.status == "refunded"
    drew_on_it = second.charges.get(period=1).lots.filter(purchase=to_refund).exists()
    assert refund.status == ChargeRefund.Status.REFUNDED or (
        drew_on_it and outcomes[0] == "purchase_refunded"
    ), outcomes
