"""A payout's states and the moves between them, in one table.

The services check every change of status against `TRANSITIONS`
(`payouts/services/transitions.py`); the one-open-payout constraint uses `OPEN`, which
is derived from it; docs/payouts.md draws it.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import models


class PayoutStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    AWAITING_SECOND_APPROVAL = "awaiting_second", "Awaiting second approval"
    APPROVED = "approved", "Approved"
    PROCESSING = "processing", "Processing"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    RETURNED = "returned", "Returned to creator"


@dataclass(frozen=True)
class Action:
    # The refusal's word: "A payout that is paid cannot be <done>."
    done: str
    # From each state the action starts from, the states it may lead to.
    moves: Mapping[str, frozenset[str]]


_S = PayoutStatus
TRANSITIONS: Mapping[str, Action] = {
    "approve": Action(
        done="approved",
        moves={
            # Straight to approved, or to a second approver when one is needed.
            _S.REQUESTED: frozenset({_S.APPROVED, _S.AWAITING_SECOND_APPROVAL}),
            _S.AWAITING_SECOND_APPROVAL: frozenset({_S.APPROVED}),
        },
    ),
    "reject": Action(
        done="rejected",
        moves={
            _S.REQUESTED: frozenset({_S.REJECTED}),
            _S.AWAITING_SECOND_APPROVAL: frozenset({_S.REJECTED}),
        },
    ),
    "send": Action(done="sent", moves={_S.APPROVED: frozenset({_S.PROCESSING})}),
    "record": Action(
        done="recorded", moves={_S.PROCESSING: frozenset({_S.PAID, _S.FAILED})}
    ),
    "retry": Action(done="retried", moves={_S.FAILED: frozenset({_S.APPROVED})}),
    "return": Action(done="returned", moves={_S.FAILED: frozenset({_S.RETURNED})}),
}

# Open: some action still moves it on (the diamonds are on hold). In declaration
# order, so the queue's states come first.
OPEN: tuple[str, ...] = tuple(
    status
    for status in PayoutStatus
    if any(status in action.moves for action in TRANSITIONS.values())
)


def starts_from(action: str) -> tuple[str, ...]:
    """The states `action` may start from, in declaration order."""
    moves = TRANSITIONS[action].moves
    return tuple(status for status in PayoutStatus if status in moves)


def allowed(action: str, from_status: str, to_status: str | None = None) -> bool:
    """Whether `action` may start from `from_status` (and lead to `to_status`)."""
    targets = TRANSITIONS[action].moves.get(from_status)
    if targets is None:
        return False
    return to_status is None or to_status in targets
