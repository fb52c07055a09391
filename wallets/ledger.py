"""The ledger: the one place that writes transfers and balances.

Every movement of coins or diamonds is a `Transfer` from a debit account (its balance
falls) to a credit account (its balance rises), posted here inside the caller's
transaction. A user's balance is changed with a conditional UPDATE that refuses to go
below zero, and the database's check constraint stands behind it.
"""

from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F

from accounts.errors import ServiceError
from accounts.models import User

from .models import LedgerAccount, PendingCredit, Purchase, Transfer

Kind = LedgerAccount.Kind


class InsufficientBalance(ServiceError):
    status_code = 409
    code = "insufficient_balance"


# System accounts are created by a migration and never change or go away, so each
# process looks each one up once instead of on every purchase and gift. Keyed by
# database too: tests and tools may open more than one.
_system_accounts: dict[tuple[str, str], LedgerAccount] = {}


def system_account(kind: str) -> LedgerAccount:
    key = (str(connection.settings_dict["NAME"]), kind)
    account = _system_accounts.get(key)
    if account is None:
        account, created = LedgerAccount.objects.get_or_create(
            kind=kind, owner=None, defaults={"unit": LedgerAccount.unit_for(kind)}
        )
        # One created here could still be rolled back with the caller's transaction.
        if not created:
            _system_accounts[key] = account
    return account


def system_accounts_forget() -> None:
    """Drop the remembered system accounts (tests that rebuild the database)."""
    _system_accounts.clear()


def user_account(user: User, kind: str) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(
        kind=kind, owner=user, defaults={"unit": LedgerAccount.unit_for(kind)}
    )
    return account


@dataclass(frozen=True)
class Leg:
    """One transfer to post: `transfers_post` writes several in one statement."""

    debit: LedgerAccount
    credit: LedgerAccount
    amount: int
    kind: str
    idempotency_key: str
    defer_credit: bool = False
    # Set when one call posts legs of several business events (a payout batch);
    # "" keeps the call's `reference`.
    reference: str = ""


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
    leg = Leg(debit, credit, amount, kind, idempotency_key, defer_credit)
    return transfers_post([leg], reference=reference)[0]


def transfers_post(legs: list[Leg], *, reference: str) -> list[Transfer]:
    """Post the legs of one business event, in order, as `transfer_post` does each.

    Every leg carries `reference` unless it names its own (a batch of payouts).

    The balances move leg by leg (a debit that would overdraw raises before anything
    is written), then every transfer goes in with one INSERT, and every deferred
    credit with another: a gift is four transfers, not four round trips.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("transfer_post must run inside transaction.atomic().")
    for leg in legs:
        if leg.amount <= 0:
            raise ValueError("A transfer moves a positive amount.")
        if leg.debit.unit != leg.credit.unit:
            raise ValueError(
                f"Cannot move {leg.debit.unit} into a {leg.credit.unit} account."
            )
    for leg in legs:
        if not leg.debit.is_system:
            _debit(leg.debit, leg.amount)
        if not leg.credit.is_system and not leg.defer_credit:
            LedgerAccount.objects.filter(id=leg.credit.id).update(
                balance=F("balance") + leg.amount
            )
    transfers = Transfer.objects.bulk_create(
        [
            Transfer(
                debit_account=leg.debit,
                credit_account=leg.credit,
                unit=leg.debit.unit,
                amount=leg.amount,
                kind=leg.kind,
                reference=leg.reference or reference,
                idempotency_key=leg.idempotency_key,
            )
            for leg in legs
        ]
    )
    pending = [
        PendingCredit(account=leg.credit, transfer=transfer, amount=leg.amount)
        for leg, transfer in zip(legs, transfers, strict=True)
        if leg.defer_credit and not leg.credit.is_system
    ]
    if pending:
        PendingCredit.objects.bulk_create(pending)
    return transfers


def _debit(account: LedgerAccount, amount: int) -> None:
    moved = LedgerAccount.objects.filter(id=account.id, balance__gte=amount).update(
        balance=F("balance") - amount
    )
    if not moved:
        balance = LedgerAccount.objects.values_list("balance", flat=True).get(
            id=account.id
        )
        raise InsufficientBalance(
            f"Not enough {account.get_kind_display().lower()}: "
            f"{balance} available, {amount} needed.",
            extra={"balance": balance, "needed": amount},
        )


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
    kinds = (Kind.BONUS_COINS, Kind.PAID_COINS)
    locked = LedgerAccount.objects.select_for_update().filter(
        owner=user, kind__in=kinds
    )
    accounts = {account.kind: account for account in locked.order_by("id")}
    if len(accounts) < len(kinds):
        # A first purchase or gift: create what is missing, then lock all of them.
        for kind in kinds:
            user_account(user, kind)
        accounts = {account.kind: account for account in locked.order_by("id")}
    return accounts


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
    bonus, paid, legs = coins_spend_legs(
        user=user,
        amount=amount,
        credit=credit,
        kind=kind,
        idempotency_key=idempotency_key,
    )
    transfers = transfers_post(legs, reference=reference)
    return CoinsSpent(bonus=bonus, paid=paid, transfers=transfers)


def coins_spend_legs(
    *, user: User, amount: int, credit: LedgerAccount, kind: str, idempotency_key: str
) -> tuple[int, int, list[Leg]]:
    """Lock the user's coins, draw the paid part from their lots, and return the
    legs that spend them, for the caller to post with the rest of its event.

    Returns (bonus coins, paid coins, legs). Raises InsufficientBalance first.
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
    legs = []
    if from_bonus:
        legs.append(
            Leg(
                accounts[Kind.BONUS_COINS],
                credit,
                from_bonus,
                kind,
                f"{idempotency_key}:bonus",
            )
        )
    if from_paid:
        _draw_from_lots(user, from_paid)
        legs.append(
            Leg(
                accounts[Kind.PAID_COINS],
                credit,
                from_paid,
                kind,
                f"{idempotency_key}:paid",
            )
        )
    return from_bonus, from_paid, legs


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
