"""The hot creator: many senders gifting one creator at once, on PostgreSQL."""

from collections import Counter

import pytest
from django.conf import settings

from gifting import services as gifting_services
from gifting.models import GiftSend
from gifting.tests.factories import creator_create, funded_sender, rose
from payouts import services
from wallets import ledger
from wallets.ledger import InsufficientBalance
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import wallet_balances
from wallets.tests.test_concurrency import run_in_threads

pytestmark = [
    # Serialized rollback puts the migrations' data (levels, roles) back afterwards.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="concurrency needs PostgreSQL (set DATABASE_URL)",
    ),
]
SENDERS, GIFTS_EACH, THREADS = 100, 20, 50


def test_a_hundred_senders_gifting_one_creator_apply_each_gift_once():
    creator = creator_create()
    gift = rose(coin_price=7)
    # 100 coins buy 14 roses of 7: every sender runs out partway, so refusals for
    # balance happen under contention too.
    senders = [funded_sender(100) for _ in range(SENDERS)]

    def work(thread):
        outcomes = Counter()
        for sender in senders[thread::THREADS]:
            for n in range(GIFTS_EACH):
                try:
                    gifting_services.gift_send(
                        sender=sender,
                        creator=creator,
                        gift=gift,
                        quantity=1,
                        placement="live",
                        stream_id="hot",
                        region=None,
                        idempotency_key=f"{sender.id}-{n}",
                    )
                    outcomes["sent"] += 1
                except InsufficientBalance:
                    outcomes["refused"] += 1
        return outcomes

    totals = sum(run_in_threads(THREADS, work), Counter())

    assert totals == {"sent": SENDERS * 14, "refused": SENDERS * (GIFTS_EACH - 14)}
    assert GiftSend.objects.count() == totals["sent"]
    stamped = sum(GiftSend.objects.values_list("creator_diamond_units", flat=True))
    assert wallet_balances(user=creator.user).diamond_units == stamped
    assert all(wallet_balances(user=s).coins == 100 - 14 * 7 for s in senders)
    assert ledger_reconcile().is_clean
    ledger.pending_credits_fold_all()
    assert wallet_balances(user=creator.user).diamond_units == stamped
    assert ledger_reconcile().is_clean


def test_concurrent_duplicates_of_one_key_apply_once():
    creator, gift, sender = creator_create(), rose(), funded_sender(100)

    def work(_):
        result = gifting_services.gift_send(
            sender=sender,
            creator=creator,
            gift=gift,
            quantity=3,
            placement="live",
            stream_id="dup",
            region=None,
            idempotency_key="the-one-key",
        )
        return result.gift_send.id, result.created

    answers = run_in_threads(30, work)

    assert len({gift_send_id for gift_send_id, _ in answers}) == 1
    assert sum(created for _, created in answers) == 1
    assert wallet_balances(user=sender).coins == 97
    assert ledger_reconcile().is_clean


def test_two_finance_users_approving_at_the_same_moment_make_one_approval():
    from django.contrib.auth.models import Group

    from gifting.tests.factories import rich_creator
    from payouts.models import Payout, PayoutEvent
    from wallets.models import DIAMOND_SCALE
    from wallets.tests.factories import user_create

    approvers = []
    for _ in range(2):
        user = user_create(is_staff=True)
        user.groups.add(Group.objects.get(name="Finance"))
        approvers.append(user)
    payout = services.payout_request(
        creator=rich_creator(),
        diamond_units=20_000 * DIAMOND_SCALE,
        idempotency_key="k",
    ).payout

    def approve(i):
        try:
            services.payout_approve(payout=payout, actor=approvers[i])
        except services.InvalidTransition:
            return "refused"
        return "approved"

    assert sorted(run_in_threads(2, approve)) == ["approved", "refused"]
    payout.refresh_from_db()
    # Approval hands it straight to the (eager) worker, which may have paid it.
    assert payout.status in (Payout.Status.APPROVED, Payout.Status.PAID)
    assert payout.first_approver in approvers
    assert PayoutEvent.objects.filter(payout=payout, to_status="approved").count() == 1


def test_a_refund_racing_a_gift_by_the_same_user_never_deadlocks():
    from wallets import services as wallet_services
    from wallets.models import Purchase

    creator, gift = creator_create(), rose(coin_price=5)
    outcomes = Counter()
    for round_ in range(15):
        sender = funded_sender(100)
        purchase = Purchase.objects.get(user=sender)

        def race(i, sender=sender, purchase=purchase, round_=round_):
            if i == 0:
                try:
                    wallet_services.purchase_refund(
                        purchase=purchase, actor=None, reason="race", source="finance"
                    )
                except wallet_services.RefundRefused:
                    return "refund refused"
                return "refunded"
            try:
                gifting_services.gift_send(
                    sender=sender,
                    creator=creator,
                    gift=gift,
                    quantity=1,
                    placement="live",
                    stream_id="race",
                    region=None,
                    idempotency_key=f"race-{round_}",
                )
            except InsufficientBalance:
                return "gift refused"
            return "sent"

        outcomes.update(run_in_threads(2, race))

    # Either order is fine; what may not happen is a deadlock (an error above).
    assert outcomes["refunded"] + outcomes["refund refused"] == 15
    assert outcomes["sent"] + outcomes["gift refused"] == 15
    assert ledger_reconcile().is_clean
