import datetime
import logging
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from djmoney.money import Money

from accounts.errors import ServiceError
from accounts.idempotency import replay_check, request_fingerprint
from accounts.models import User
from catalog.models import CoinBundle, Region
from catalog.selectors import bundle_price_current

from . import ledger
from .models import (
    BalanceAdjustment,
    LedgerAccount,
    Promotion,
    Purchase,
    SpendingLimit,
    SpendingLimitOverride,
    UnrecoveredStoreRefund,
)
from .models import Transfer as TransferModel
from .stores import ReceiptRejected, payment_store

logger = logging.getLogger(__name__)
Kind = LedgerAccount.Kind


class PurchaseRefused(ServiceError):
    code = "purchase_refused"


class RefundRefused(ServiceError):
    status_code = 409
    code = "refund_refused"


@dataclass(frozen=True)
class PurchaseResult:
    purchase: Purchase
    created: bool


def promotions_for(
    *, user: User, bundle: CoinBundle, region: Region, channel: str, when
) -> list[tuple[Promotion, int]]:
    """The promotions a purchase earns, with the extra coins each gives.

    Rule: the best first-purchase bonus (for a user's first purchase ever) plus the
    best running campaign, each a percent of the bundle's coins rounded down.
    """
    running = (
        Promotion.objects.filter(is_active=True)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=when))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=when))
        .filter(Q(channel="") | Q(channel=channel))
        .filter(Q(regions__isnull=True) | Q(regions=region))
        .distinct()
        .order_by("-bonus_percent", "id")
    )
    running = list(running)
    kinds = [Promotion.Kind.CAMPAIGN]
    if any(promo.kind == Promotion.Kind.FIRST_PURCHASE for promo in running) and (
        not Purchase.objects.filter(user=user).exists()
    ):
        kinds.insert(0, Promotion.Kind.FIRST_PURCHASE)
    earned = []
    for kind in kinds:
        best = next((promo for promo in running if promo.kind == kind), None)
        if best is not None:
            extra = int(
                (Decimal(bundle.coins) * best.bonus_percent / 100).to_integral_value(
                    ROUND_FLOOR
                )
            )
            if extra:
                earned.append((best, extra))
    return earned


def _limits_for(user: User, region: Region) -> tuple[Money | None, Money | None]:
    default = SpendingLimit.objects.filter(region=region).first()
    daily = default.daily_limit if default else None
    monthly = default.monthly_limit if default else None
    override = SpendingLimitOverride.objects.filter(user=user, region=region).first()
    if override is not None:
        daily = override.daily_limit if override.daily_limit is not None else daily
        monthly = (
            override.monthly_limit if override.monthly_limit is not None else monthly
        )
    return daily, monthly


def _spent_since(
    user: User, region: Region, day_start: datetime.datetime, month_start
) -> tuple[Decimal, Decimal]:
    """What the user spent in the region since the day's and the month's start."""
    completed = Purchase.objects.filter(
        user=user,
        region=region,
        status=Purchase.Status.COMPLETED,
        created_at__gte=month_start,
    )
    totals = completed.aggregate(
        day=Sum("price", filter=Q(created_at__gte=day_start)),
        month=Sum("price", filter=Q(created_at__gte=month_start)),
    )
    return totals["day"] or Decimal("0"), totals["month"] or Decimal("0")


