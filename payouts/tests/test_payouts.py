import datetime
import json
import re
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from gifting.tests.factories import rich_creator
from payouts import services, tasks
from payouts.models import (
    DiamondCashRate,
    Payout,
    PayoutEvent,
    PayoutRules,
    ProviderTimeoutRecord,
    SandboxPayoutRecord,
)
from payouts.providers import (
    PayoutItem,
    ProviderTimeout,
    payout_provider,
    sandbox_callback_signature,
)
from wallets.models import DIAMOND_SCALE
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import system_balances, wallet_balances
from wallets.tests.factories import staff_create

pytestmark = pytest.mark.django_db
Status = Payout.Status


def request(creator, diamonds=None, key="k1", **kwargs):
    units = None if diamonds is None else diamonds * DIAMOND_SCALE
    return services.payout_request(
        creator=creator, diamond_units=units, idempotency_key=key, **kwargs
    ).payout


def test_the_default_terms_are_seeded():
    rate = DiamondCashRate.objects.get(currency="USD")
    rules = PayoutRules.objects.get(currency="USD")
    assert rate.rate == Decimal("0.005")
    assert (rules.minimum_cashout, rules.method_cooloff_days) == (Decimal("100.00"), 5)


@pytest.mark.parametrize(
    ("units", "gross", "fee", "net"),
    [
        (20_000 * DIAMOND_SCALE, "100.00", "1.25", "98.75"),
        # 20,001.9999 diamonds are 100.0099995: rounded down to 100.00.
        (20_001 * DIAMOND_SCALE + 9_999, "100.00", "1.25", "98.75"),
        # 1 % of 123.45 is 1.2345: rounded up to 1.24, plus 0.25 fixed.
        (24_690 * DIAMOND_SCALE, "123.45", "1.49", "121.96"),
    ],
)
def test_quote_rounds_gross_down_and_the_percent_fee_up(units, gross, fee, net):
    rules = PayoutRules.objects.get(currency="USD")
    assert services.payout_quote(
        diamond_units=units, rate=Decimal("0.005"), rules=rules
    ) == (
        Decimal(gross),
        Decimal(fee),
        Decimal(net),
    )


def test_a_request_holds_the_diamonds_and_stamps_the_terms():
    creator = rich_creator(diamonds=30_000)

    payout = request(creator, diamonds=20_000)

    assert (payout.status, payout.rate, payout.gross_amount, payout.net_amount) == (
        Status.REQUESTED,
        Decimal("0.005000"),
        Decimal("100.00"),
        Decimal("98.75"),
    )
    assert payout.destination == "creator@example.com"
    assert wallet_balances(user=creator.user).diamond_units == 10_000 * DIAMOND_SCALE
    assert system_balances()["payout_hold"] == 20_000 * DIAMOND_SCALE
    assert PayoutEvent.objects.get(payout=payout).to_status == Status.REQUESTED
    assert ledger_reconcile().is_clean


def test_all_cashes_out_the_whole_balance_and_a_repeat_key_returns_the_first():
    creator = rich_creator(diamonds=25_000)
    payout = request(creator, diamonds=None)
    again = request(creator, diamonds=None)
    assert payout == again
    assert payout.diamond_units == 25_000 * DIAMOND_SCALE
    assert Payout.objects.count() == 1


@pytest.mark.parametrize(
    ("creator_fields", "diamonds", "message"),
    [
        ({"verification": "pending"}, 20_000, "Verify your identity"),
        ({"payout_method": "", "paypal_email": ""}, 20_000, "Add a payout method"),
        ({}, 19_999, "minimum cash-out is $100.00"),
        ({}, 40_001, "You have 40,000 diamonds"),
        ({}, 0, "positive number"),
    ],
)
def test_refusals_say_why_and_hold_nothing(creator_fields, diamonds, message):
    creator = rich_creator(diamonds=40_000, **creator_fields)

    with pytest.raises(services.PayoutRefused, match=re.escape(message)):
        request(creator, diamonds=diamonds)

    assert not Payout.objects.exists()
    assert wallet_balances(user=creator.user).diamond_units == 40_000 * DIAMOND_SCALE


