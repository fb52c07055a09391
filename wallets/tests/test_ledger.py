import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from wallets import ledger
from wallets.models import AccountKind, LedgerAccount, Transfer
from wallets.reconciliation import ledger_reconcile

from .factories import leg_post, user_create

pytestmark = pytest.mark.django_db


def issue_coins(user, amount, key="issue"):
    # Bonus coins: paid coins must come from a purchase, which reconciliation checks.
    with transaction.atomic():
        return leg_post(
            debit=ledger.system_account(AccountKind.BONUS_ISSUANCE),
            credit=ledger.user_account(user, AccountKind.BONUS_COINS),
            amount=amount,
            kind=Transfer.Kind.PURCHASE,
            reference="test",
            idempotency_key=key,
        )


def balance(user, kind):
    return LedgerAccount.objects.get(owner=user, kind=kind).balance


def test_a_transfer_moves_the_cached_user_balance_and_not_the_system_one():
    user = user_create()
    issue_coins(user, 40)

    assert balance(user, AccountKind.BONUS_COINS) == 40
    assert LedgerAccount.objects.get(kind=AccountKind.BONUS_ISSUANCE).balance == 0
    assert ledger_reconcile().is_clean


def test_overdraft_is_refused_with_the_balance_and_moves_nothing():
    user, other = user_create(), user_create()
    issue_coins(user, 10)

    with pytest.raises(ledger.InsufficientBalance) as refusal, transaction.atomic():
        leg_post(
            debit=ledger.user_account(user, AccountKind.BONUS_COINS),
            credit=ledger.user_account(other, AccountKind.BONUS_COINS),
            amount=11,
            kind=Transfer.Kind.SPEND,
            reference="test",
            idempotency_key="too-much",
        )

    assert refusal.value.extra == {"balance": 10, "needed": 11}
    assert balance(user, AccountKind.BONUS_COINS) == 10
    assert not LedgerAccount.objects.filter(owner=other, balance__gt=0).exists()
    assert not Transfer.objects.filter(idempotency_key="too-much").exists()


def test_a_leg_names_its_debit_and_credit():
    with pytest.raises(TypeError):
        ledger.Leg(1, 2, 3, Transfer.Kind.PURCHASE, "positional")


def test_the_database_refuses_a_negative_user_balance():
    user = user_create()
    account = ledger.user_account(user, AccountKind.PAID_COINS)

    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerAccount.objects.filter(id=account.id).update(balance=-1)


def test_the_same_idempotency_key_never_moves_money_twice():
    user = user_create()
    issue_coins(user, 5, key="once")

    with pytest.raises(IntegrityError):
        issue_coins(user, 5, key="once")
    assert balance(user, AccountKind.BONUS_COINS) == 5


def test_mixing_units_is_refused():
    user = user_create()
    with pytest.raises(ValueError), transaction.atomic():
        leg_post(
            debit=ledger.system_account(AccountKind.DIAMOND_ISSUANCE),
            credit=ledger.user_account(user, AccountKind.PAID_COINS),
            amount=1,
            kind=Transfer.Kind.PURCHASE,
            reference="test",
            idempotency_key="mixed",
        )


def test_transfers_cannot_be_edited_or_deleted():
    transfer = issue_coins(user_create(), 5)

    transfer.amount = 500
    with pytest.raises(TypeError, match="append-only"):
        transfer.save()
    with pytest.raises(TypeError, match="append-only"):
        transfer.delete()
    with pytest.raises(TypeError, match="append-only"):
        Transfer.objects.filter(id=transfer.id).update(amount=500)
    with pytest.raises(TypeError, match="append-only"):
        Transfer.objects.all().delete()
    assert Transfer.objects.get(id=transfer.id).amount == 5


# Serialized rollback puts the migrations' data (roles, schedules) back afterwards.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_transfers_outside_a_transaction_are_refused():
    user = user_create()
    with pytest.raises(RuntimeError, match="inside transaction.atomic"):
        leg_post(
            debit=ledger.system_account(AccountKind.COIN_ISSUANCE),
            credit=ledger.user_account(user, AccountKind.PAID_COINS),
            amount=1,
            kind=Transfer.Kind.PURCHASE,
            reference="test",
            idempotency_key="no-atomic",
        )


def test_reconciliation_reports_a_cached_balance_that_drifted(capsys):
    user = user_create()
    issue_coins(user, 10)
    LedgerAccount.objects.filter(owner=user).update(balance=12)

    run = ledger_reconcile()

    assert not run.is_clean
    assert any(
        "cached balance 12 + pending 0, transfers say 10" in p for p in run.problems
    )
    assert any("coin balances sum to" in p for p in run.problems)
    with pytest.raises(CommandError, match="Ledger mismatch"):
        call_command("ledger_reconcile")


def test_reconcile_command_says_clean(capsys):
    issue_coins(user_create(), 3)

    call_command("ledger_reconcile")

    assert capsys.readouterr().out.startswith("Ledger clean:")
