"""A buyer's refund request: granted at once within the rules, else finance decides."""

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import ServiceError
from core.idempotency import replay_check, request_fingerprint
from core.logs import money_event

from .. import ledger
from ..models import Purchase, RefundRequest
from ..selectors import RefundTerms, refund_terms_for
from .refunds import (
    REFUND_PERMISSION,
    RefundRefused,
    _coins_left,
    _purchase_take_back,
    _refund_check,
    _refund_logged,
    purchase_refund,
)

# What a buyer may write; a longer text is a paste, not a reason.
REASON_MAX = 1000


@dataclass(frozen=True)
class RefundRequestResult:
    request: RefundRequest
    # False: the key was used before for this same request, which is returned.
    created: bool


def _review_for(
    purchase: Purchase, terms: RefundTerms, now: datetime.datetime
) -> tuple[str, str]:
    """Why a refund the rules allow still waits for finance; ("", "") if it does
    not: the purchase is within its rule's self-service days."""
    if not terms.self_service_days:
        return (
            RefundRequest.Review.NO_SELF_SERVICE,
            f"Refunds in {purchase.region.code} are decided by finance, by "
            f"{terms.deadline(purchase):%Y-%m-%d %H:%M} UTC.",
        )
    if now >= terms.self_service_deadline(purchase):
        ended = terms.self_service_deadline(purchase)
        return (
            RefundRequest.Review.SELF_SERVICE_PASSED,
            f"Past the {terms.self_service_days} days in which a request is granted "
            f"at once (ended {ended:%Y-%m-%d %H:%M} UTC); finance decides by "
            f"{terms.deadline(purchase):%Y-%m-%d %H:%M} UTC.",
        )
    return "", ""


def refund_request_create(
    *,
    purchase: Purchase,
    user: User,
    reason: str,
    idempotency_key: str,
    now: datetime.datetime | None = None,
) -> RefundRequestResult:
    """The buyer asks for a refund of their purchase: once per purchase.

    What finance could grant (`_refund_check`: the purchase's rule, unused coins)
    is granted at once within the rule's self-service days, and otherwise queued
    for finance with why. What nobody could grant is refused with why and records
    nothing: bought in a store that refunds its own in-app purchases, past the
    window, coins spent, already refunded or already asked for. The same key with
    the same request returns the first request and moves nothing.
    """
    if purchase.user_id != user.id:
        raise ServiceError("No such purchase.", code="not_found", status_code=404)
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise ServiceError(
            f"Write at most {REASON_MAX} characters.", field="reason", code="too_long"
        )
    now = now or timezone.now()
    fingerprint = request_fingerprint(
        "refund_request_create", purchase=purchase, reason=reason
    )
    with transaction.atomic():
        # The buyer's coin accounts, then the purchase: the refund's lock order.
        # Two requests of one buyer queue here, whatever their keys.
        accounts = ledger.coin_accounts_lock(user)
        first = RefundRequest.objects.filter(
            user=user, idempotency_key=idempotency_key
        ).first()
        if first is not None:
            replay_check(first, fingerprint=fingerprint)
            return RefundRequestResult(first, created=False)
        purchase = Purchase.objects.select_for_update().get(id=purchase.id)
        earlier = RefundRequest.objects.filter(purchase=purchase).first()
        if earlier is not None:
            raise RefundRefused(
                f"A refund of purchase #{purchase.id} was already requested on "
                f"{earlier.created_at:%Y-%m-%d %H:%M} UTC: "
                f"{earlier.get_status_display().lower()}.",
                code="refund_already_requested",
            )
        if purchase.status == Purchase.Status.REFUNDED:
            raise RefundRefused(
                f"Purchase #{purchase.id} was already refunded on "
                f"{purchase.refunded_at:%Y-%m-%d %H:%M} UTC.",
                code="already_refunded",
            )
        terms = refund_terms_for(purchase)
        left = _coins_left(purchase, accounts)
        _refund_check(purchase, terms=terms, left=left, now=now)
        review, detail = _review_for(purchase, terms, now)
        granted = {}
        if not review:
            _purchase_take_back(
                purchase=purchase,
                accounts=accounts,
                left=left,
                actor=None,
                reason=f"Requested by the buyer. {reason}".strip(),
                source=Purchase.RefundSource.REQUEST,
                now=now,
            )
            granted = {
                "decided_at": now,
                "paid_coins_taken_back": left.paid,
                "bonus_coins_taken_back": left.bonus,
            }
        request = RefundRequest.objects.create(
            purchase=purchase,
            user=user,
            reason=reason,
            status=(
                RefundRequest.Status.QUEUED if review else RefundRequest.Status.GRANTED
            ),
            rule=terms.rule,
            review=review,
            review_detail=detail,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            created_at=now,
            **granted,
        )
    if not review:
        _refund_logged(purchase, left, source=Purchase.RefundSource.REQUEST)
    _request_logged(request, actor=user)
    return RefundRequestResult(request, created=True)