def test_only_one_open_payout_and_the_daily_maximum():
    creator = rich_creator(diamonds=2_000_000)
    first = request(creator, diamonds=20_000, key="a")
    with pytest.raises(services.PayoutRefused, match="already have a payout"):
        request(creator, diamonds=20_000, key="b")

    finance = staff_create(FINANCE)
    services.payout_reject(payout=first, actor=finance, reason="test")
    with pytest.raises(services.PayoutRefused, match=r"At most \$5,000.00 a day"):
        request(creator, diamonds=1_000_200, key="c")
    assert request(creator, diamonds=1_000_000, key="d").gross_amount == Decimal(
        "5000.00"
    )


def test_an_unknown_currency_is_refused_on_the_field():
    creator = rich_creator()
    with pytest.raises(services.PayoutRefused) as refusal:
        request(creator, diamonds=20_000, currency="EUR")
    assert refusal.value.field == "currency"


# Every state x every action: the state it moves to, or None when refused.
TRANSITIONS = {
    Status.REQUESTED: {"approve": Status.APPROVED, "reject": Status.REJECTED},
    Status.AWAITING_SECOND_APPROVAL: {
        "approve": Status.APPROVED,
        "reject": Status.REJECTED,
    },
    Status.APPROVED: {},
    Status.PROCESSING: {},
    Status.PAID: {},
    Status.FAILED: {"retry": Status.APPROVED, "give_back": Status.RETURNED},
    Status.REJECTED: {},
    Status.RETURNED: {},
}
ACTIONS = ("approve", "reject", "retry", "give_back")


def payout_in(state, creator, first_approver):
    payout = request(creator, diamonds=20_000)
    extra = {}
    if state == Status.AWAITING_SECOND_APPROVAL:
        extra = {"first_approver": first_approver, "needs_second_approval": True}
    Payout.objects.filter(id=payout.id).update(status=state, **extra)
    payout.refresh_from_db()
    return payout


def act(action, payout, actor):
    if action == "approve":
        return services.payout_approve(payout=payout, actor=actor)
    if action == "reject":
        return services.payout_reject(payout=payout, actor=actor, reason="no")
    if action == "retry":
        return services.payout_retry(payout=payout, actor=actor)
    return services.payout_return(payout=payout, actor=actor)


@pytest.mark.parametrize("state", list(TRANSITIONS))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_state_and_action(state, action):
    creator, first, finance = (
        rich_creator(),
        staff_create(FINANCE),
        staff_create(FINANCE),
    )
    payout = payout_in(state, creator, first)
    expected = TRANSITIONS[state].get(action)

    if expected is None:
        with pytest.raises(services.InvalidTransition) as refusal:
            act(action, payout, finance)
        assert refusal.value.status_code == 409
        payout.refresh_from_db()
        assert payout.status == state
        assert PayoutEvent.objects.filter(payout=payout).count() == 1
    else:
        assert act(action, payout, finance).status == expected
        assert PayoutEvent.objects.filter(payout=payout).last().actor == finance


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("finance", True), ("support", False), ("catalog", False), ("creator", False)],
)
def test_only_finance_approves(who, allowed):
    creator = rich_creator()
    actors = {
        "finance": staff_create(FINANCE),
        "support": staff_create(SUPPORT),
        "catalog": staff_create(CATALOG_EDITORS),
        "creator": creator.user,
    }
    payout = request(creator, diamonds=20_000)

    if allowed:
        assert (
            services.payout_approve(payout=payout, actor=actors[who]).status
            == "approved"
        )
    else:
        with pytest.raises(services.NotAllowed):
            services.payout_approve(payout=payout, actor=actors[who])
        payout.refresh_from_db()
        assert payout.status == Status.REQUESTED


def test_nobody_approves_their_own_payout_even_in_finance():
    finance_creator = staff_create(FINANCE)
    creator = rich_creator(user=finance_creator)
    payout = request(creator, diamonds=20_000)
    with pytest.raises(services.NotAllowed, match="own payout"):
        services.payout_approve(payout=payout, actor=finance_creator)


def test_a_large_payout_needs_a_second_different_approver():
    creator = rich_creator(diamonds=400_000)
    payout = request(creator, diamonds=300_000)  # 1,500 USD: over the 1,000 threshold
    alice, bob = staff_create(FINANCE), staff_create(FINANCE)

    payout = services.payout_approve(payout=payout, actor=alice)
    assert payout.status == Status.AWAITING_SECOND_APPROVAL
    with pytest.raises(services.NotAllowed, match="someone else"):
        services.payout_approve(payout=payout, actor=alice)

    payout = services.payout_approve(payout=payout, actor=bob)
    assert (payout.status, payout.first_approver, payout.second_approver) == (
        Status.APPROVED,
        alice,
        bob,
    )


