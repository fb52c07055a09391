import datetime
import threading

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from accounts.roles import FINANCE, SUPPORT
from core.errors import ServiceError
from wallets import services
from wallets.ledger import InsufficientBalance
from wallets.models import DIAMOND_SCALE, BalanceAdjustment, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import manual_diamond_credits, wallet_balances
from wallets.tests.factories import staff_create

from .factories import user_create

pytestmark = pytest.mark.django_db
Status = BalanceAdjustment.Status


def adjust(actor, user, amount, kind="bonus_coins", reason="Goodwill", key="k1"):
    return services.balance_adjustment_request(
        user=user,
        account_kind=kind,
        amount=amount,
        reason=reason,
        actor=actor,
        idempotency_key=key,
    )


def approve(adjustment, actor):
    return services.balance_adjustment_approve(adjustment=adjustment, actor=actor)


def nothing_written():
    return not BalanceAdjustment.objects.exists() and not Transfer.objects.exists()


def test_a_credit_moves_nothing_until_a_second_finance_user_approves_it():
    alice, bob, user = staff_create(FINANCE), staff_create(FINANCE), user_create()

    asked = adjust(alice, user, 50)

    assert (asked.status, asked.transfer, asked.balance_before) == (
        Status.REQUESTED,
        None,
        None,
    )
    assert wallet_balances(user=user).bonus_coins == 0
    approved = approve(asked, bob)
    assert wallet_balances(user=user).bonus_coins == 50
    assert (approved.status, approved.decided_by, approved.actor) == (
        Status.APPROVED,
        bob,
        alice,
    )
    assert (approved.balance_before, approved.balance_after) == (0, 50)
    assert approved.transfer.kind == Transfer.Kind.ADJUSTMENT
    assert adjust(alice, user, 50) == approved  # a double submit moves nothing
    assert wallet_balances(user=user).bonus_coins == 50
    assert ledger_reconcile().is_clean


def test_a_debit_applies_at_once_by_one_person():
    alice, bob, user = staff_create(FINANCE), staff_create(FINANCE), user_create()
    approve(adjust(alice, user, 50, key="a"), bob)

    taken = adjust(alice, user, -20, key="b")

    assert wallet_balances(user=user).bonus_coins == 30
    assert (taken.status, taken.decided_by, taken.balance_before) == (
        Status.APPROVED,
        alice,
        50,
    )
    assert taken.balance_after == 30
    assert adjust(alice, user, -20, key="b") == taken
    assert wallet_balances(user=user).bonus_coins == 30
    assert ledger_reconcile().is_clean


def test_the_balance_before_is_taken_at_approval():
    alice, bob, user = staff_create(FINANCE), staff_create(FINANCE), user_create()
    first, second = adjust(alice, user, 10, key="a"), adjust(alice, user, 5, key="b")

    approve(second, bob)
    first = approve(first, bob)

    assert (first.balance_before, first.balance_after) == (5, 15)


@pytest.mark.parametrize("who", ["requester", "target"])
def test_nobody_approves_their_own_request_or_a_credit_to_themselves(who):
    alice, bob, carol = (staff_create(FINANCE) for _ in range(3))
    credit = adjust(alice, bob, 10)
    actor = {"requester": alice, "target": bob}[who]

    with pytest.raises(ServiceError, match="someone other|own account") as refusal:
        approve(credit, actor)

    assert refusal.value.status_code == 403
    credit.refresh_from_db()
    assert credit.status == Status.REQUESTED
    assert not Transfer.objects.exists()
    assert approve(credit, carol).status == Status.APPROVED


@pytest.mark.parametrize("amount", [10, -10])
def test_nobody_adjusts_their_own_account(amount):
    finance = staff_create(FINANCE)
    with pytest.raises(ServiceError, match="own account") as refusal:
        adjust(finance, finance, amount)
    assert refusal.value.field == "user"
    assert nothing_written()


