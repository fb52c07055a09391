"""The ledger: the one place that writes transfers and balances.

Every movement of coins or diamonds is a `Transfer` from a debit account (its balance
falls) to a credit account (its balance rises), posted here inside the caller's
transaction. A user's balance is changed with a conditional UPDATE that refuses to go
below zero, and the database's check constraint stands behind it.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from accounts.errors import ServiceError
from accounts.models import User

from .models import LedgerAccount, PendingCredit, Purchase, Transfer

Kind = LedgerAccount.Kind


class InsufficientBalance(ServiceError):
    status_code = 409
    code = "insufficient_balance"


def system_account(kind: str) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(
        kind=kind, owner=None, defaults={"unit": LedgerAccount.unit_for(kind)}
    )
    return account


def user_account(user: User, kind: str) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(
        kind=kind, owner=user, defaults={"unit": LedgerAccount.unit_for(kind)}
    )
    return account


def transfer_post(
    *,
    debit: LedgerAccount,
    credit: LedgerAccount,
    amount: int,
    kind: str,
    reference: str,
    idempotency_key: str,
    defer_credit: bool = False,
) -> Transfer:
    """Post one transfer and move the cached balances; must run in a transaction.

    Raises InsufficientBalance when the debited user account holds less than `amount`;
    the caller's transaction then rolls back, so nothing is left half-done. With
    `defer_credit` the credited account's row is not touched: the credit waits as a
    pending credit, so a busy account never becomes a lock that requests queue on.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("transfer_post must run inside transaction.atomic().")
    if amount <= 0:
        raise ValueError("A transfer moves a positive amount.")
    if debit.unit != credit.unit:
        raise ValueError(f"Cannot move {debit.unit} into a {credit.unit} account.")
    if not debit.is_system:
        moved = LedgerAccount.objects.filter(id=debit.id, balance__gte=amount).update(
            balance=F("balance") - amount
        )
        if not moved:
            balance = LedgerAccount.objects.values_list("balance", flat=True).get(
                id=debit.id
            )
            raise InsufficientBalance(
                f"Not enough {debit.get_kind_display().lower()}: "
                f"{balance} available, {amount} needed.",
                extra={"balance": balance, "needed": amount},
            )
    if not credit.is_system and not defer_credit:
        LedgerAccount.objects.filter(id=credit.id).update(balance=F("balance") + amount)
    transfer = Transfer.objects.create(
        debit_account=debit,
        credit_account=credit,
        unit=debit.unit,
        amount=amount,
        kind=kind,
        reference=reference,
        idempotency_key=idempotency_key,
    )
    if not credit.is_system and defer_credit:
        PendingCredit.objects.create(account=credit, transfer=transfer, amount=amount)
    return transfer


def pending_credits_fold(*, account_id: int) -> int:
    """Move an account's pending credits into its cached balance; returns the amount.

    Only the credits this run locked are folded and deleted, in one transaction, so a
    credit posted meanwhile waits for the next run and none is counted twice.
    """
    with transaction.atomic():
        pending = list(
            PendingCredit.objects.select_for_update()
            .filter(account_id=account_id)
            .values_list("id", "amount")
        )
        if not pending:
            return 0
        total = sum(amount for _, amount in pending)
        PendingCredit.objects.filter(id__in=[pk for pk, _ in pending]).delete()
        LedgerAccount.objects.filter(id=account_id).update(balance=F("balance") + total)
    return total


def pending_credits_fold_all() -> int:
    """Fold every account that has pending credits; returns how many were folded."""
    account_ids = (
        PendingCredit.objects.values_list("account_id", flat=True).distinct().order_by()
    )
    return sum(
        1
        for account_id in list(account_ids)
        if pending_credits_fold(account_id=account_id)
    )


def coin_accounts_lock(user: User) -> dict[str, LedgerAccount]:
    """Lock a user's bonus and paid coin accounts, creating them first if need be.

    Every service that touches a user's coins (purchase, spend, refund) starts here,
    so they all take the same locks in the same order (accounts by id, then the
    user's purchases) and cannot deadlock each other.
    """
    ids = [user_account(user, kind).id for kind in (Kind.BONUS_COINS, Kind.PAID_COINS)]
    return {
        account.kind: account
        for account in LedgerAccount.objects.select_for_update()
        .filter(id__in=ids)
        .order_by("id")
    }


@dataclass(frozen=True)
class CoinsSpent:
    bonus: int
    paid: int
    transfers: list[Transfer]


def coins_spend(
    *,
    user: User,
    amount: int,
    credit: LedgerAccount,
    kind: str,
    reference: str,
    idempotency_key: str,
) -> CoinsSpent:
    """Take `amount` coins from a user: bonus coins first, then paid coins.

    Paid coins come out of the user's purchases oldest first, so a newer purchase
    stays unused (and refundable) for as long as older coins cover the spending.
    """
    accounts = coin_accounts_lock(user)
    bonus_balance = accounts[Kind.BONUS_COINS].balance
    paid_balance = accounts[Kind.PAID_COINS].balance
    if bonus_balance + paid_balance < amount:
        raise InsufficientBalance(
            f"Not enough coins: {bonus_balance + paid_balance} available, "
            f"{amount} needed.",
            extra={"balance": bonus_balance + paid_balance, "needed": amount},
        )
    from_bonus = min(bonus_balance, amount)
    from_paid = amount - from_bonus
    transfers = []
    if from_bonus:
        transfers.append(
            transfer_post(
                debit=accounts[Kind.BONUS_COINS],
                credit=credit,
                amount=from_bonus,
                kind=kind,
                reference=reference,
                idempotency_key=f"{idempotency_key}:bonus",
            )
        )
    if from_paid:
        _draw_from_lots(user, from_paid)
        transfers.append(
            transfer_post(
                debit=accounts[Kind.PAID_COINS],
                credit=credit,
                amount=from_paid,
                kind=kind,
                reference=reference,
                idempotency_key=f"{idempotency_key}:paid",
            )
        )
    return CoinsSpent(bonus=from_bonus, paid=from_paid, transfers=transfers)


def _draw_from_lots(user: User, amount: int) -> None:
    lots = (
        Purchase.objects.select_for_update()
        .filter(user=user, paid_coins_remaining__gt=0)
        .order_by("created_at", "id")
    )
    left = amount
    for lot in lots.only("id", "paid_coins_remaining"):
        take = min(left, lot.paid_coins_remaining)
        Purchase.objects.filter(id=lot.id).update(
            paid_coins_remaining=F("paid_coins_remaining") - take
        )
        left -= take
        if not left:
            return
    # The paid balance said the coins were there; the lots must agree.
    raise RuntimeError(f"Paid coins of user {user.pk} and their purchases disagree.")
