"""Manual credits and debits of bonus coins and diamonds, with four eyes."""

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import ServiceError
from core.logs import money_event

from .. import ledger, selectors
from ..metrics import adjustment_counted
from ..models import (
    AccountKind,
    BalanceAdjustment,
    LedgerAccount,
    amount_display,
)

ADJUST_PERMISSION = "wallets.add_balanceadjustment"
APPROVE_ADJUSTMENT_PERMISSION = "wallets.approve_balanceadjustment"


# Bonus coins, or diamonds in ten-thousandths.
MAX_ADJUSTMENT = 10**12


class AdjustmentRefused(ServiceError):
    code = "adjustment_refused"


@dataclass(frozen=True)
class AdjustmentPreview:
    """What an adjustment would do to the balance as it stands now."""

    balance_before: int
    balance_after: int
    needs_approval: bool


def _adjustment_check(
    *, user: User, account_kind: str, amount: int, reason: str, actor: User
) -> None:
    if not actor.has_perm(ADJUST_PERMISSION):
        raise AdjustmentRefused("Only finance adjusts balances.", status_code=403)
    if user.id == actor.id:
        raise AdjustmentRefused(
            "Nobody adjusts their own account: ask another finance user.",
            field="user",
            code="own_account",
            status_code=403,
        )
    if not reason.strip():
        raise AdjustmentRefused("An adjustment needs a reason.", field="reason")
    if account_kind not in ledger.ADJUSTED_BY:
        raise AdjustmentRefused(
            "Only bonus coins and diamonds are adjusted.", field="account_kind"
        )
    if not amount:
        raise AdjustmentRefused("Adjust by a non-zero amount.", field="amount")
    if abs(amount) > MAX_ADJUSTMENT:
        # A slip of the keyboard, or past what the balance column holds.
        most = amount_display(account_kind, MAX_ADJUSTMENT)
        raise AdjustmentRefused(f"At most {most} either way at once.", field="amount")


def _overdraft_check(account: LedgerAccount, before: int, amount: int) -> None:
    if before + amount < 0:
        raise ledger.InsufficientBalance(
            f"Not enough {account.get_kind_display().lower()}: "
            f"{amount_display(account.kind, before)} held, "
            f"{amount_display(account.kind, -amount)} to take away.",
            field="amount",
            extra={"balance": before, "needed": -amount},
        )


def _account_locked(user: User, account_kind: str) -> LedgerAccount:
    account = ledger.user_account(user, account_kind)
    if account_kind == AccountKind.DIAMONDS:
        # The balance before and after must include earnings still pending.
        ledger.pending_credits_fold(account_id=account.id)
    return LedgerAccount.objects.select_for_update().get(id=account.id)


def balance_adjustment_preview(
    *, user: User, account_kind: str, amount: int, reason: str, actor: User
) -> AdjustmentPreview:
    """What `balance_adjustment_request` would do now, refused as it would be.

    Changes nothing: the confirmation finance reads before anything is saved.
    """
    _adjustment_check(
        user=user, account_kind=account_kind, amount=amount, reason=reason, actor=actor
    )
    account = ledger.user_account(user, account_kind)
    before = getattr(
        selectors.wallet_balances(user=user),
        "diamond_units" if account_kind == AccountKind.DIAMONDS else "bonus_coins",
    )
    _overdraft_check(account, before, amount)
    return AdjustmentPreview(
        balance_before=before, balance_after=before + amount, needs_approval=amount > 0
    )


def balance_adjustment_request(
    *,
    user: User,
    account_kind: str,
    amount: int,
    reason: str,
    actor: User,
    idempotency_key: str,
    now: datetime.datetime | None = None,
) -> BalanceAdjustment:
    """Ask for a correction of a user's bonus coins or diamonds: finance, a reason.

    A credit (amount > 0) only records the request: nothing moves until a second,
    different finance user approves it (`balance_adjustment_approve`). A debit mints
    nothing and applies at once, with the balance before and after; a take-away past
    the balance is refused like any overdraft. Nobody adjusts their own account. The
    same key from the same person returns the first adjustment and moves nothing.
    """
    _adjustment_check(
        user=user, account_kind=account_kind, amount=amount, reason=reason, actor=actor
    )
    now = now or timezone.now()
    with transaction.atomic():
        # One adjustment of an account at a time: a repeated key finds the first.
        account = _account_locked(user, account_kind)
        replay = BalanceAdjustment.objects.filter(
            actor=actor, idempotency_key=idempotency_key
        ).first()
        if replay is not None:
            return replay
        fields = {}
        if amount < 0:
            before = account.balance
            _overdraft_check(account, before, amount)
            fields = {
                "status": BalanceAdjustment.Status.APPROVED,
                "decided_by": actor,
                "decided_at": now,
                "balance_before": before,
                "balance_after": before + amount,
                "transfer": ledger.adjustment_post(
                    account=account,
                    amount=amount,
                    actor_id=actor.id,
                    client_key=idempotency_key,
                ),
            }
        adjustment = BalanceAdjustment.objects.create(
            user=user,
            account_kind=account_kind,
            amount=amount,
            reason=reason.strip(),
            actor=actor,
            idempotency_key=idempotency_key,
            created_at=now,
            **fields,
        )
    _adjustment_logged(adjustment, actor)
    return adjustment