def test_a_decided_adjustment_is_decided_once():
    alice, bob, carol, user = (
        *(staff_create(FINANCE) for _ in range(3)),
        user_create(),
    )
    credit = adjust(alice, user, 10)
    approve(credit, bob)

    with pytest.raises(ServiceError, match="already approved") as refusal:
        approve(credit, carol)
    with pytest.raises(ServiceError, match="already approved"):
        services.balance_adjustment_reject(adjustment=credit, actor=carol, reason="x")

    assert refusal.value.status_code == 409
    assert wallet_balances(user=user).bonus_coins == 10
    assert Transfer.objects.count() == 1


def test_a_rejected_credit_never_moves_and_the_requester_may_withdraw_it():
    alice, bob, user = staff_create(FINANCE), staff_create(FINANCE), user_create()
    credit = adjust(alice, user, 10, key="a")

    with pytest.raises(ServiceError, match="needs a reason"):
        services.balance_adjustment_reject(adjustment=credit, actor=bob, reason=" ")
    rejected = services.balance_adjustment_reject(
        adjustment=credit, actor=bob, reason="No outage that day"
    )
    withdrawn = services.balance_adjustment_reject(
        adjustment=adjust(alice, user, 10, key="b"), actor=alice, reason="Typo"
    )

    assert (rejected.status, rejected.decided_by, rejected.rejection_reason) == (
        Status.REJECTED,
        bob,
        "No outage that day",
    )
    assert withdrawn.decided_by == alice
    with pytest.raises(ServiceError, match="already rejected"):
        approve(credit, bob)
    assert not Transfer.objects.exists()
    assert wallet_balances(user=user).bonus_coins == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"reason": " "}, "needs a reason"),
        ({"amount": 0}, "non-zero"),
        ({"kind": "paid_coins"}, "Only bonus coins and diamonds"),
        ({"amount": 10**12 + 1}, "At most 1,000,000,000,000 bonus coins"),
        (
            {"amount": -(10**12 + 1), "kind": "diamonds"},
            "At most 100,000,000 diamonds",
        ),
    ],
)
def test_bad_adjustments_are_refused_and_record_nothing(kwargs, error):
    finance, user = staff_create(FINANCE), user_create()
    kwargs = {"amount": 10, **kwargs}
    with pytest.raises(ServiceError, match=error):
        adjust(finance, user, **kwargs)
    assert nothing_written()


def test_taking_away_more_than_the_balance_is_refused_in_the_unit_people_read():
    finance, user = staff_create(FINANCE), user_create()
    with pytest.raises(InsufficientBalance, match="0 diamonds held, 1.5 diamonds"):
        adjust(finance, user, -15_000, kind="diamonds")
    assert nothing_written()


def test_only_finance_adjusts_and_approves():
    support, finance, user = staff_create(SUPPORT), staff_create(FINANCE), user_create()
    with pytest.raises(ServiceError, match="Only finance"):
        adjust(support, user, 10)
    credit = adjust(finance, user, 10)
    with pytest.raises(ServiceError, match="Only finance"):
        approve(credit, support)
    with pytest.raises(ServiceError, match="Only finance"):
        services.balance_adjustment_reject(adjustment=credit, actor=support, reason="x")
    credit.refresh_from_db()
    assert credit.status == Status.REQUESTED


def test_adjustments_cannot_be_edited_or_deleted():
    adjustment = adjust(staff_create(FINANCE), user_create(), 10)
    adjustment.amount = 99
    with pytest.raises(TypeError, match="append-only"):
        adjustment.save()
    with pytest.raises(TypeError, match="never deleted"):
        adjustment.delete()
    with pytest.raises(TypeError, match="never deleted"):
        BalanceAdjustment.objects.all().delete()


def test_the_preview_says_before_and_after_and_writes_nothing():
    alice, bob, user = staff_create(FINANCE), staff_create(FINANCE), user_create()
    approve(adjust(alice, user, 30_000, kind="diamonds", key="a"), bob)

    preview = services.balance_adjustment_preview(
        user=user, account_kind="diamonds", amount=-10_000, reason="x", actor=alice
    )

    assert preview == services.AdjustmentPreview(30_000, 20_000, needs_approval=False)
    assert BalanceAdjustment.objects.count() == 1
    with pytest.raises(ServiceError, match="own account"):
        services.balance_adjustment_preview(
            user=alice, account_kind="diamonds", amount=1, reason="x", actor=alice
        )