def test_payouts_split_below_the_threshold_need_a_second_approver_over_24_hours():
    creator = rich_creator(diamonds=1_000_000)
    alice, bob = staff_create(FINANCE), staff_create(FINANCE)
    # Just before a UTC midnight: the split straddles two days.
    start = timezone.now().replace(hour=23, minute=0, second=0, microsecond=0)

    def settled(key, minutes, diamonds=80_000, outcome="paid"):
        payout = request(
            creator,
            diamonds=diamonds,
            key=key,
            now=start + datetime.timedelta(minutes=minutes),
        )
        if outcome == "rejected":
            services.payout_reject(payout=payout, actor=alice, reason="split")
            return payout
        approved = services.payout_approve(payout=payout, actor=alice)
        if approved.status == Status.AWAITING_SECOND_APPROVAL:
            approved = services.payout_approve(payout=approved, actor=bob)
        services.payouts_send(payout_ids=[approved.id])
        return payout

    # 400 USD each: 400, 800 (a rejected one does not count), then 1,200 past
    # midnight: over the 1,000 threshold.
    split = [
        settled("a", 0),
        settled("rejected", 10, outcome="rejected"),
        settled("b", 20),
        settled("c", 80),
    ]
    assert [p.needs_second_approval for p in split] == [False, False, False, True]
    assert Payout.objects.get(id=split[3].id).second_approver == bob
    # 24 hours after the first, only b and c count: 800 + 200 reaches 1,000 exactly.
    exactly = settled("d", 24 * 60 + 1, diamonds=40_000)
    assert exactly.needs_second_approval
    # Once b and c are more than 24 hours old, a payout stands alone again.
    assert not settled("e", 48 * 60, diamonds=40_000).needs_second_approval


def test_rejecting_returns_the_diamonds():
    creator = rich_creator(diamonds=30_000)
    payout = request(creator, diamonds=20_000)
    services.payout_reject(
        payout=payout, actor=staff_create(FINANCE), reason="Fraud check"
    )
    assert wallet_balances(user=creator.user).diamond_units == 30_000 * DIAMOND_SCALE
    assert PayoutEvent.objects.filter(payout=payout).last().note == "Fraud check"
    assert ledger_reconcile().is_clean


def approved(creator, diamonds=20_000):
    payout = request(creator, diamonds=diamonds)
    return services.payout_approve(payout=payout, actor=staff_create(FINANCE))


def test_processing_pays_once_however_often_it_runs():
    creator = rich_creator(diamonds=30_000)
    payout = approved(creator)

    assert services.payouts_send(payout_ids=[payout.id]) == 1
    assert services.payouts_send(payout_ids=[payout.id]) == 0

    payout.refresh_from_db()
    record = SandboxPayoutRecord.objects.get(reference=payout.reference)
    assert payout.status == Status.PAID
    assert (record.times_received, record.times_paid) == (1, 1)
    assert system_balances()["paid_out"] == 20_000 * DIAMOND_SCALE
    assert ledger_reconcile().is_clean


def test_a_payout_stuck_in_processing_is_sent_again_and_paid_once():
    payout = approved(rich_creator())
    Payout.objects.filter(id=payout.id).update(
        status=Status.PROCESSING,
        updated_at=timezone.now() - datetime.timedelta(hours=1),
    )
    # The provider got it and paid, then the worker died before recording the answer.
    payout_provider().send_batch(
        [
            PayoutItem(
                reference=payout.reference,
                amount=payout.net_amount,
                currency="USD",
                method="paypal",
                destination=payout.destination,
            )
        ]
    )

    assert payout.id in services.payouts_due()
    services.payouts_send(payout_ids=[payout.id])

    record = SandboxPayoutRecord.objects.get(reference=payout.reference)
    assert (record.times_received, record.times_paid) == (2, 1)
    payout.refresh_from_db()
    assert payout.status == Status.PAID
    assert ledger_reconcile().is_clean


def test_a_refused_payout_fails_and_can_be_retried_or_returned():
    creator = rich_creator(diamonds=30_000, paypal_email="creator+fail@example.com")
    payout = approved(creator)
    services.payouts_send(payout_ids=[payout.id])
    payout.refresh_from_db()
    assert (payout.status, payout.failure_reason) == (
        Status.FAILED,
        "Receiver account refused.",
    )

    services.payout_return(payout=payout, actor=staff_create(FINANCE))
    assert wallet_balances(user=creator.user).diamond_units == 30_000 * DIAMOND_SCALE
    assert ledger_reconcile().is_clean


