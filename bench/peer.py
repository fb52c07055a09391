"""The peer scenario: the same two-leg coin transfer posted through django-hordak.

Each sender gets two hordak accounts (`HordakWallet`): `coins`, an asset opened with
as many coins as the sender holds in our ledger, and `spent`, an expense. A transfer
is `Account.transfer_to`, hordak's own shortcut: one `Transaction` and two `Leg`s
(credit `coins`, debit `spent`). Hordak's PostgreSQL constraint triggers check each
leg at commit (the transaction's legs sum to zero per currency; the leg's currency is
one its account holds). Hordak has no overdraft rule, so the transfer locks the
sender's `coins` account and reads its balance first, as an application built on
hordak has to.

The currency is `XXX`, ISO 4217's code for "no currency involved": coins are not
money, py-moneyed and django-money know the code, and hordak only asks that a leg's
currency be one of its account's `currencies`. Hordak stores amounts as
`numeric(13, 2)`; whole coins are `1.00`.
"""

from django.db import transaction
from django.db.models import F, Sum
from hordak.exceptions import AccountingEquationViolationError
from hordak.models import Account, AccountType, Leg, Transaction
from hordak.utilities.db_functions import GetBalance
from moneyed import Money

from accounts.models import User
from wallets.ledger import InsufficientBalance

from .models import HordakWallet

PEER_CURRENCY = "XXX"
OPENING_ACCOUNT = "Bench opening balances"
BATCH = 1000


def hordak_wallets_create(*, users: list[User], coins: int) -> None:
    """Give each user a `coins` account opened with `coins` coins and a `spent` one.

    Set-wise: the accounts, the opening transactions and their legs are each one bulk
    insert. Each account is a root of its own hordak (MPTT) tree, so its tree fields
    are known without django-mptt's per-row insert; hordak's triggers still check
    every opening leg when the caller's transaction commits.
    """
    opening = Account.objects.create(
        name=OPENING_ACCOUNT, type=AccountType.equity, currencies=[PEER_CURRENCY]
    )
    first_tree = opening.tree_id + 1

    def root(number: int, name: str, kind: str) -> Account:
        return Account(
            name=name,
            type=kind,
            currencies=[PEER_CURRENCY],
            tree_id=first_tree + number,
            lft=1,
            rght=2,
            level=0,
        )

    accounts = Account.objects.bulk_create(
        [
            account
            for number, user in enumerate(users)
            for account in (
                root(2 * number, f"Coins of user {user.id}", AccountType.asset),
                root(2 * number + 1, f"Spent by user {user.id}", AccountType.expense),
            )
        ],
        batch_size=BATCH,
    )
    wallets = HordakWallet.objects.bulk_create(
        [
            HordakWallet(user=user, coins=accounts[2 * n], spent=accounts[2 * n + 1])
            for n, user in enumerate(users)
        ],
        batch_size=BATCH,
    )
    openings = Transaction.objects.bulk_create(
        [Transaction(description="Opening balance") for _ in wallets],
        batch_size=BATCH,
    )
    amount = Money(coins, PEER_CURRENCY)
    Leg.objects.bulk_create(
        [
            leg
            for wallet, posted in zip(wallets, openings, strict=True)
            for leg in (
                Leg(transaction=posted, account=opening, credit=amount),
                Leg(transaction=posted, account=wallet.coins, debit=amount),
            )
        ],
        batch_size=BATCH,
    )


def hordak_coins_spend(*, user: User, coins: int) -> int:
    """Move `coins` from the user's hordak `coins` account to `spent`; return what
    is left. Raises HordakWallet.DoesNotExist, or InsufficientBalance (nothing
    posted)."""
    with transaction.atomic():
        wallet = (
            HordakWallet.objects.select_related("coins", "spent")
            .select_for_update(of=("coins",))
            .get(user=user)
        )
        # Read after the lock is held: a balance computed in the locking statement
        # would come from its snapshot, taken before any wait for the lock.
        held = (
            Account.objects.with_balances()
            .get(pk=wallet.coins_id)
            .balance[PEER_CURRENCY]
            .amount
        )
        if held < coins:
            raise InsufficientBalance(
                f"Not enough coins: {held:.0f} available, {coins} needed.",
                extra={"balance": int(held), "needed": coins},
            )
        wallet.coins.transfer_to(wallet.spent, Money(coins, PEER_CURRENCY))
    return int(held) - coins


def hordak_check() -> dict:
    """Hordak's accounting equation holds, no `coins` account is overdrawn, and each
    sender's `coins` and `spent` add up to what their account was opened with."""
    try:
        opening = Account.objects.get(name=OPENING_ACCOUNT, level=0)
    except Account.DoesNotExist:
        return {
            "clean": False,
            "accounting_equation": False,
            "senders_checked": 0,
            "transfers": 0,
            "mismatches": ["No hordak opening account: run bench_seed."],
            "mismatch_count": 1,
        }
    opened = dict(
        Leg.objects.filter(transaction__legs__account=opening, debit__isnull=False)
        .values("account")
        .annotate(total=Sum("debit"))
        .values_list("account", "total")
    )
    wallets = HordakWallet.objects.annotate(
        coins_held=GetBalance(F("coins_id")), spent_held=GetBalance(F("spent_id"))
    ).order_by("user_id")
    mismatches = []
    for wallet in wallets:
        held = wallet.coins_held[PEER_CURRENCY].amount
        spent = wallet.spent_held[PEER_CURRENCY].amount
        if held < 0 or held + spent != opened.get(wallet.coins_id, 0):
            mismatches.append(
                f"User {wallet.user_id}: holds {held:.2f}, spent {spent:.2f}, "
                f"opened with {opened.get(wallet.coins_id, 0):.2f}."
            )
    try:
        Account.validate_accounting_equation()
        equation = True
    except AccountingEquationViolationError as error:
        mismatches.append(str(error))
        equation = False
    return {
        "clean": equation and not mismatches,
        "accounting_equation": equation,
        "senders_checked": len(wallets),
        "transfers": Transaction.objects.exclude(legs__account=opening).count(),
        "mismatches": mismatches[:20],
        "mismatch_count": len(mismatches),
    }