def _row(actor, user, **fields):
    """An adjustment written straight to the table, past the services."""
    now = timezone.now()
    defaults = {
        "account_kind": "bonus_coins",
        "amount": 10,
        "reason": "raw",
        "idempotency_key": f"raw-{BalanceAdjustment.objects.count()}",
        "status": Status.REQUESTED,
    }
    defaults |= fields
    if defaults["status"] == Status.APPROVED:
        defaults.setdefault("decided_at", now)
        defaults.setdefault("balance_before", 0)
        defaults.setdefault("balance_after", defaults["amount"])
        defaults.setdefault(
            "transfer",
            Transfer.objects.create(
                debit_account=_system(),
                credit_account=_bonus(user),
                unit="coin",
                amount=abs(defaults["amount"]),
                kind=Transfer.Kind.ADJUSTMENT,
                reference="raw",
                idempotency_key=f"raw:{defaults['idempotency_key']}",
            ),
        )
    BalanceAdjustment.objects.create(user=user, actor=actor, **defaults)


def _system():
    from wallets import ledger

    return ledger.system_account("bonus_adjustments")


def _bonus(user):
    from wallets import ledger

    return ledger.user_account(user, "bonus_coins")


@pytest.mark.parametrize(
    ("who", "constraint"),
    [
        ("self-request", "wallets_balanceadjustment_not_on_own_account"),
        (
            "approved-by-requester",
            "wallets_balanceadjustment_credit_approved_by_another",
        ),
        ("approved-by-target", "wallets_balanceadjustment_not_decided_by_its_user"),
        ("approved-without-transfer", "wallets_balanceadjustment_state_consistent"),
    ],
)
def test_the_database_refuses_what_four_eyes_forbids(who, constraint):
    alice, bob, user = staff_create(FINANCE), staff_create(FINANCE), user_create()
    rows = {
        "self-request": lambda: _row(alice, alice),
        "approved-by-requester": lambda: _row(
            alice, user, status=Status.APPROVED, decided_by=alice
        ),
        "approved-by-target": lambda: _row(
            alice, bob, status=Status.APPROVED, decided_by=bob
        ),
        "approved-without-transfer": lambda: _row(
            alice,
            user,
            status=Status.APPROVED,
            decided_by=bob,
            decided_at=timezone.now(),
            balance_before=0,
            balance_after=10,
            transfer=None,
        ),
    }
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        rows[who]()
    # The same row, decided by a second person, is accepted.
    _row(alice, user, status=Status.APPROVED, decided_by=bob)


def test_manual_credits_are_summed_per_user_over_a_window():
    alice, bob, user = staff_create(FINANCE), staff_create(FINANCE), user_create()
    approve(adjust(alice, user, 2 * DIAMOND_SCALE, kind="diamonds", key="a"), bob)
    adjust(alice, user, 5 * DIAMOND_SCALE, kind="diamonds", key="b")  # not approved
    approve(adjust(alice, user, 7, key="c"), bob)  # bonus coins: not diamonds
    now = timezone.now()

    credits = manual_diamond_credits(
        user_ids=[user.id, alice.id], since=now - datetime.timedelta(days=30)
    )

    assert credits == {user.id: 2 * DIAMOND_SCALE}
    assert not manual_diamond_credits(
        user_ids=[user.id], since=now + datetime.timedelta(seconds=1)
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="Row locks need PostgreSQL; SQLite runs one writer at a time.",
)
def test_two_finance_users_approving_one_credit_at_once_credit_it_once():
    alice, user = staff_create(FINANCE), user_create()
    approvers = [staff_create(FINANCE) for _ in range(8)]
    credit = adjust(alice, user, 100)
    start = threading.Barrier(len(approvers))
    outcomes = []

    def run(approver):
        try:
            start.wait()
            approve(credit, approver)
            outcomes.append("approved")
        except ServiceError as refusal:
            outcomes.append(refusal.code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(a,)) for a in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["already_decided"] * 7 + ["approved"]
    assert wallet_balances(user=user).bonus_coins == 100
    assert Transfer.objects.filter(kind=Transfer.Kind.ADJUSTMENT).count() == 1
    assert ledger_reconcile().is_clean
