"""The earnings hold under races, on PostgreSQL: a payout request racing gift sends
or a store refund never pays out a held diamond and never takes a balance below
zero; a store refund racing gifts to the same creator neither deadlocks nor loses
a gift."""

import pytest
from django.conf import settings

from catalog.tests.factories import gift_create
from gifting import services
from gifting.models import GiftSend, HoldRecovery
from gifting.tests.factories import rich_creator
from payouts import services as payout_services
from wallets import services as wallet_services
from wallets.models import LedgerAccount, UnrecoveredStoreRefund
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.factories import on_sale, purchase_buy, user_create
from wallets.tests.test_concurrency import run_in_threads

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="concurrency needs PostgreSQL (set DATABASE_URL)",
    ),
]
FREE = 30_000  # whole diamonds from long ago: over the payout minimum
DIAMOND = 10_000
UNITS_PER_COIN = 5_000  # level 1's 50 %


@pytest.fixture(autouse=True)
def hold_on(settings):
    settings.EARNINGS_HOLD_DAYS = 7


def buyer(coins, txn):
    user = user_create()
    bundle, region = on_sale(coins=coins, amount="9.99")
    purchase_buy(user, bundle, region, key=f"buy-{txn}", txn=txn)
    return user


def send(sender, creator, gift, key):
    return services.gift_send(
        sender=sender,
        creator=creator,
        gift=gift,
        quantity=1,
        placement="live",
        stream_id="hot",
        region=None,
        idempotency_key=key,
    )


def no_negative_balance():
    return not LedgerAccount.objects.filter(owner__isnull=False, balance__lt=0).exists()


def test_a_payout_racing_gift_sends_takes_only_the_free_diamonds():
    creator = rich_creator(diamonds=FREE)
    gift = gift_create(coin_price=10)
    senders = [buyer(50, f"t-{n}") for n in range(8)]

    def work(thread):
        if thread == len(senders):
            return payout_services.payout_request(
                creator=creator, diamond_units=None, idempotency_key="p-1"
            ).payout.diamond_units
        for n in range(5):
            send(senders[thread], creator, gift, f"g-{thread}-{n}")
        return None

    answers = run_in_threads(len(senders) + 1, work)

    # Every gift is held: the payout took exactly the free diamonds.
    assert answers[-1] == FREE * DIAMOND
    sent = GiftSend.objects.filter(creator=creator).count()
    assert sent == 40
    left = wallet_balances(user=creator.user).diamond_units
    assert left == sent * 10 * UNITS_PER_COIN
    assert no_negative_balance()
    assert ledger_reconcile().is_clean


def test_a_store_refund_racing_a_payout_request_takes_back_what_the_payout_left():
    creators = [rich_creator(diamonds=FREE) for _ in range(4)]
    gift = gift_create(coin_price=60)
    buyers = [buyer(100, f"t-{n}") for n in range(4)]
    for n, (creator, sender) in enumerate(zip(creators, buyers, strict=True)):
        send(sender, creator, gift, f"g-{n}")  # 30 diamonds on hold each

    def work(thread):
        n = thread // 2
        if thread % 2:
            return wallet_services.store_refund_notification_handle(
                store="apple", transaction_id=f"t-{n}"
            ).refunded
        return payout_services.payout_request(
            creator=creators[n], diamond_units=None, idempotency_key=f"p-{n}"
        ).payout.diamond_units

    answers = run_in_threads(8, work)

    # Whichever went first, the payout took the free diamonds, the refund the held.
    assert answers[0::2] == [FREE * DIAMOND] * 4
    assert answers[1::2] == [True] * 4
    for creator in creators:
        assert wallet_balances(user=creator.user).diamond_units == 0
    assert (
        list(
            UnrecoveredStoreRefund.objects.values_list(
                "paid_coins_recovered", "diamond_units_recovered"
            )
        )
        == [(60, 60 * UNITS_PER_COIN)] * 4
    )
    assert no_negative_balance()
    assert ledger_reconcile().is_clean


def test_a_store_refund_racing_gifts_to_the_same_creator_loses_nothing():
    creator = rich_creator(diamonds=1)
    gift = gift_create(coin_price=10)
    refunded = buyer(100, "t-refund")
    send(refunded, creator, gift, "g-refunded")
    send(refunded, creator, gift, "g-refunded-2")
    senders = [buyer(50, f"t-{n}") for n in range(6)]

    def work(thread):
        if thread == len(senders):
            return wallet_services.store_refund_notification_handle(
                store="apple", transaction_id="t-refund"
            ).refunded
        for n in range(5):
            send(senders[thread], creator, gift, f"g-{thread}-{n}")
        return None

    answers = run_in_threads(len(senders) + 1, work)

    assert answers[-1] is True
    assert HoldRecovery.objects.get(gift_send__idempotency_key="g-refunded")
    record = UnrecoveredStoreRefund.objects.get()
    assert (record.paid_coins_recovered, record.paid_coins_not_recovered) == (20, 0)
    gifts_left = GiftSend.objects.filter(creator=creator).count() - 2
    assert gifts_left == 30
    assert wallet_balances(user=creator.user).diamond_units == (
        DIAMOND + gifts_left * 10 * UNITS_PER_COIN
    )
    assert no_negative_balance()
    assert ledger_reconcile().is_clean
