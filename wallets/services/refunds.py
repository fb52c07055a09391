"""Refunds: granted by finance, reported by the stores, and their shortfalls."""

import datetime
import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from core.errors import ServiceError
from core.logs import money_event

from .. import hooks, ledger
from ..metrics import refund_counted
from ..models import (
    AccountKind,
    LedgerAccount,
    Purchase,
    UnrecoveredStoreRefund,
)
from ..selectors import RefundTerms, refund_terms_for

logger = logging.getLogger(__name__)


class RefundRefused(ServiceError):
    status_code = 409
    code = "refund_refused"


@dataclass(frozen=True)
class RefundResult:
    purchase: Purchase
    refunded: bool
    bonus_taken_back: int = 0
    paid_taken_back: int = 0
    # A store refund of a partly spent purchase: what could not be taken back.
    shortfall: UnrecoveredStoreRefund | None = None


@dataclass(frozen=True)
class _CoinsLeft:
    """A purchase's coins a refund can take back now, and those already spent."""

    paid: int
    bonus: int
    paid_spent: int
    bonus_spent: int


def _coins_left(purchase: Purchase, accounts: dict[str, LedgerAccount]) -> _CoinsLeft:
    # Bonus coins are spent first and are not kept per purchase: the user's bonus
    # balance, up to the purchase's bonus, is what is left of it.
    bonus = min(purchase.bonus_coins, accounts[AccountKind.BONUS_COINS].balance)
    return _CoinsLeft(
        paid=purchase.paid_coins_remaining,
        bonus=bonus,
        paid_spent=purchase.coins - purchase.paid_coins_remaining,
        bonus_spent=purchase.bonus_coins - bonus,
    )


def _purchase_take_back(
    *,
    purchase: Purchase,
    accounts: dict[str, LedgerAccount],
    left: _CoinsLeft,
    actor: User | None,
    reason: str,
    source: str,
    now: datetime.datetime,
) -> None:
    """Take back what is left of a purchase and mark it refunded.

    The caller holds the refund's locks (the user's coin accounts, then the
    purchase) and has decided that `left` may be taken back.
    """
    ledger.purchase_take_back_post(
        purchase=purchase, accounts=accounts, paid=left.paid, bonus=left.bonus
    )
    purchase.status = Purchase.Status.REFUNDED
    purchase.paid_coins_remaining = 0
    purchase.refunded_at = now
    purchase.refunded_by = actor
    purchase.refund_source = source
    purchase.refund_reason = reason
    purchase.save(
        update_fields=[
            "status",
            "paid_coins_remaining",
            "refunded_at",
            "refunded_by",
            "refund_source",
            "refund_reason",
        ]
    )


def _refund_logged(
    purchase: Purchase,
    left: _CoinsLeft,
    *,
    source: str,
    actor: User | None = None,
    shortfall: UnrecoveredStoreRefund | None = None,
) -> None:
    # A store refund of spent coins is a loss finance must see: a warning.
    money_event(
        "purchase_refunded",
        level=logging.INFO if shortfall is None else logging.WARNING,
        purchase_id=purchase.id,
        buyer_id=purchase.user_id,
        store=purchase.store,
        store_transaction_id=purchase.store_transaction_id,
        source=source,
        actor_id=actor.id if actor else None,
        price=str(purchase.price.amount),
        currency=str(purchase.price.currency),
        paid_coins_taken_back=left.paid,
        bonus_coins_taken_back=left.bonus,
        unrecovered=shortfall.description if shortfall else None,
    )
    refund_counted(store=purchase.store, source=source, recovered=shortfall is None)


HOLD_RECOVERED_IN_FULL = "Recovered in full by the earnings hold."


# Who may grant a refund; `actor=None` is the platform itself (a command, a test).
REFUND_PERMISSION = "wallets.refund_purchase"


