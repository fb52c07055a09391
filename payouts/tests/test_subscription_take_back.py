"""A store refund takes back from subscription charges still on hold (docs/holds.md,
*A store refund takes back from the hold*): a charge names the purchases its paid
coins came from, so its match is exact; the gifts get what is left of the refunded
purchase's spent coins, by the newest-first rule.

Level 1 pays 50 %: a coin earns the creator 5,000 units (0.5 diamond).
"""

import datetime

import pytest
from django.utils import timezone

from accounts.roles import FINANCE, SUPPORT
from gifting.models import HoldRecovery
from gifting.selectors import creator_hold
from gifting.tests.factories import creator_create
from subscriptions import services as subscription_services
from subscriptions.models import ChargeHoldRecovery
from subscriptions.tests.factories import tier_create
from wallets.models import Transfer, UnrecoveredStoreRefund
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.factories import staff_create

from .test_holds import buyer_with, gift, hold_on, store_refund  # noqa: F401
from .test_subscription_holds import subscribe

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)
UNITS_PER_COIN = 5_000


def test_a_store_refund_takes_back_a_held_charge_it_paid_for():
    now = timezone.now()
    viewer, bought = buyer_with(100, at=now - 5 * DAY, txn="t-1")
    creator = creator_create()
    subscription = subscribe(viewer, tier_create(creator, coin_price=80), at=now - DAY)
    charge = subscription.charges.get()

    result = store_refund("t-1", now=now)

    assert result.paid_taken_back == 20
    record = UnrecoveredStoreRefund.objects.get()
    assert (record.paid_coins_spent, record.paid_coins_recovered) == (80, 80)
    assert record.diamond_units_recovered == 80 * UNITS_PER_COIN
    assert record.is_resolved  # recovered in full: closed by the platform
    recovery = ChargeHoldRecovery.objects.get()
    assert (recovery.charge_id, recovery.paid_coins, recovery.diamond_units) == (
        charge.id,
        80,
        80 * UNITS_PER_COIN,
    )
    assert recovery.transfer.idempotency_key == (
        f"purchase:{bought.id}:hold:charge:{charge.id}"
    )
    assert wallet_balances(user=creator.user).diamond_units == 0
    assert creator_hold(creator=creator, now=now).on_hold_units == 0
    assert ledger_reconcile().is_clean
    # A repeat of the notification takes nothing more.
    store_refund("t-1", now=now)
    assert ChargeHoldRecovery.objects.count() == 1


def test_a_charge_past_the_hold_is_lost_but_not_put_on_the_gifts():
    """The charge (older, past the hold) spent 60 of the purchase; the gift (on
    hold) spent 40. The gift gives back its 40; the charge's 60 are lost. Without
    the exact match the newest-first rule would have put 100 coins on gifts."""
    now = timezone.now()
    viewer, _ = buyer_with(100, at=now - 20 * DAY, txn="t-1")
    creator, other = creator_create(), creator_create()
    subscribe(viewer, tier_create(creator, coin_price=60), at=now - 10 * DAY)
    held_gift = gift(viewer, other, 40, at=now - DAY, key="g-1")

    store_refund("t-1", now=now)

    record = UnrecoveredStoreRefund.objects.get()
    assert (record.paid_coins_spent, record.paid_coins_recovered) == (100, 40)
    assert not ChargeHoldRecovery.objects.exists()
    assert list(HoldRecovery.objects.values_list("gift_send", "paid_coins")) == [
        (held_gift.id, 40)
    ]
    assert wallet_balances(user=creator.user).diamond_units == 60 * UNITS_PER_COIN
    assert ledger_reconcile().is_clean


def test_gifts_and_charges_of_one_creator_are_taken_back_newest_first_to_zero():
    """The creator holds less than both earnings (a hand debit): the newest earning
    is taken back first, whichever source it came from; never below zero."""
    from django.db import transaction

    from wallets import ledger
    from wallets.models import AccountKind

    now = timezone.now()
    viewer, _ = buyer_with(100, at=now - 5 * DAY, txn="t-1")
    creator = creator_create()
    subscribe(viewer, tier_create(creator, coin_price=50), at=now - 2 * DAY)
    newest = gift(viewer, creator, 50, at=now - DAY, key="g-1")
    with transaction.atomic():
        account = ledger.user_account(creator.user, AccountKind.DIAMONDS)
        ledger.pending_credits_fold(account_id=account.id)
        ledger.adjustment_post(
            account=account, amount=-30 * 10_000, actor_id=1, client_key="by-hand"
        )

    store_refund("t-1", now=now)

    # 20 diamonds left of 50: the gift's 25 first (all 20 = 40 coins), the
    # charge's next (nothing left).
    assert list(HoldRecovery.objects.values_list("gift_send", "paid_coins")) == [
        (newest.id, 40)
    ]
    assert not ChargeHoldRecovery.objects.exists()
    assert wallet_balances(user=creator.user).diamond_units == 0
    assert UnrecoveredStoreRefund.objects.get().paid_coins_recovered == 40
    assert ledger_reconcile().is_clean


def test_a_refunded_charge_is_not_taken_back_again_by_a_store_refund():
    now = timezone.now()
    viewer, bought = buyer_with(100, at=now - 5 * DAY, txn="t-1")
    creator = creator_create()
    subscription = subscribe(viewer, tier_create(creator, coin_price=80), at=now - DAY)
    refund = subscription_services.charge_refund_request(
        charge=subscription.charges.get(), actor=staff_create(SUPPORT), reason="x"
    )
    subscription_services.charge_refund_approve(
        refund=refund, actor=staff_create(FINANCE)
    )
    assert wallet_balances(user=viewer).paid_coins == 100

    result = store_refund("t-1", now=now)

    # The purchase is whole again: all 100 come back as unspent, nothing is lost.
    assert result.paid_taken_back == 100
    assert result.shortfall is None
    assert not ChargeHoldRecovery.objects.exists()
    assert not Transfer.objects.filter(kind=Transfer.Kind.HOLD_TAKE_BACK).exists()
    assert ledger_reconcile().is_clean
