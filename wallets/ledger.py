"""The ledger: the one place that writes transfers and balances.

Every movement of coins or diamonds is a `Transfer` from a debit account (its balance
falls) to a credit account (its balance rises), posted here inside the caller's
transaction. A user's balance is changed with a conditional UPDATE that refuses to go
below zero, and the database's check constraint stands behind it.

Services post one business event with one call (`purchase_post`, `gift_post`,
`payout_hold_post`, ...): the event's function owns its transfers and their
idempotency keys (docs/ledger.md lists them).
"""

import datetime
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from core.errors import ServiceError

from . import posting
from .models import (
    AccountKind,
    LedgerAccount,
    PendingCredit,
    Purchase,
    Transfer,
    Unit,
)


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


def user_account(user: User, kind: str) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(
        kind=kind, owner=user, defaults={"unit": LedgerAccount.unit_for(kind)}
    )
    return account


@dataclass(frozen=True, kw_only=True)
class Leg:
    """One transfer to post: `transfers_post` writes several in one statement.

    Keyword-only, so a debit and a credit are always named, never swapped by position.
    """

    debit: LedgerAccount
    credit: LedgerAccount
    amount: int
    kind: str
    idempotency_key: str
    # The credited account's row is not touched: the credit waits as a pending credit,
    # so a busy account (a creator's diamonds) never becomes a lock requests queue on.
    defer_credit: bool = False
    # Set when one call posts legs of several business events (a payout batch);
    # "" keeps the call's `reference`.
    reference: str = ""


@dataclass(frozen=True, kw_only=True)
class CoinSpend:
    """A user spends `amount` coins into `credit`: bonus coins first, then paid coins
    from their purchases oldest first. It posts as up to two transfers, keyed
    `<idempotency_key>:bonus` and `<idempotency_key>:paid`.

    The split depends on the balances at the moment of posting, under their lock,
    so it is resolved by the posting itself, not by the caller.
    """

    spender_id: int
    credit: LedgerAccount
    amount: int
    kind: str
    idempotency_key: str