def _refund_check(
    purchase: Purchase, *, terms: RefundTerms, left: _CoinsLeft, now: datetime.datetime
) -> None:
    """Refuse, saying why, a refund the platform may not grant now.

    The purchase's rule decides who refunds it and until when (before its window
    ends, not at that moment); and only an unused purchase is ever refunded: none
    of its paid coins spent and the user still holding its bonus coins (a bonus
    spent on gifts would otherwise be free money after the refund).
    """
    if terms.refunded_by_store(purchase):
        raise RefundRefused(
            f"Purchase #{purchase.id} was bought in the "
            f"{purchase.get_store_display()}: in {purchase.region.code} only the "
            "store refunds "
            "in-app purchases; ask it there.",
            code="refunded_by_store",
        )
    if now >= terms.deadline(purchase):
        ended = terms.deadline(purchase)
        raise RefundRefused(
            f"Purchase #{purchase.id} is past its {terms.window_days}-day refund "
            f"window (ended {ended:%Y-%m-%d %H:%M} UTC).",
            code="refund_window_passed",
        )
    if left.paid_spent:
        raise RefundRefused(
            f"Purchase #{purchase.id} is partly used: {left.paid_spent} of its "
            f"{purchase.coins} paid coins were spent.",
            code="coins_used",
        )
    if left.bonus_spent:
        raise RefundRefused(
            f"Purchase #{purchase.id} is partly used: its {purchase.bonus_coins} "
            f"bonus coins were spent ({left.bonus} left).",
            code="coins_used",
        )


def purchase_refund(
    *,
    purchase: Purchase,
    actor: User | None,
    reason: str,
    source: str,
    now: datetime.datetime | None = None,
    asked_at: datetime.datetime | None = None,
) -> RefundResult:
    """Grant a refund of a purchase: take back its coins, paid and bonus.

    Refundable within its rule's window (`selectors.refund_terms_for`: 14 days
    unless finance set another for the purchase's region) while it is unused
    (`_refund_check`). A second refund of the same purchase does nothing. (A
    store's own refund is not granted here but reported:
    `store_refund_notification_handle`; a buyer's request is
    `refund_request_create`.) The window is judged at `asked_at` when the buyer
    asked in time (a queued request), else now. Nobody refunds their own purchase.
    """
    if actor is not None and not actor.has_perm(REFUND_PERMISSION):
        raise RefundRefused("Only finance refunds purchases.", status_code=403)
    if actor is not None and actor.id == purchase.user_id:
        raise RefundRefused(
            "Nobody refunds their own purchase: ask another finance user.",
            code="own_purchase",
            status_code=403,
        )
    now = now or timezone.now()
    if not reason.strip():
        raise RefundRefused("A refund needs a reason.", field="reason", status_code=400)
    with transaction.atomic():
        # Accounts first, then the purchase: the order every coin service locks in.
        accounts = ledger.coin_accounts_lock(purchase.user)
        purchase = Purchase.objects.select_for_update().get(id=purchase.id)
        if purchase.status == Purchase.Status.REFUNDED:
            return RefundResult(purchase, refunded=False)
        left = _coins_left(purchase, accounts)
        _refund_check(
            purchase, terms=refund_terms_for(purchase), left=left, now=asked_at or now
        )
        _purchase_take_back(
            purchase=purchase,
            accounts=accounts,
            left=left,
            actor=actor,
            reason=reason.strip(),
            source=source,
            now=now,
        )
    _refund_logged(purchase, left, source=source, actor=actor)
    return RefundResult(
        purchase, refunded=True, bonus_taken_back=left.bonus, paid_taken_back=left.paid
    )