def spending_check(*, user: User, region: Region, price: Money, when) -> None:
    """Refuse a purchase that would pass the user's daily or monthly limit there.

    Days and months are UTC calendar days and months; refunded purchases don't count.
    """
    daily, monthly = _limits_for(user, region)
    if daily is None and monthly is None:
        return
    day_start = when.astimezone(datetime.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    month_start = day_start.replace(day=1)
    spent_today, spent_this_month = _spent_since(user, region, day_start, month_start)
    for limit, spent, period in (
        (daily, spent_today, "daily"),
        (monthly, spent_this_month, "monthly"),
    ):
        if limit is None:
            continue
        if spent + price.amount > limit.amount:
            left = max(limit.amount - spent, Decimal("0"))
            raise PurchaseRefused(
                f"This purchase would pass your {period} spending limit of {limit} "
                f"in {region.code}; {Money(left, limit.currency)} left.",
                code=f"{period}_limit_reached",
                status_code=403,
            )


def purchase_record(
    *,
    user: User,
    bundle: CoinBundle,
    region: Region,
    channel: str,
    store: str,
    receipt: str,
    idempotency_key: str,
    now: datetime.datetime | None = None,
) -> PurchaseResult:
    """Verify a store receipt and credit the bundle's coins at today's price.

    The same Idempotency-Key, or the same store transaction by the same user, returns
    the first purchase and moves nothing, also when the two requests race; the
    same key with another request is refused (`IdempotencyKeyReused`).
    """
    now = now or timezone.now()
    fingerprint = request_fingerprint(
        "purchase",
        bundle=bundle,
        region=region,
        channel=channel,
        store=store,
        receipt=receipt,
    )
    replay = Purchase.objects.filter(user=user, idempotency_key=idempotency_key).first()
    if replay is not None:
        replay_check(replay, fingerprint=fingerprint)
        return PurchaseResult(replay, created=False)

    if not user.is_adult_on(now.date()):
        raise PurchaseRefused(
            "Buying coins requires age 18 or over"
            + ("; add your birth date first." if user.birth_date is None else "."),
            code="under_age",
            status_code=403,
        )
    store_channel = Purchase.CHANNEL_OF_STORE[store]
    if store_channel != channel:
        raise PurchaseRefused(
            f"The {store} store sells on the {store_channel} channel.",
            field="store",
        )
    if not (bundle.is_active and region.is_active):
        raise PurchaseRefused("This bundle is not on sale there.", field="bundle")
    bundle_price = bundle_price_current(
        bundle=bundle, region=region, channel=channel, when=now
    )
    if bundle_price is None:
        raise PurchaseRefused(
            f"This bundle is not on sale in {region.code} on the {channel} channel.",
            field="bundle",
        )

    # The store is asked outside any transaction: no lock waits on the network.
    verified = payment_store(store).verify_receipt(
        receipt, sku=bundle.sku, user_id=user.id
    )
    if verified.sku != bundle.sku:
        raise ReceiptRejected(
            f"This receipt is for {verified.sku}, not {bundle.sku}.", field="receipt"
        )
    if verified.storefront is not None and verified.storefront != region.code:
        # Prices and spending limits are the region's: the store says where it charged.
        raise ReceiptRejected(
            f"This receipt was bought in the {verified.storefront} storefront, "
            f"not in {region.code}.",
            field="region",
        )

    with transaction.atomic():
        # One purchase per user at a time: the limit check and the duplicate checks
        # below then see every earlier purchase of this user.
        accounts = ledger.coin_accounts_lock(user)
        existing = _existing_purchase(user, store, verified, idempotency_key)
        if existing is not None:
            # Found by its store transaction under another key: a replay as well.
            if existing.idempotency_key == idempotency_key:
                replay_check(existing, fingerprint=fingerprint)
            return PurchaseResult(existing, created=False)
        spending_check(user=user, region=region, price=bundle_price.price, when=now)
        promotions = promotions_for(
            user=user, bundle=bundle, region=region, channel=channel, when=now
        )
        try:
            # No savepoint: a duplicate ends the whole transaction anyway.
            purchase = Purchase.objects.create(
                user=user,
                bundle=bundle,
                region=region,
                channel=channel,
                store=store,
                store_transaction_id=verified.transaction_id,
                idempotency_key=idempotency_key,
                request_fingerprint=fingerprint,
                bundle_price=bundle_price,
                price=bundle_price.price,
                coins=bundle.coins,
                bundle_bonus_coins=bundle.bonus_coins,
                promotion_bonus_coins=sum(extra for _, extra in promotions),
                paid_coins_remaining=bundle.coins,
                created_at=now,
            )
        except IntegrityError:
            # Another user's request holds this store transaction.
            raise PurchaseRefused(
                "This receipt was already used for another purchase.",
                field="receipt",
                code="receipt_already_used",
                status_code=409,
            ) from None
        if promotions:
            purchase.promotions.add(*(promo for promo, _ in promotions))
        reference = f"purchase:{purchase.id}"
        legs = [
            ledger.Leg(
                ledger.system_account(Kind.COIN_ISSUANCE),
                accounts[Kind.PAID_COINS],
                purchase.coins,
                TransferModel.Kind.PURCHASE,
                f"{reference}:paid",
            )
        ]
        if purchase.bonus_coins:
            legs.append(
                ledger.Leg(
                    ledger.system_account(Kind.BONUS_ISSUANCE),
                    accounts[Kind.BONUS_COINS],
                    purchase.bonus_coins,
                    TransferModel.Kind.PURCHASE_BONUS,
                    f"{reference}:bonus",
                )
            )
        ledger.transfers_post(legs, reference=reference)
    logger.info(
        "Purchase %s: %s coins for %s", purchase.id, purchase.coins, purchase.price
    )
    return PurchaseResult(purchase, created=True)


def _existing_purchase(user, store, verified, idempotency_key) -> Purchase | None:
    existing = Purchase.objects.filter(
        Q(user=user, idempotency_key=idempotency_key)
        | Q(store=store, store_transaction_id=verified.transaction_id)
    ).first()
    if existing is not None and existing.user_id != user.id:
        raise PurchaseRefused(
            "This receipt was already used for another purchase.",
            field="receipt",
            code="receipt_already_used",
            status_code=409,
        )
    return existing


def refund_deadline(purchase: Purchase) -> datetime.datetime:
    return purchase.created_at + datetime.timedelta(days=settings.REFUND_WINDOW_DAYS)


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
    bonus = min(purchase.bonus_coins, accounts[Kind.BONUS_COINS].balance)
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
    reference = f"purchase:{purchase.id}"
    legs = []
    if left.paid:
        legs.append(
            ledger.Leg(
                accounts[Kind.PAID_COINS],
                ledger.system_account(Kind.COIN_REFUNDS),
                left.paid,
                TransferModel.Kind.REFUND,
                f"{reference}:refund",
            )
        )
    if left.bonus:
        legs.append(
            ledger.Leg(
                accounts[Kind.BONUS_COINS],
                ledger.system_account(Kind.BONUS_ISSUANCE),
                left.bonus,
                TransferModel.Kind.BONUS_CLAWBACK,
                f"{reference}:bonus-clawback",
            )
        )
    if legs:
        ledger.transfers_post(legs, reference=reference)
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


def purchase_refund(
    *,
    purchase: Purchase,
    actor: User | None,
    reason: str,
    source: str,
    now: datetime.datetime | None = None,
) -> RefundResult:
    """Grant a refund of a purchase: take back its coins, paid and bonus.

    Refundable before 14 days have passed since the purchase, while it is unused:
    none of its paid coins were spent and the user still holds its bonus coins (a
    bonus spent on gifts would otherwise be free money after the refund). A second
    refund of the same purchase does nothing. (A store's own refund is not granted
    here but reported: `store_refund_notification_handle`.)
    """
    now = now or timezone.now()
    if not reason.strip():
        raise RefundRefused("A refund needs a reason.", field="reason", status_code=400)
    with transaction.atomic():
        # Accounts first, then the purchase: the order every coin service locks in.
        accounts = ledger.coin_accounts_lock(purchase.user)
        purchase = Purchase.objects.select_for_update().get(id=purchase.id)
        if purchase.status == Purchase.Status.REFUNDED:
            return RefundResult(purchase, refunded=False)
        if now >= refund_deadline(purchase):
            days, ended = settings.REFUND_WINDOW_DAYS, refund_deadline(purchase)
            raise RefundRefused(
                f"Purchase #{purchase.id} is past its {days}-day refund window "
                f"(ended {ended:%Y-%m-%d %H:%M} UTC).",
                code="refund_window_passed",
            )
        left = _coins_left(purchase, accounts)
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
        _purchase_take_back(
            purchase=purchase,
            accounts=accounts,
            left=left,
            actor=actor,
            reason=reason.strip(),
            source=source,
            now=now,
        )
    logger.info("Refunded purchase %s (%s)", purchase.id, source)
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
            UnrecoveredStoreRefund.objects.filter(purchase=purchase).update(
                notifications=F("notifications") + 1, last_received_at=now
            )
            return RefundResult(purchase, refunded=False)
        left = _coins_left(purchase, accounts)
        shortfall = None
        reason = f"Refunded by the {store} store."
        if left.paid_spent or left.bonus_spent:
            shortfall = UnrecoveredStoreRefund(
                purchase=purchase,
                store=purchase.store,
                price=purchase.price,
                paid_coins_spent=left.paid_spent,
                bonus_coins_missing=left.bonus_spent,
                received_at=now,
                last_received_at=now,
            )
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
    if shortfall is None:
        logger.info("Refunded purchase %s (store %s)", purchase.id, store)
    else:
        logger.warning(
            "Store %s refunded purchase %s partly spent: %s",
            store,
            purchase.id,
            shortfall.description,
        )
    return RefundResult(
        purchase,
        refunded=True,
        bonus_taken_back=left.bonus,
        paid_taken_back=left.paid,
        shortfall=shortfall,
    )


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


ADJUST_PERMISSION = "wallets.add_balanceadjustment"


# Bonus coins, or diamonds in ten-thousandths.
MAX_ADJUSTMENT = 10**12


def balance_adjust(
    *,
    user: User,
    account_kind: str,
    amount: int,
    reason: str,
    actor: User,
    idempotency_key: str,
) -> BalanceAdjustment:
    """Correct a user's bonus coins or diamonds by hand: finance only, with a reason.

    Recorded as a transfer to or from an adjustments system account and as an
    adjustment with the balance before and after; a take-away past the balance is
    refused like any overdraft.
    """
    if not actor.has_perm(ADJUST_PERMISSION):
        raise ServiceError("Only finance adjusts balances.", status_code=403)
    if not reason.strip():
        raise ServiceError("An adjustment needs a reason.", field="reason")
    if not amount:
        raise ServiceError("Adjust by a non-zero amount.", field="amount")
    if abs(amount) > MAX_ADJUSTMENT:
        # A slip of the keyboard, or past what the balance column holds.
        raise ServiceError(
            f"At most {MAX_ADJUSTMENT:,} either way at once.", field="amount"
        )
    system_kind = {
        Kind.BONUS_COINS: Kind.BONUS_ADJUSTMENTS,
        Kind.DIAMONDS: Kind.DIAMOND_ADJUSTMENTS,
    }.get(account_kind)
    if system_kind is None:
        raise ServiceError(
            "Only bonus coins and diamonds are adjusted.", field="account_kind"
        )
    key = f"adjustment:{idempotency_key}"
    with transaction.atomic():
        replay = BalanceAdjustment.objects.filter(transfer__idempotency_key=key).first()
        if replay is not None:
            return replay
        account = ledger.user_account(user, account_kind)
        if account_kind == Kind.DIAMONDS:
            ledger.pending_credits_fold(account_id=account.id)
        account = LedgerAccount.objects.select_for_update().get(id=account.id)
        before = account.balance
        if before + amount < 0:
            raise ledger.InsufficientBalance(
                f"Not enough {account.get_kind_display().lower()}: {before} held, "
                f"{-amount} to take away.",
                field="amount",
                extra={"balance": before, "needed": -amount},
            )
        system = ledger.system_account(system_kind)
        transfer = ledger.transfer_post(
            debit=system if amount > 0 else account,
            credit=account if amount > 0 else system,
            amount=abs(amount),
            kind=TransferModel.Kind.ADJUSTMENT,
            reference=f"adjustment:{user.id}",
            idempotency_key=key,
        )
        return BalanceAdjustment.objects.create(
            user=user,
            account_kind=account_kind,
            amount=amount,
            balance_before=before,
            balance_after=before + amount,
            reason=reason.strip(),
            actor=actor,
            transfer=transfer,
        )