def _request_logged(request: RefundRequest, *, actor: User) -> None:
    money_event(
        f"refund_request_{request.status}",
        refund_request_id=request.id,
        purchase_id=request.purchase_id,
        buyer_id=request.user_id,
        actor_id=actor.id,
        rule_id=request.rule_id,
        review=request.review or None,
        paid_coins_taken_back=request.paid_coins_taken_back,
        bonus_coins_taken_back=request.bonus_coins_taken_back,
    )


def _queued_locked(request: RefundRequest, actor: User, action: str) -> RefundRequest:
    """The request, locked and still waiting; never decided by its own buyer."""
    request = RefundRequest.objects.select_for_update().get(id=request.id)
    if request.status != RefundRequest.Status.QUEUED:
        decided = (
            f" by {request.decided_by} on {request.decided_at:%Y-%m-%d %H:%M} UTC"
            if request.decided_by_id
            else ""
        )
        raise RefundRefused(
            f"Refund request #{request.id} was already "
            f"{request.get_status_display().lower()}{decided}; it cannot be {action}.",
            code="already_decided",
        )
    if actor.id == request.user_id:
        raise RefundRefused(
            "Nobody decides a refund request for their own purchase: ask another "
            "finance user.",
            code="own_purchase",
            status_code=403,
        )
    return request


def _request_decide(request: RefundRequest, **fields) -> RefundRequest:
    # The one change a request ever gets (save() refuses edits).
    RefundRequest.objects.filter(
        id=request.id, status=RefundRequest.Status.QUEUED
    ).update(**fields)
    request.refresh_from_db()
    return request


def refund_request_approve(
    *,
    request: RefundRequest,
    actor: User,
    now: datetime.datetime | None = None,
) -> RefundRequest:
    """Finance grants a queued request: the purchase is refunded now, as
    `purchase_refund` grants it (within its window, unused), or not at all.

    Never by the buyer. Of two approvals at once, one wins (row locks); a purchase
    the store refunded meanwhile is refused: decline the request, saying so.
    """
    if not actor.has_perm(REFUND_PERMISSION):
        raise RefundRefused("Only finance decides refund requests.", status_code=403)
    now = now or timezone.now()
    with transaction.atomic():
        # The refund's lock order (accounts, purchase), then the request.
        purchase = request.purchase
        ledger.coin_accounts_lock(purchase.user)
        Purchase.objects.select_for_update().filter(id=purchase.id).first()
        request = _queued_locked(request, actor, "approved")
        result = purchase_refund(
            purchase=purchase,
            actor=actor,
            reason=f"Refund request #{request.id} approved."
            + (f" The buyer wrote: {request.reason}" if request.reason else ""),
            source=Purchase.RefundSource.FINANCE,
            now=now,
        )
        if not result.refunded:
            raise RefundRefused(
                f"Purchase #{purchase.id} was already refunded "
                f"({result.purchase.get_refund_source_display().lower()}): decline "
                "the request, saying so.",
                code="already_refunded",
            )
        request = _request_decide(
            request,
            status=RefundRequest.Status.APPROVED,
            decided_by=actor,
            decided_at=now,
            paid_coins_taken_back=result.paid_taken_back,
            bonus_coins_taken_back=result.bonus_taken_back,
        )
    _request_logged(request, actor=actor)
    return request


def refund_request_decline(
    *,
    request: RefundRequest,
    actor: User,
    reason: str,
    now: datetime.datetime | None = None,
) -> RefundRequest:
    """Finance declines a queued request with a reason the buyer reads; nothing
    moves. Never by the buyer."""
    if not actor.has_perm(REFUND_PERMISSION):
        raise RefundRefused("Only finance decides refund requests.", status_code=403)
    if not reason.strip():
        raise RefundRefused(
            "Say why: the buyer reads it.", field="reason", status_code=400
        )
    now = now or timezone.now()
    with transaction.atomic():
        request = _request_decide(
            _queued_locked(request, actor, "declined"),
            status=RefundRequest.Status.DECLINED,
            decided_by=actor,
            decided_at=now,
            decline_reason=reason.strip(),
        )
    _request_logged(request, actor=actor)
    return request
