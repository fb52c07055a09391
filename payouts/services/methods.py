"""Where a creator is paid: a change is requested, then confirmed by other eyes.

Changing the payout destination is the classic way to take a creator's money, so
nobody changes it alone: the creator (API) or a finance user (admin) asks for a new
method, a finance user who is neither the requester nor the creator confirms it, and
only then does the profile change and the cool-off start
(`PayoutRules.method_cooloff_days`). Every step is a row of `PayoutMethodChange`,
audited by the database.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from gifting.models import PAYOUT_FIELDS, CreatorProfile

from ..models import PayoutMethodChange
from .requests import PayoutRefused
from .transitions import InvalidTransition, NotAllowed

CONFIRM_PERMISSION = "payouts.confirm_payoutmethodchange"
Status = PayoutMethodChange.Status
Method = CreatorProfile.PayoutMethod


def _normalized(method: str, fields: dict) -> dict:
    """Only the fields the method uses, trimmed; the IBAN without spaces."""
    clean = {name: "" for name in PAYOUT_FIELDS if name != "payout_method"}
    if method == Method.PAYPAL:
        clean["paypal_email"] = (fields.get("paypal_email") or "").strip()
    elif method == Method.BANK:
        clean["bank_account_holder"] = (fields.get("bank_account_holder") or "").strip()
        clean["bank_iban"] = (fields.get("bank_iban") or "").replace(" ", "").upper()
        clean["bank_bic"] = (fields.get("bank_bic") or "").strip().upper()
    return clean


def payout_method_change_request(
    *,
    creator: CreatorProfile,
    actor: User,
    payout_method: str,
    paypal_email: str = "",
    bank_account_holder: str = "",
    bank_iban: str = "",
    bank_bic: str = "",
    reason: str = "",
    now: datetime.datetime | None = None,
) -> PayoutMethodChange:
    """Ask for a new payout method; a pending request of the creator is superseded.

    By the creator themself or by finance (`payouts.add_payoutmethodchange`); refused,
    per field, for an incomplete or malformed method. Nothing is paid to it before
    a different finance user confirms it and the cool-off has passed.
    """
    now = now or timezone.now()
    if actor.id != creator.user_id and not actor.has_perm(
        "payouts.add_payoutmethodchange"
    ):
        raise NotAllowed("Only the creator or finance asks for a payout method change.")
    if payout_method not in (Method.PAYPAL, Method.BANK):
        raise PayoutRefused("Choose paypal or bank.", field="payout_method")
    change = PayoutMethodChange(
        creator=creator,
        creator_user_id=creator.user_id,
        payout_method=payout_method,
        requested_by=actor,
        requested_at=now,
        reason=reason.strip(),
        **_normalized(
            payout_method,
            {
                "paypal_email": paypal_email,
                "bank_account_holder": bank_account_holder,
                "bank_iban": bank_iban,
                "bank_bic": bank_bic,
            },
        ),
    )
    try:
        # The fields' validators and `PayoutMethodChange.clean`: what the method needs.
        change.full_clean(exclude=["creator", "creator_user", "requested_by"])
    except ValidationError as invalid:
        field, messages = next(iter(invalid.message_dict.items()))
        raise PayoutRefused(messages[0], field=field) from invalid
    with transaction.atomic():
        # One pending request per creator: the newest one wins.
        CreatorProfile.objects.select_for_update().filter(id=creator.id).first()
        PayoutMethodChange.objects.filter(
            creator=creator, status=Status.REQUESTED
        ).update(status=Status.SUPERSEDED, decided_at=now)
        change.save()
    return change


def _decidable(change: PayoutMethodChange, actor: User, verb: str):
    change = (
        PayoutMethodChange.objects.select_for_update()
        .select_related("creator")
        .get(id=change.id)
    )
    if change.status != Status.REQUESTED:
        raise InvalidTransition(
            f"This change is {change.get_status_display().lower()}; "
            f"it cannot be {verb}."
        )
    if not actor.has_perm(CONFIRM_PERMISSION):
        raise NotAllowed(f"Only finance {verb.removesuffix('ed')}s a method change.")
    return change


@transaction.atomic
def payout_method_change_confirm(
    *, change: PayoutMethodChange, actor: User, now: datetime.datetime | None = None
) -> PayoutMethodChange:
    """Apply a requested change to the creator's profile and start the cool-off.

    Only a finance user who did not ask for it and is not the creator confirms.
    """
    now = now or timezone.now()
    change = _decidable(change, actor, "confirmed")
    if actor.id == change.requested_by_id:
        raise NotAllowed("Nobody confirms a method change they asked for.")
    if actor.id == change.creator_user_id:
        raise NotAllowed("Nobody confirms a change of their own payout method.")
    creator = CreatorProfile.objects.select_for_update().get(id=change.creator_id)
    for name in PAYOUT_FIELDS:
        setattr(creator, name, getattr(change, name))
    creator.payout_method_changed_at = now
    creator.save(update_fields=[*PAYOUT_FIELDS, "payout_method_changed_at"])
    change.status = Status.CONFIRMED
    change.decided_by = actor
    change.decided_at = now
    change.save(update_fields=["status", "decided_by", "decided_at"])
    return change


@transaction.atomic
def payout_method_change_reject(
    *,
    change: PayoutMethodChange,
    actor: User,
    reason: str,
    now: datetime.datetime | None = None,
) -> PayoutMethodChange:
    """Refuse a requested change, with the reason; the profile stays as it is."""
    if not reason.strip():
        raise PayoutRefused("A rejection needs a reason.", field="reason")
    change = _decidable(change, actor, "rejected")
    change.status = Status.REJECTED
    change.decided_by = actor
    change.decided_at = now or timezone.now()
    change.decision_note = reason.strip()
    change.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return change
