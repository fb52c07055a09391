"""Checks the ledger's invariants and records what it found."""

from collections import defaultdict

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import CharField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from .models import (
    LedgerAccount,
    PendingCredit,
    Purchase,
    ReconciliationRun,
    Transfer,
    Unit,
)

RUN_PERMISSION = "wallets.run_reconciliationrun"
# A second "run now" within this many seconds queues nothing: one check is enough.
RUN_NOW_GAP_SECONDS = 60


@transaction.atomic
def ledger_reconcile_request(*, actor) -> bool:
    """Queue a reconciliation now for `actor` (finance); False when one was asked
    for less than RUN_NOW_GAP_SECONDS ago and nothing was queued."""
    if not actor.has_perm(RUN_PERMISSION):
        raise PermissionDenied("Only finance runs a reconciliation.")
    if not cache.add("wallets:reconcile-now", actor.pk, RUN_NOW_GAP_SECONDS):
        return False
    from .tasks import reconcile_ledger

    # robust: a broker hiccup loses only this request; the hourly run still comes.
    transaction.on_commit(reconcile_ledger.delay, robust=True)
    return True


def ledger_reconcile() -> ReconciliationRun:
    """Check that, for each unit, balances sum to zero; that every cached balance
    equals the sum of its transfers; that no user balance is negative; that every
    transfer stays within one unit; that paid coins match their purchases; and
    that a refunded purchase's paid coins were taken back or recorded as spent.
    """
    started = timezone.now()
    # Inside a caller's transaction (tests) the snapshot is the caller's to choose.
    own_snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if own_snapshot:
            # One snapshot for every read: a gift or a fold committing between two
            # of them would otherwise show a mismatch that never existed.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                )
        problems, transfers_checked, accounts_checked = _check_invariants()
    return ReconciliationRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        transfers_checked=transfers_checked,
        accounts_checked=accounts_checked,
        problems=problems,
    )


def _check_invariants() -> tuple[list[str], int, int]:
    problems: list[str] = []

    movement: dict[int, int] = defaultdict(int)
    for row in Transfer.objects.values("credit_account").annotate(total=Sum("amount")):
        movement[row["credit_account"]] += row["total"]
    for row in Transfer.objects.values("debit_account").annotate(total=Sum("amount")):
        movement[row["debit_account"]] -= row["total"]

    pending = dict(
        PendingCredit.objects.values("account")
        .annotate(total=Sum("amount"))
        .values_list("account", "total")
    )
    accounts = list(
        LedgerAccount.objects.values("id", "kind", "unit", "owner_id", "balance")
    )
    unit_totals = {unit: 0 for unit in Unit.values}
    for account in accounts:
        from_transfers = movement.get(account["id"], 0)
        if (
            account["owner_id"] is None
            and account["kind"] not in LedgerAccount.CACHED_SYSTEM_KINDS
        ):
            # System balances are not cached: their transfers are their balance.
            unit_totals[account["unit"]] += from_transfers
            continue
        held = account["balance"] + pending.get(account["id"], 0)
        unit_totals[account["unit"]] += held
        if held != from_transfers:
            problems.append(
                f"Account {account['id']} ({_holder(account)}): cached balance "
                f"{account['balance']} "
                f"+ pending {pending.get(account['id'], 0)}, "
                f"transfers say {from_transfers}."
            )
        if account["balance"] < 0:
            problems.append(
                f"Account {account['id']} ({_holder(account)}) is negative: "
                f"{account['balance']}."
            )
    for unit, total in unit_totals.items():
        if total != 0:
            problems.append(f"{unit} balances sum to {total}, not 0.")

    mixed = Transfer.objects.filter(
        ~Q(debit_account__unit=F("unit")) | ~Q(credit_account__unit=F("unit"))
    ).values_list("id", flat=True)[:20]
    for transfer_id in mixed:
        problems.append(
            f"Transfer {transfer_id} moves between accounts of another unit."
        )

    lots = dict(
        Purchase.objects.values("user")
        .annotate(remaining=Sum("paid_coins_remaining"))
        .values_list("user", "remaining")
    )
    paid = dict(
        LedgerAccount.objects.filter(kind=LedgerAccount.Kind.PAID_COINS).values_list(
            "owner_id", "balance"
        )
    )
    for user_id in sorted(set(lots) | set(paid)):
        if lots.get(user_id, 0) != paid.get(user_id, 0):
            problems.append(
                f"User {user_id}: {paid.get(user_id, 0)} paid coins, but purchases "
                f"hold {lots.get(user_id, 0)} unspent."
            )

    problems.extend(_refund_problems())
    return problems, Transfer.objects.count(), len(accounts)


def _holder(account: dict) -> str:
    if account["owner_id"] is None:
        return account["kind"]
    return f"{account['kind']} of user {account['owner_id']}"


def _refund_problems() -> list[str]:
    """A refunded purchase's paid coins are all accounted for: taken back by its
    refund transfer, or spent before a store refund and on record for finance."""
    refund_key = Concat(
        Value("purchase:"), Cast(OuterRef("id"), CharField()), Value(":refund")
    )
    off = (
        Purchase.objects.filter(status=Purchase.Status.REFUNDED)
        .annotate(
            taken_back=Coalesce(
                Subquery(
                    Transfer.objects.filter(
                        idempotency_key=refund_key, kind=Transfer.Kind.REFUND
                    ).values("amount")[:1]
                ),
                0,
            ),
            spent=Coalesce(F("unrecovered_store_refund__paid_coins_spent"), 0),
        )
        .exclude(coins=F("taken_back") + F("spent"))
        .values_list("id", "coins", "taken_back", "spent")[:20]
    )
    return [
        f"Refunded purchase {purchase_id}: {coins} paid coins, but {taken_back} "
        f"taken back and {spent} recorded as spent."
        for purchase_id, coins, taken_back, spent in off
    ]