def _adjustment_logged(adjustment: BalanceAdjustment, actor: User) -> None:
    event = {
        BalanceAdjustment.Status.REQUESTED: "adjustment_requested",
        BalanceAdjustment.Status.APPROVED: "adjustment_applied",
        BalanceAdjustment.Status.REJECTED: "adjustment_rejected",
    }[adjustment.status]
    money_event(
        event,
        adjustment_id=adjustment.id,
        holder_id=adjustment.user_id,
        account_kind=adjustment.account_kind,
        amount=adjustment.amount,
        balance_before=adjustment.balance_before,
        balance_after=adjustment.balance_after,
        requested_by=adjustment.actor_id,
        actor_id=actor.id,
        transfer_id=adjustment.transfer_id,
    )
    adjustment_counted(status=adjustment.status)


def _adjustment_locked(adjustment: BalanceAdjustment, actor: User, action: str):
    """The adjustment, locked, still waiting, and not on the actor's own account."""
    adjustment = BalanceAdjustment.objects.select_for_update().get(id=adjustment.id)
    if adjustment.status != BalanceAdjustment.Status.REQUESTED:
        raise AdjustmentRefused(
            f"Adjustment #{adjustment.id} was already "
            f"{adjustment.get_status_display().lower()} by {adjustment.decided_by} "
            f"on {adjustment.decided_at:%Y-%m-%d %H:%M} UTC; it cannot be {action}.",
            code="already_decided",
            status_code=409,
        )
    if actor.id == adjustment.user_id:
        raise AdjustmentRefused(
            "Nobody decides an adjustment of their own account.",
            code="own_account",
            status_code=403,
        )
    return adjustment


def _adjustment_decide(adjustment: BalanceAdjustment, **fields) -> BalanceAdjustment:
    # The one change an adjustment ever gets (save() refuses edits).
    BalanceAdjustment.objects.filter(
        id=adjustment.id, status=BalanceAdjustment.Status.REQUESTED
    ).update(**fields)
    adjustment.refresh_from_db()
    return adjustment


def balance_adjustment_approve(
    *,
    adjustment: BalanceAdjustment,
    actor: User,
    now: datetime.datetime | None = None,
) -> BalanceAdjustment:
    """A second finance user approves a credit: it moves now, once.

    Not by who asked for it, nor by the user it credits. Of two approvals at once,
    one wins: the other finds it approved (row lock).
    """
    if not actor.has_perm(APPROVE_ADJUSTMENT_PERMISSION):
        raise AdjustmentRefused("Only finance approves adjustments.", status_code=403)
    now = now or timezone.now()
    with transaction.atomic():
        # The adjustment, then the account: the only order anything locks both in.
        adjustment = _adjustment_locked(adjustment, actor, "approved")
        if actor.id == adjustment.actor_id:
            raise AdjustmentRefused(
                "The approval must come from someone other than who asked for it.",
                code="own_request",
                status_code=403,
            )
        account = _account_locked(adjustment.user, adjustment.account_kind)
        # Only credits wait for approval: this never takes away.
        before = account.balance
        transfer = ledger.adjustment_post(
            account=account,
            amount=adjustment.amount,
            actor_id=adjustment.actor_id,
            client_key=adjustment.idempotency_key,
        )
        adjustment = _adjustment_decide(
            adjustment,
            status=BalanceAdjustment.Status.APPROVED,
            decided_by=actor,
            decided_at=now,
            balance_before=before,
            balance_after=before + adjustment.amount,
            transfer=transfer,
        )
    _adjustment_logged(adjustment, actor)
    return adjustment


def balance_adjustment_reject(
    *,
    adjustment: BalanceAdjustment,
    actor: User,
    reason: str,
    now: datetime.datetime | None = None,
) -> BalanceAdjustment:
    """Refuse a credit waiting for approval, with a reason; nothing moves.

    Finance, or who asked for it (withdrawing it); never the user it credits.
    """
    if not actor.has_perm(APPROVE_ADJUSTMENT_PERMISSION):
        raise AdjustmentRefused("Only finance rejects adjustments.", status_code=403)
    if not reason.strip():
        raise AdjustmentRefused("A rejection needs a reason.", field="reason")
    now = now or timezone.now()
    with transaction.atomic():
        adjustment = _adjustment_decide(
            _adjustment_locked(adjustment, actor, "rejected"),
            status=BalanceAdjustment.Status.REJECTED,
            decided_by=actor,
            decided_at=now,
            rejection_reason=reason.strip(),
        )
    _adjustment_logged(adjustment, actor)
    return adjustment