def test_a_provider_timeout_leaves_the_payout_processing_for_a_retry():
    payout = approved(rich_creator(paypal_email="slow+timeout@example.com"))
    with pytest.raises(ProviderTimeout):
        services.payouts_send(payout_ids=[payout.id])
    payout.refresh_from_db()
    assert payout.status == Status.PROCESSING
    # Counted, for the time-out storm alert.
    assert ProviderTimeoutRecord.objects.get().payouts == 1


def test_no_payout_goes_to_a_method_changed_within_the_cooloff():
    creator = rich_creator(
        payout_method_changed_at=timezone.now() - datetime.timedelta(days=2)
    )
    payout = approved(creator)

    assert payout.id not in services.payouts_due()
    later = timezone.now() + datetime.timedelta(days=3, minutes=1)
    assert payout.id in services.payouts_due(now=later)


def test_the_dispatch_task_sends_due_payouts(settings, eager_celery):
    settings.PAYOUT_BATCH_SIZE = 1
    payouts = [approved(rich_creator()) for _ in range(3)]

    assert tasks.dispatch_payouts.apply().get() == 3

    assert {
        p.status for p in Payout.objects.filter(id__in=[p.id for p in payouts])
    } == {Status.PAID}


def callback(client, payload, signature=None):
    body = json.dumps(payload).encode()
    return client.post(
        "/api/v1/payouts/provider-callback/",
        data=body,
        content_type="application/json",
        HTTP_X_PROVIDER_SIGNATURE=signature
        if signature is not None
        else sandbox_callback_signature(body),
    )


def test_a_signed_callback_records_the_result_once(client):
    payout = approved(rich_creator())
    Payout.objects.filter(id=payout.id).update(status=Status.PROCESSING)
    payload = {"reference": payout.reference, "status": "paid", "provider_id": "X1"}

    assert callback(client, payload).json() == {"recorded": True}
    assert callback(client, payload).json() == {"recorded": False}
    payout.refresh_from_db()
    assert (payout.status, payout.provider_id) == (Status.PAID, "X1")


def test_a_callback_with_a_bad_signature_changes_nothing(client):
    payout = approved(rich_creator())
    Payout.objects.filter(id=payout.id).update(status=Status.PROCESSING)

    response = callback(
        client, {"reference": payout.reference, "status": "paid"}, signature="f" * 64
    )

    assert response.status_code == 403
    payout.refresh_from_db()
    assert payout.status == Status.PROCESSING


def test_a_callback_replayed_after_five_minutes_changes_nothing(client):
    payout = approved(rich_creator())
    Payout.objects.filter(id=payout.id).update(status=Status.PROCESSING)
    payload = {"reference": payout.reference, "status": "failed", "reason": "old"}
    body = json.dumps(payload).encode()
    captured = sandbox_callback_signature(body, at=int(time.time()) - 301)

    response = callback(client, payload, signature=captured)

    assert response.status_code == 403
    payout.refresh_from_db()
    assert payout.status == Status.PROCESSING


def test_a_retry_after_the_creator_fixed_their_address_is_paid_under_a_new_reference():
    creator = rich_creator(diamonds=30_000, paypal_email="typo+fail@example.com")
    payout = approved(creator)
    services.payouts_send(payout_ids=[payout.id])
    first_reference = payout.reference
    creator.paypal_email = "fixed@example.com"
    creator.save()
    payout.refresh_from_db()

    payout = services.payout_retry(payout=payout, actor=staff_create(FINANCE))
    services.payouts_send(payout_ids=[payout.id])

    payout.refresh_from_db()
    assert payout.status == Status.PAID
    assert payout.reference == f"{first_reference}-R1"
    assert payout.destination == "fixed@example.com"
    assert SandboxPayoutRecord.objects.get(reference=first_reference).times_paid == 0
    assert ledger_reconcile().is_clean


def test_a_batch_leaves_payouts_another_worker_is_sending_right_now():
    payout = approved(rich_creator())
    Payout.objects.filter(id=payout.id).update(
        status=Status.PROCESSING, updated_at=timezone.now()
    )

    assert services.payouts_send(payout_ids=[payout.id]) == 0
    assert not SandboxPayoutRecord.objects.exists()