def transfers_post(
    legs: list[Leg | CoinSpend],
    *,
    reference: str,
    now: datetime.datetime | None = None,
) -> list[Transfer]:
    """Post the legs of one business event, in order; must run in a transaction.

    The one primitive that writes transfers: services post through the event
    functions below, which own each event's legs and idempotency keys.
    Every leg carries `reference` unless it names its own (a batch of payouts).

    Raises InsufficientBalance when a debited user account holds less than its leg's
    amount; the caller's transaction then rolls back, so nothing is left half-done.
    On PostgreSQL the posting is one call of the `ledger_post` function
    (`wallets/posting.py`); elsewhere, or with `LEDGER_POSTING = "python"`, it is
    `python_post`, the reference both are tested against.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("transfers_post must run inside transaction.atomic().")
    legs_check(legs)
    now = now or timezone.now()
    if posting.in_database(connection):
        sql, params = posting.call(legs, reference=reference, now=now)
        with posting.refusals_raised(), connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {sql}", params)
            return posting.transfers_from(
                cursor.fetchall(), now=now, using=connection.alias
            )
    return python_post(legs, reference=reference, now=now)


def posts_in_one_statement() -> bool:
    """Whether postings run as one `ledger_post` call (PostgreSQL), which a caller
    may put in a statement with its own rows (`post_call`)."""
    return posting.in_database(connection)


def post_call(
    legs: list[Leg | CoinSpend], *, reference: str, now: datetime.datetime
) -> tuple[str, list]:
    """`ledger_post(...)` for `legs` and its parameters, to run inside the caller's
    statement: a set-returning call, whose refusals `refusals_raised()` turns into
    InsufficientBalance."""
    legs_check(legs)
    return posting.call(legs, reference=reference, now=now)


refusals_raised = posting.refusals_raised


def legs_check(legs: list[Leg | CoinSpend]) -> None:
    """What every posting refuses before it touches a row, on every database."""
    for leg in legs:
        if leg.amount <= 0:
            raise ValueError("A transfer moves a positive amount.")
        debit_unit = Unit.COIN if isinstance(leg, CoinSpend) else leg.debit.unit
        if debit_unit != leg.credit.unit:
            raise ValueError(
                f"Cannot move {debit_unit} into a {leg.credit.unit} account."
            )


def python_post(
    legs: list[Leg | CoinSpend], *, reference: str, now: datetime.datetime
) -> list[Transfer]:
    """The posting in Python and the ORM: the reference `ledger_post` is tested
    against (tests/test_posting_differential.py), and SQLite's path.

    The balances move leg by leg (a debit that would overdraw raises before anything
    is written), then every transfer goes in with one INSERT, and every deferred
    credit with another: a gift is four transfers, not four round trips.
    """
    plain: list[Leg] = []
    for leg in legs:
        plain.extend(_spend_legs(leg) if isinstance(leg, CoinSpend) else [leg])
    for leg in plain:
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
                created_at=now,
            )
            for leg in plain
        ]
    )
    pending = [
        PendingCredit(account=leg.credit, transfer=transfer, amount=leg.amount)
        for leg, transfer in zip(plain, transfers, strict=True)
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
        raise insufficient_balance(kind=account.kind, balance=balance, needed=amount)


def insufficient_balance(*, kind: str | None, balance: int, needed: int):
    """The refusal of a debit of `needed` from `balance`: of one account `kind`, or
    of a user's coins together (`kind` None). Both postings raise it."""
    what = "coins" if kind is None else AccountKind(kind).label.lower()
    return InsufficientBalance(
        f"Not enough {what}: {balance} available, {needed} needed.",
        extra={"balance": balance, "needed": needed},
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
    kinds = (AccountKind.BONUS_COINS, AccountKind.PAID_COINS)
    locked = LedgerAccount.objects.select_for_update().filter(
        owner=user, kind__in=kinds
    )
    accounts = {account.kind: account for account in locked.order_by("id")}
    if len(accounts) < len(kinds):
        # A first purchase: create what is missing in one statement (an account a
        # racing request created first is left as it is), then lock all of them.
        LedgerAccount.objects.bulk_create(
            [
                LedgerAccount(owner=user, kind=kind, unit=LedgerAccount.unit_for(kind))
                for kind in kinds
            ],
            ignore_conflicts=True,
        )
        accounts = {account.kind: account for account in locked.order_by("id")}
    return accounts


# The events. Each posts all the legs of one business event in one call and owns
# their idempotency keys: `<reference>:<leg>`, e.g. `gift:7:paid`. Stored transfers
# carry these keys, so the suffixes never change.


def purchase_post(
    *, purchase: Purchase, accounts: dict[str, LedgerAccount]
) -> list[Transfer]:
    """Credit a purchase's coins: its bundle's coins to paid coins, its bonus (bundle
    and promotions) to bonus coins. `accounts` are the buyer's locked coin accounts."""
    reference = f"purchase:{purchase.id}"
    legs = [
        Leg(
            debit=system_account(AccountKind.COIN_ISSUANCE),
            credit=accounts[AccountKind.PAID_COINS],
            amount=purchase.coins,
            kind=Transfer.Kind.PURCHASE,
            idempotency_key=f"{reference}:paid",
        )
    ]
    if purchase.bonus_coins:
        legs.append(
            Leg(
                debit=system_account(AccountKind.BONUS_ISSUANCE),
                credit=accounts[AccountKind.BONUS_COINS],
                amount=purchase.bonus_coins,
                kind=Transfer.Kind.PURCHASE_BONUS,
                idempotency_key=f"{reference}:bonus",
            )
        )
    return transfers_post(legs, reference=reference)


def purchase_take_back_post(
    *,
    purchase: Purchase,
    accounts: dict[str, LedgerAccount],
    paid: int,
    bonus: int,
) -> list[Transfer]:
    """Take back a refunded purchase's coins: `paid` to the coins-refunded account,
    `bonus` back to bonus issuance. Posts nothing for zero."""
    reference = f"purchase:{purchase.id}"
    legs = []
    if paid:
        legs.append(
            Leg(
                debit=accounts[AccountKind.PAID_COINS],
                credit=system_account(AccountKind.COIN_REFUNDS),
                amount=paid,
                kind=Transfer.Kind.REFUND,
                idempotency_key=f"{reference}:refund",
            )
        )
    if bonus:
        legs.append(
            Leg(
                debit=accounts[AccountKind.BONUS_COINS],
                credit=system_account(AccountKind.BONUS_ISSUANCE),
                amount=bonus,
                kind=Transfer.Kind.BONUS_CLAWBACK,
                idempotency_key=f"{reference}:bonus-clawback",
            )
        )
    return transfers_post(legs, reference=reference) if legs else []


@dataclass(frozen=True)
class GiftPosted:
    """The sender's coins a gift took, bonus first, then paid."""

    bonus: int
    paid: int
    transfers: list[Transfer]
    # {purchase id: paid coins drawn from it}, where the caller asked for it.
    lots: dict[int, int] = field(default_factory=dict)


def gift_post(
    *,
    gift_send_id: int,
    sender_id: int,
    creator_diamonds: LedgerAccount,
    coins: int,
    creator_units: int,
    platform_units: int,
    subsidy: int = 0,
    sponsor_budget: LedgerAccount | None = None,
    now: datetime.datetime | None = None,
) -> GiftPosted:
    """Post a gift: `coins` leave the sender (bonus coins first, then paid coins from
    their oldest purchases), the creator earns `creator_units` of diamonds as a
    pending credit into `creator_diamonds` and the platform `platform_units`.

    Locks only the sender's rows; raises InsufficientBalance before anything is
    written. Paid coins come out of the sender's purchases oldest first, so a newer
    purchase stays unused (and refundable) for as long as older coins cover gifts.
    """
    reference = gift_reference(gift_send_id)
    transfers = transfers_post(
        gift_legs(
            gift_send_id=gift_send_id,
            sender_id=sender_id,
            creator_diamonds=creator_diamonds,
            coins=coins,
            creator_units=creator_units,
            platform_units=platform_units,
            subsidy=subsidy,
            sponsor_budget=sponsor_budget,
        ),
        reference=reference,
        now=now,
    )
    return gift_posted(reference, transfers)


def gift_reference(gift_send_id: int) -> str:
    return f"gift:{gift_send_id}"


def gift_send_id_of(reference: str) -> int:
    """The gift send a gift's transfer names (the inverse of `gift_reference`)."""
    prefix, _, gift_send_id = reference.partition(":")
    if prefix != "gift":
        raise ValueError(f"Not a gift's reference: {reference!r}")
    return int(gift_send_id)


def gift_legs(
    *,
    gift_send_id: int,
    sender_id: int,
    creator_diamonds: LedgerAccount,
    coins: int,
    creator_units: int,
    platform_units: int,
    subsidy: int = 0,
    sponsor_budget: LedgerAccount | None = None,
) -> list[Leg | CoinSpend]:
    """A gift's legs (see `gift_post`), for a caller that posts them in a statement
    of its own (`post_call`): the gift send's row goes in with them.

    A sponsored gift's `subsidy` coins of its value come from the campaign's
    `sponsor_budget` (refused, like any overdraft, past its balance) and only the
    rest from the sender; the diamonds are issued on the whole value."""
    if not 0 <= subsidy <= coins or (subsidy > 0) != (sponsor_budget is not None):
        raise ValueError("A subsidy is within the gift's coins, from a budget.")
    reference = gift_reference(gift_send_id)
    spent = system_account(AccountKind.COINS_SPENT)
    legs: list[Leg | CoinSpend] = []
    if coins > subsidy:
        legs.append(
            CoinSpend(
                spender_id=sender_id,
                credit=spent,
                amount=coins - subsidy,
                kind=Transfer.Kind.GIFT,
                idempotency_key=reference,
            )
        )
    if subsidy:
        legs.append(
            Leg(
                debit=sponsor_budget,
                credit=spent,
                amount=subsidy,
                kind=Transfer.Kind.GIFT_SUBSIDY,
                idempotency_key=f"{reference}:sponsor",
            )
        )
    legs.extend(
        _earning_legs(
            key=reference,
            creator_diamonds=creator_diamonds,
            creator_units=creator_units,
            platform_units=platform_units,
            kinds=(Transfer.Kind.GIFT_EARNING, Transfer.Kind.GIFT_PLATFORM_SHARE),
        )
    )
    return legs


def _earning_legs(
    *,
    key: str,
    creator_diamonds: LedgerAccount,
    creator_units: int,
    platform_units: int,
    kinds: tuple[str, str],
) -> list[Leg]:
    """The diamonds a spend of coins issues: the creator's part as a pending
    credit (`<key>:creator`), the platform's (`<key>:platform`) when there is one."""
    issuance = system_account(AccountKind.DIAMOND_ISSUANCE)
    legs = [
        Leg(
            debit=issuance,
            credit=creator_diamonds,
            amount=creator_units,
            kind=kinds[0],
            idempotency_key=f"{key}:creator",
            defer_credit=True,
        )
    ]
    if platform_units:
        legs.append(
            Leg(
                debit=issuance,
                credit=system_account(AccountKind.PLATFORM_REVENUE),
                amount=platform_units,
                kind=kinds[1],
                idempotency_key=f"{key}:platform",
            )
        )
    return legs


def gift_posted(reference: str, transfers: list[Transfer]) -> GiftPosted:
    return GiftPosted(
        bonus=_spent_from(transfers, f"{reference}:bonus"),
        paid=_spent_from(transfers, f"{reference}:paid"),
        transfers=transfers,
    )


def _spent_from(transfers: list[Transfer], key: str) -> int:
    return sum(t.amount for t in transfers if t.idempotency_key == key)


def subscription_charge_post(
    *,
    subscription_id: int,
    period: int,
    subscriber_id: int,
    creator_diamonds: LedgerAccount,
    coins: int,
    creator_units: int,
    platform_units: int,
    now: datetime.datetime | None = None,
) -> GiftPosted:
    """Post one period's charge of a subscription, as a gift posts: `coins` leave
    the subscriber (bonus first, then paid from their oldest purchases), the
    creator earns `creator_units` as a pending credit, the platform the rest.

    Keyed by subscription and period, so a period's coins move at most once. The
    result names the purchases its paid coins came from (`lots`), read before and
    after the posting under the subscriber's coin locks: a refund of the charge
    gives them back to those purchases, and a store refund of one of them finds the
    charges it paid for (docs/subscriptions.md)."""
    reference = f"subscription:{subscription_id}"
    key = f"{reference}:{period}"
    coin_accounts_lock(User(id=subscriber_id))
    before = _open_lots(subscriber_id)
    legs: list[Leg | CoinSpend] = [
        CoinSpend(
            spender_id=subscriber_id,
            credit=system_account(AccountKind.COINS_SPENT),
            amount=coins,
            kind=Transfer.Kind.SUBSCRIPTION,
            idempotency_key=key,
        ),
        *_earning_legs(
            key=key,
            creator_diamonds=creator_diamonds,
            creator_units=creator_units,
            platform_units=platform_units,
            kinds=(
                Transfer.Kind.SUBSCRIPTION_EARNING,
                Transfer.Kind.SUBSCRIPTION_PLATFORM_SHARE,
            ),
        ),
    ]
    transfers = transfers_post(legs, reference=reference, now=now)
    paid = _spent_from(transfers, f"{key}:paid")
    after = _open_lots(subscriber_id) if paid else before
    lots = {
        lot: coins - after.get(lot, 0)
        for lot, coins in before.items()
        if coins != after.get(lot, 0)
    }
    if sum(lots.values()) != paid:
        raise RuntimeError(f"Charge {key} drew {paid} paid coins, its lots {lots}.")
    return GiftPosted(
        bonus=_spent_from(transfers, f"{key}:bonus"),
        paid=paid,
        transfers=transfers,
        lots=lots,
    )


def _open_lots(user_id: int) -> dict[int, int]:
    return dict(
        Purchase.objects.filter(user_id=user_id, paid_coins_remaining__gt=0)
        .order_by()
        .values_list("id", "paid_coins_remaining")
    )


def subscription_refund_post(
    *,
    subscription_id: int,
    period: int,
    accounts: dict[str, LedgerAccount],
    bonus: int,
    lots: dict[int, int],
    creator_diamonds: LedgerAccount,
    creator_units: int,
    platform_units: int,
) -> list[Transfer]:
    """Refund one period's charge: `bonus` coins and the paid coins of `lots`
    ({purchase id: coins}, given back to those purchases) return from coins spent
    to the subscriber's locked `accounts`; `creator_units` leave the creator's
    diamonds and `platform_units` the platform's revenue, back to diamond issuance.
    Posts nothing for zero. The caller holds the subscriber's coin locks, then the
    purchases', then the creator's account (folded); the creator's debit is checked
    like any other: never below zero."""
    reference = f"subscription:{subscription_id}"
    key = f"{reference}:{period}:refund"
    spent = system_account(AccountKind.COINS_SPENT)
    issuance = system_account(AccountKind.DIAMOND_ISSUANCE)
    legs = [
        Leg(
            debit=spent,
            credit=accounts[kind],
            amount=amount,
            kind=Transfer.Kind.SUBSCRIPTION_REFUND,
            idempotency_key=f"{key}:{suffix}",
        )
        for kind, amount, suffix in (
            (AccountKind.BONUS_COINS, bonus, "bonus"),
            (AccountKind.PAID_COINS, sum(lots.values()), "paid"),
        )
        if amount
    ]
    if creator_units:
        legs.append(
            Leg(
                debit=creator_diamonds,
                credit=issuance,
                amount=creator_units,
                kind=Transfer.Kind.SUBSCRIPTION_EARNING_BACK,
                idempotency_key=f"{key}:creator",
            )
        )
    if platform_units:
        legs.append(
            Leg(
                debit=system_account(AccountKind.PLATFORM_REVENUE),
                credit=issuance,
                amount=platform_units,
                kind=Transfer.Kind.SUBSCRIPTION_PLATFORM_BACK,
                idempotency_key=f"{key}:platform",
            )
        )
    if not legs:
        return []
    for purchase_id, coins in sorted(lots.items()):
        # Back to the purchase it was drawn from: a store refund of that purchase
        # then takes these coins back as unspent.
        restored = Purchase.objects.filter(
            id=purchase_id,
            status=Purchase.Status.COMPLETED,
            paid_coins_remaining__lte=F("coins") - coins,
        ).update(paid_coins_remaining=F("paid_coins_remaining") + coins)
        if not restored:
            raise RuntimeError(f"Purchase {purchase_id} cannot take {coins} back.")
    return transfers_post(legs, reference=reference)


# The system account that balances a manual adjustment of each kind of user account.
ADJUSTED_BY = {
    AccountKind.BONUS_COINS: AccountKind.BONUS_ADJUSTMENTS,
    AccountKind.DIAMONDS: AccountKind.DIAMOND_ADJUSTMENTS,
}


def adjustment_post(
    *, account: LedgerAccount, amount: int, actor_id: int, client_key: str
) -> Transfer:
    """Adjust a user account by hand: credit it (`amount` > 0) or debit it, against
    its adjustments system account. `client_key` is the requester's own key."""
    system = system_account(ADJUSTED_BY[account.kind])
    leg = Leg(
        debit=system if amount > 0 else account,
        credit=account if amount > 0 else system,
        amount=abs(amount),
        kind=Transfer.Kind.ADJUSTMENT,
        idempotency_key=f"adjustment:{actor_id}:{client_key}",
    )
    return transfers_post([leg], reference=f"adjustment:{account.owner_id}")[0]


def sponsor_budget_open() -> LedgerAccount:
    """A new sponsor campaign's budget account: no owner, a cached balance that
    never goes below zero (a database constraint), coins."""
    return LedgerAccount.objects.create(
        kind=AccountKind.SPONSOR_BUDGET,
        owner=None,
        unit=LedgerAccount.unit_for(AccountKind.SPONSOR_BUDGET),
    )


def sponsor_funding_post(
    *, funding_id: int, budget: LedgerAccount, coins: int
) -> Transfer:
    """Grant a confirmed funding's coins to its campaign's budget, from the system
    account of coins sponsors paid for."""
    reference = f"sponsor-funding:{funding_id}"
    leg = Leg(
        debit=system_account(AccountKind.SPONSOR_FUNDING),
        credit=budget,
        amount=coins,
        kind=Transfer.Kind.SPONSOR_FUNDING,
        idempotency_key=reference,
    )
    return transfers_post([leg], reference=reference)[0]


def payout_hold_post(*, payout_id: int, account: LedgerAccount, units: int) -> Transfer:
    """Hold a requested payout's diamonds: from the creator's `account` to the hold."""
    leg = Leg(
        debit=account,
        credit=system_account(AccountKind.PAYOUT_HOLD),
        amount=units,
        kind=Transfer.Kind.PAYOUT_HOLD,
        idempotency_key=f"payout:{payout_id}:hold",
    )
    return transfers_post([leg], reference=f"payout:{payout_id}")[0]


def payout_rejection_post(*, payout_id: int, creator: User, units: int) -> Transfer:
    """Give a rejected payout's held diamonds back to the creator."""
    return _payout_release(payout_id, creator, units, "rejected")


def payout_return_post(*, payout_id: int, creator: User, units: int) -> Transfer:
    """Give the held diamonds of a payout the provider returned back to the creator."""
    return _payout_release(payout_id, creator, units, "returned")


def _payout_release(payout_id: int, creator: User, units: int, why: str) -> Transfer:
    leg = Leg(
        debit=system_account(AccountKind.PAYOUT_HOLD),
        credit=user_account(creator, AccountKind.DIAMONDS),
        amount=units,
        kind=Transfer.Kind.PAYOUT_RELEASE,
        idempotency_key=f"payout:{payout_id}:{why}",
    )
    return transfers_post([leg], reference=f"payout:{payout_id}")[0]


def payouts_paid_post(*, units_by_payout: dict[int, int]) -> list[Transfer]:
    """Move paid payouts' held diamonds to paid out, in the order given, with one
    INSERT for the batch; each transfer keeps its own payout's reference."""
    hold = system_account(AccountKind.PAYOUT_HOLD)
    paid_out = system_account(AccountKind.PAID_OUT)
    legs = [
        Leg(
            debit=hold,
            credit=paid_out,
            amount=units,
            kind=Transfer.Kind.PAYOUT,
            idempotency_key=f"payout:{payout_id}:paid",
            reference=f"payout:{payout_id}",
        )
        for payout_id, units in units_by_payout.items()
    ]
    return transfers_post(legs, reference="")


def hold_take_back_post(
    *, purchase_id: int, account: LedgerAccount, units_by_key: dict[str, int]
) -> list[Transfer]:
    """Take back a creator's diamonds from earnings still on hold that a refunded
    purchase paid for: from the creator's `account` back to diamond issuance, one
    transfer per earning (in the order given), each keyed by purchase and earning
    (`<gift id>` for a gift, `charge:<id>` for a subscription charge).

    The debit is checked like any other: never below zero."""
    issuance = system_account(AccountKind.DIAMOND_ISSUANCE)
    legs = [
        Leg(
            debit=account,
            credit=issuance,
            amount=units,
            kind=Transfer.Kind.HOLD_TAKE_BACK,
            idempotency_key=f"purchase:{purchase_id}:hold:{key}",
        )
        for key, units in units_by_key.items()
    ]
    return transfers_post(legs, reference=f"purchase:{purchase_id}")


def _spend_legs(spend: CoinSpend) -> list[Leg]:
    """Lock the spender's coins, draw the paid part from their lots, and return the
    legs that spend them: bonus coins first, then paid coins.

    Raises InsufficientBalance before anything is written.
    """
    accounts = coin_accounts_lock(User(id=spend.spender_id))
    bonus_balance = accounts[AccountKind.BONUS_COINS].balance
    paid_balance = accounts[AccountKind.PAID_COINS].balance
    if bonus_balance + paid_balance < spend.amount:
        raise insufficient_balance(
            kind=None, balance=bonus_balance + paid_balance, needed=spend.amount
        )
    from_bonus = min(bonus_balance, spend.amount)
    from_paid = spend.amount - from_bonus
    legs = []
    for account_kind, amount, suffix in (
        (AccountKind.BONUS_COINS, from_bonus, "bonus"),
        (AccountKind.PAID_COINS, from_paid, "paid"),
    ):
        if not amount:
            continue
        if suffix == "paid":
            _draw_from_lots(spend.spender_id, amount)
        legs.append(
            Leg(
                debit=accounts[account_kind],
                credit=spend.credit,
                amount=amount,
                kind=spend.kind,
                idempotency_key=f"{spend.idempotency_key}:{suffix}",
            )
        )
    return legs


def _draw_from_lots(user_id: int, amount: int) -> None:
    lots = (
        Purchase.objects.select_for_update()
        .filter(user_id=user_id, paid_coins_remaining__gt=0)
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
    raise RuntimeError(f"Paid coins of user {user_id} and their purchases disagree.")
