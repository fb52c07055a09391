"""The one place a payout's status changes, checked against payouts/states.py."""

import datetime
import logging
from dataclasses import dataclass, field

from django.utils import timezone

from accounts.models import User
from core.errors import ServiceError
from core.logs import money_event

from .. import states
from ..metrics import payout_move_counted
from ..models import Payout, PayoutEvent

logger = logging.getLogger(__name__)
Status = Payout.Status


class InvalidTransition(ServiceError):
    status_code = 409
    code = "invalid_transition"


class NotAllowed(ServiceError):
    status_code = 403
    code = "not_allowed"


@dataclass
class Move:
    """One payout's change of status, with the fields that change with it."""

    payout: Payout
    to: str
    note: str = ""
    fields: dict = field(default_factory=dict)


def transition_check(payout: Payout, action: str, to: str | None = None) -> None:
    if not states.allowed(action, payout.status, to):
        state = payout.get_status_display().lower()
        done = states.TRANSITIONS[action].done
        raise InvalidTransition(f"A payout that is {state} cannot be {done}.")


def transitions_record(
    action: str,
    moves: list[Move],
    *,
    actor: User | None = None,
    now: datetime.datetime | None = None,
) -> None:
    """The one place a payout's status changes: each move is checked against the
    table in payouts/states.py and leaves a `PayoutEvent`.

    The payouts must be locked by the caller. A batch is written in a few statements
    (one UPDATE when every payout gets the same values), not a few per payout.
    """
    now = now or timezone.now()
    for move in moves:
        transition_check(move.payout, action, move.to)
    events = [
        PayoutEvent(
            payout=move.payout,
            from_status=move.payout.status,
            to_status=move.to,
            actor=actor,
            note=move.note,
            # One moment for the whole batch: alerts group a provider's answer by it.
            at=now,
        )
        for move in moves
    ]
    columns = ["status", "updated_at"]
    for move in moves:
        move.payout.status = move.to
        move.payout.updated_at = now
        for name, value in move.fields.items():
            setattr(move.payout, name, value)
            if name not in columns:
                columns.append(name)
    rows = {tuple(getattr(move.payout, name) for name in columns) for move in moves}
    if len(rows) == 1:
        Payout.objects.filter(id__in=[move.payout.id for move in moves]).update(
            **dict(zip(columns, rows.pop(), strict=True))
        )
    elif rows:
        Payout.objects.bulk_update([move.payout for move in moves], columns)
    PayoutEvent.objects.bulk_create(events)
    for move, event in zip(moves, events, strict=True):
        _move_logged(action, move, event)


def _move_logged(action: str, move: Move, event: PayoutEvent) -> None:
    # Only what the caller loaded: a batch claims its payouts with id and status.
    loaded = move.payout.__dict__
    money_event(
        "payout_moved",
        payout_id=move.payout.id,
        action=action,
        from_status=event.from_status,
        to_status=move.to,
        actor_id=event.actor_id,
        **{
            name: str(loaded[name]) if name.endswith("_amount") else loaded[name]
            for name in _LOGGED_IF_LOADED
            if name in loaded
        },
    )
    payout_move_counted(to_status=move.to)


_LOGGED_IF_LOADED = (
    "reference",
    "diamond_units",
    "currency",
    "net_amount",
    "provider_id",
    "failure_reason",
)


def payout_move(
    payout: Payout,
    *,
    action: str,
    to: str,
    actor: User | None,
    note: str = "",
    **fields,
) -> Payout:
    """Record one transition of a payout already locked by the caller."""
    transitions_record(
        action, [Move(payout, to=to, note=note, fields=fields)], actor=actor
    )
    return payout


def payout_locked(payout: Payout, action: str) -> Payout:
    payout = Payout.objects.select_for_update().get(id=payout.id)
    transition_check(payout, action)
    return payout