def store_refund_notification_handle(
    *, store: str, transaction_id: str, now: datetime.datetime | None = None
) -> RefundResult | None:
    """A store reports it refunded a transaction: take back what is left of it, once.

    The store has returned the money already, so this is a fact, not a request:
    neither the refund window nor the "unused" rule applies. The purchase's unspent
    paid coins and, up to its bonus, the bonus coins the user still holds are taken
    back and the purchase is refunded. Coins already spent are put on record for
    finance (`UnrecoveredStoreRefund`, the result's `shortfall`). A repeat moves
    nothing and only counts on that record. Returns None for a transaction this
    platform never credited.
    """
    now = now or timezone.now()
    purchase = Purchase.objects.filter(
        store=store, store_transaction_id=transaction_id
    ).first()
    if purchase is None:
        return None
    with transaction.atomic():
        # The refund's lock order: repeats of one notification queue here.
        accounts = ledger.coin_accounts_lock(purchase.user)
        purchase = Purchase.objects.select_for_update().get(id=purchase.id)
        if purchase.status == Purchase.Status.REFUNDED:
            return _store_refund_of_refunded(purchase, now=now)
        left = _coins_left(purchase, accounts)
        shortfall = None
        reason = f"Refunded by the {store} store."
        if left.paid_spent or left.bonus_spent:
            # Gifts of spent coins still on hold give their diamonds back.
            recovered = hooks.store_refund_recover(
                purchase=purchase, paid_coins_spent=left.paid_spent, now=now
            )
            shortfall = UnrecoveredStoreRefund(
                purchase=purchase,
                store=purchase.store,
                price=purchase.price,
                paid_coins_spent=left.paid_spent,
                bonus_coins_missing=left.bonus_spent,
                paid_coins_recovered=recovered.paid_coins,
                diamond_units_recovered=recovered.diamond_units,
                received_at=now,
                last_received_at=now,
            )
            if not (shortfall.paid_coins_not_recovered or left.bonus_spent):
                # Nothing lost: on record for the books, closed by the platform.
                shortfall.resolved_at = now
                shortfall.resolution_note = HOLD_RECOVERED_IN_FULL
            reason = f"{reason} {shortfall.description}"
        _purchase_take_back(
            purchase=purchase,
            accounts=accounts,
            left=left,
            actor=None,
            reason=reason,
            source=Purchase.RefundSource.STORE,
            now=now,
        )
        if shortfall is not None:
            shortfall.save()
    _refund_logged(
        purchase, left, source=Purchase.RefundSource.STORE, shortfall=shortfall
    )
    return RefundResult(
        purchase,
        refunded=True,
        bonus_taken_back=left.bonus,
        paid_taken_back=left.paid,
        shortfall=shortfall,
    )


def _store_refund_of_refunded(
    purchase: Purchase, *, now: datetime.datetime
) -> RefundResult:
    """The store refunds a purchase already refunded: a repeat only counts; after
    the platform's own refund it is a loss (the buyer has the price back twice),
    put on record for finance. Nothing is left to take back either way."""
    on_record = UnrecoveredStoreRefund.objects.filter(purchase=purchase)
    if on_record.update(notifications=F("notifications") + 1, last_received_at=now):
        # A repeat of a double refund says so again; of a partial one, nothing new.
        twice = on_record.filter(refunded_twice=True).first()
        return RefundResult(purchase, refunded=False, shortfall=twice)
    if purchase.refund_source == Purchase.RefundSource.STORE:
        return RefundResult(purchase, refunded=False)
    twice = UnrecoveredStoreRefund.objects.create(
        purchase=purchase,
        store=purchase.store,
        price=purchase.price,
        paid_coins_spent=0,
        bonus_coins_missing=0,
        refunded_twice=True,
        received_at=now,
        last_received_at=now,
    )
    money_event(
        "purchase_refunded_twice",
        level=logging.WARNING,
        purchase_id=purchase.id,
        buyer_id=purchase.user_id,
        store=purchase.store,
        store_transaction_id=purchase.store_transaction_id,
        first_refund_source=purchase.refund_source,
        price=str(purchase.price.amount),
        currency=str(purchase.price.currency),
        unrecovered=twice.description,
    )
    return RefundResult(purchase, refunded=False, shortfall=twice)


RESOLVE_UNRECOVERED_PERMISSION = "wallets.change_unrecoveredstorerefund"


def unrecovered_store_refund_resolve(
    *,
    record: UnrecoveredStoreRefund,
    actor: User,
    note: str,
    now: datetime.datetime | None = None,
) -> UnrecoveredStoreRefund:
    """Finance closes an unrecovered store refund, saying what was done; once."""
    if not actor.has_perm(RESOLVE_UNRECOVERED_PERMISSION):
        raise ServiceError(
            "Only finance resolves unrecovered store refunds.", status_code=403
        )
    if not note.strip():
        raise ServiceError("Say how it was resolved.", field="note")
    now = now or timezone.now()
    with transaction.atomic():
        # Compare-and-set: of two finance users resolving at once, one wins.
        resolved = UnrecoveredStoreRefund.objects.filter(
            id=record.id, resolved_at__isnull=True
        ).update(resolved_at=now, resolved_by=actor, resolution_note=note.strip())
        record = UnrecoveredStoreRefund.objects.select_related("resolved_by").get(
            id=record.id
        )
    if not resolved:
        raise ServiceError(
            f"The store refund of purchase #{record.purchase_id} was already "
            f"resolved on {record.resolved_at:%Y-%m-%d %H:%M} UTC "
            f"by {record.resolved_by}.",
            code="already_resolved",
            status_code=409,
        )
    logger.info(
        "Resolved the unrecovered store refund of purchase %s", record.purchase_id
    )
    return record
