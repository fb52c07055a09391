"""The approval queue: approve (with four eyes), reject, retry, return."""

import logging

from django.db import transaction

from accounts.models import User
from wallets import ledger

from ..models import APPROVE_PERMISSION, Payout
from .requests import PayoutRefused
from .transitions import NotAllowed, payout_locked, payout_move

logger = logging.getLogger(__name__)
Status = Payout.Status


def approval_refusal(*, payout: Payout, actor: User) -> str | None:
    """Why `actor` may not approve `payout` in its state (None: they may); four
    eyes: never one's own payout, never both approvals."""
    if not actor.has_perm(APPROVE_PERMISSION):
        return "Only finance approves payouts."
    if actor.id == payout.requester_id:
        return "Nobody approves their own payout."
    if (
        payout.status == Status.AWAITING_SECOND_APPROVAL
        and actor.id == payout.first_approver_id
    ):
        return "The second approval must come from someone else."
    return None


def _check_approver(actor: User, payout: Payout) -> None:
    if not actor.has_perm(APPROVE_PERMISSION):
        raise NotAllowed("Only finance approves payouts.")
    if actor.id == payout.requester_id:
        raise NotAllowed("Nobody approves their own payout.")


def _dispatch_after_commit() -> None:
    from ..tasks import dispatch_payouts

    # robust: a broker hiccup after the commit must not turn a done approval into a 500.
    transaction.on_commit(dispatch_payouts.delay, robust=True)


@transaction.atomic
def payout_approve(*, payout: Payout, actor: User, note: str = "") -> Payout:
    """First approval, or the second one from a different person when needed."""
    payout = payout_locked(payout, "approve")
    if refusal := approval_refusal(payout=payout, actor=actor):
        raise NotAllowed(refusal)
    if payout.status == Status.AWAITING_SECOND_APPROVAL:
        to, approver = Status.APPROVED, {"second_approver": actor}
    elif payout.needs_second_approval:
        to, approver = Status.AWAITING_SECOND_APPROVAL, {"first_approver": actor}
    else:
        to, approver = Status.APPROVED, {"first_approver": actor}
    payout = payout_move(
        payout, action="approve", to=to, actor=actor, note=note, **approver
    )
    if payout.status == Status.APPROVED:
        _dispatch_after_commit()
    return payout


@transaction.atomic
def payout_reject(*, payout: Payout, actor: User, reason: str) -> Payout:
    """Refuse a payout waiting for approval; the diamonds go back to the creator."""
    if not reason.strip():
        raise PayoutRefused("A rejection needs a reason.", field="reason")
    payout = payout_locked(payout, "reject")
    if not actor.has_perm(APPROVE_PERMISSION):
        raise NotAllowed("Only finance rejects payouts.")
    ledger.payout_rejection_post(
        payout_id=payout.id, creator=payout.creator.user, units=payout.diamond_units
    )
    return payout_move(
        payout, action="reject", to=Status.REJECTED, actor=actor, note=reason.strip()
    )


@transaction.atomic
def payout_retry(*, payout: Payout, actor: User, note: str = "") -> Payout:
    """Send a failed payout again (after the creator fixed their account, say).

    A new attempt gets a new reference (the provider answers a reference it knows
    with its first result) and the creator's current payout method, whose change
    starts the cool-off again.
    """
    payout = payout_locked(payout, "retry")
    _check_approver(actor, payout)
    creator = payout.creator
    retries = payout.events.filter(from_status=Status.FAILED, to_status=Status.APPROVED)
    payout = payout_move(
        payout,
        action="retry",
        to=Status.APPROVED,
        actor=actor,
        note=note,
        failure_reason="",
        reference=f"{payout.reference.split('-R')[0]}-R{retries.count() + 1}",
        method=creator.payout_method,
        destination=creator.destination,
        method_changed_at=creator.payout_method_changed_at,
    )
    _dispatch_after_commit()
    return payout


@transaction.atomic
def payout_return(*, payout: Payout, actor: User, note: str = "") -> Payout:
    """Give up on a failed payout: the diamonds go back to the creator."""
    payout = payout_locked(payout, "return")
    if not actor.has_perm(APPROVE_PERMISSION):
        raise NotAllowed("Only finance returns payouts.")
    ledger.payout_return_post(
        payout_id=payout.id, creator=payout.creator.user, units=payout.diamond_units
    )
    return payout_move(
        payout, action="return", to=Status.RETURNED, actor=actor, note=note
    )
