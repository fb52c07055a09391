import datetime
import logging
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from djmoney.money import Money

from accounts.models import User
from catalog.models import CoinBundle, Region
from catalog.selectors import (
    BASE_CURRENCY,
    bundle_price_current,
    exchange_rate_current,
)
from core.errors import ServiceError
from core.idempotency import replay_check, request_fingerprint

from . import ledger, selectors
from .models import (
    AccountKind,
    BalanceAdjustment,
    HomeRegion,
    LedgerAccount,
    Promotion,
    Purchase,
    SpendingLimit,
    SpendingLimitOverride,
    UnrecoveredStoreRefund,
    amount_display,
)
from .stores import ReceiptRejected, payment_store

logger = logging.getLogger(__name__)


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
    user: User, day_start: datetime.datetime, month_start
) -> list[tuple[str, Decimal, Decimal]]:
    """What the user spent since the day's and the month's start, in every region:
    (currency, today, this month) per currency they bought in."""
    totals = (
        Purchase.objects.filter(
            user=user, status=Purchase.Status.COMPLETED, created_at__gte=month_start
        )
        .values("price_currency")
        .annotate(
            day=Sum("price", filter=Q(created_at__gte=day_start)), month=Sum("price")
        )
        .order_by()
    )
    return [
        (row["price_currency"], row["day"] or Decimal("0"), row["month"])
        for row in totals
    ]


def _exchange_rate(source: str, target: str) -> Decimal:
    if source == target:
        return Decimal("1")
    # Rates are from the base currency (USD); either side may be the base itself.
    rates = [
        Decimal("1") if code == BASE_CURRENCY else exchange_rate_current(currency=code)
        for code in (source, target)
    ]
    if None in rates or not rates[0]:
        # Spending that cannot be counted could pass the limit: refuse until it can.
        raise PurchaseRefused(
            f"Your purchases in {source} cannot be counted against your spending "
            f"limit in {target}: there is no exchange rate. Ask support.",
            code="spending_not_comparable",
            status_code=403,
        )
    return rates[1] / rates[0]


def spending_check(*, user: User, region: Region, price: Money, when) -> None:
    """Refuse a purchase that would pass the user's daily or monthly limit there.

    The limits are the region's (the user's home region: purchases are made only
    there); what counts against them is what the user spent in every region, a
    purchase in another currency (made before the home region moved) at today's
    exchange rate. Days and months are UTC calendar days and months; refunded
    purchases don't count.
    """
    daily, monthly = _limits_for(user, region)
    if daily is None and monthly is None:
        return
    day_start = when.astimezone(datetime.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    month_start = day_start.replace(day=1)
    spent = _spent_since(user, day_start, month_start)
    for limit, period in ((daily, "daily"), (monthly, "monthly")):
        if limit is None:
            continue
        currency = str(limit.currency)
        rates = {code: _exchange_rate(code, currency) for code, _, _ in spent}
        so_far = sum(
            (
                (today if period == "daily" else month) * rates[code]
                for code, today, month in spent
            ),
            Decimal("0"),
        )
        if so_far + _in(price, currency) > limit.amount:
            left = max(limit.amount - so_far, Decimal("0"))
            raise PurchaseRefused(
                f"This purchase would pass your {period} spending limit of {limit} "
                f"in {region.code}; {_money(left, currency)} left.",
                code=f"{period}_limit_reached",
                status_code=403,
            )


def _in(price: Money, currency: str) -> Decimal:
    return price.amount * _exchange_rate(str(price.currency), currency)


def _money(amount: Decimal, currency: str) -> Money:
    # A converted amount has many places; say it to the cent, never more than left.
    return Money(amount.quantize(Decimal("0.01"), rounding=ROUND_FLOOR), currency)


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
    home = HomeRegion.objects.filter(user=user).select_related("region").first()
    if home is not None:
        _check_home_region(home, region)
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
        if home is None:
            # A first purchase names the home region; two racing in two regions
            # queue on the lock above, and the second sees the first's.
            _home_region_claim(
                user=user,
                region=region,
                store=store,
                storefront=verified.storefront,
                now=now,
            )
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
        ledger.purchase_post(purchase=purchase, accounts=accounts)
    logger.info(
        "Purchase %s: %s coins for %s", purchase.id, purchase.coins, purchase.price
    )
    return PurchaseResult(purchase, created=True)


def _check_home_region(home: HomeRegion, region: Region) -> None:
    if home.region_id != region.id:
        raise PurchaseRefused(
            f"Your home region is {home.region.code}: you buy coins there, not in "
            f"{region.code}. Support can change your home region.",
            field="region",
            code="not_home_region",
        )


def _home_region_claim(
    *, user: User, region: Region, store: str, storefront: str | None, now
) -> HomeRegion:
    """The user's first purchase sets their home region: the region it is made in,
    which is the store's storefront where the store reports one (checked before)."""
    home = HomeRegion.objects.filter(user=user).select_related("region").first()
    if home is not None:
        _check_home_region(home, region)
        return home
    store_name = Purchase.Store(store).label
    if storefront is not None:
        source = HomeRegion.Source.STOREFRONT
        reason = f"The {store_name} charged the first purchase in {storefront}."
    else:
        source = HomeRegion.Source.FIRST_PURCHASE
        reason = (
            f"The first purchase named {region.code}; the {store_name} reported "
            "no storefront."
        )
    return HomeRegion.objects.create(
        user=user, region=region, source=source, reason=reason, set_at=now
    )


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


# Who may grant a refund; `actor=None` is the platform itself (a command, a test).
REFUND_PERMISSION = "wallets.refund_purchase"


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
    if actor is not None and not actor.has_perm(REFUND_PERMISSION):
        raise RefundRefused("Only finance refunds purchases.", status_code=403)
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
        "diamonds" if account_kind == AccountKind.DIAMONDS else "bonus_coins",
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
    logger.info(
        "Balance adjustment %s: %+d %s for user %s by %s (%s)",
        adjustment.id,
        amount,
        account_kind,
        user.id,
        actor.id,
        adjustment.status,
    )
    return adjustment


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
    logger.info("Balance adjustment %s approved by %s", adjustment.id, actor.id)
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
    logger.info("Balance adjustment %s rejected by %s", adjustment.id, actor.id)
    return adjustment


HOME_REGION_PERMISSION = "wallets.change_homeregion"


def home_region_set(
    *,
    user: User,
    region: Region,
    actor: User | None,
    reason: str,
    now: datetime.datetime | None = None,
) -> HomeRegion:
    """Set a user's home region, saying why: support (`actor`), or the platform
    itself (no actor: a seed, a command). Nobody sets their own.

    From then on the user buys coins and sends region-only gifts only there, and
    that region's spending limits apply, counting what they spent elsewhere. The
    audit records the change with the row before and after.
    """
    if actor is not None:
        if not actor.has_perm(HOME_REGION_PERMISSION):
            raise ServiceError(
                "Only support sets a user's home region.", status_code=403
            )
        if actor.id == user.id:
            raise ServiceError("Nobody sets their own home region.", field="user")
    if not reason.strip():
        raise ServiceError("Say why the home region is set.", field="reason")
    if not region.is_active:
        raise ServiceError(f"{region.code} is not an active region.", field="region")
    now = now or timezone.now()
    fields = {
        "region": region,
        "source": HomeRegion.Source.SUPPORT if actor else HomeRegion.Source.PLATFORM,
        "reason": reason.strip(),
        "set_by": actor,
        "set_at": now,
    }
    try:
        with transaction.atomic():
            home = HomeRegion.objects.select_for_update().filter(user=user).first()
            if home is None:
                home = HomeRegion.objects.create(user=user, **fields)
            elif home.region_id == region.id:
                raise ServiceError(
                    f"{user}'s home region is already {region.code}.", field="region"
                )
            else:
                for name, value in fields.items():
                    setattr(home, name, value)
                home.save(update_fields=list(fields))
    except IntegrityError:
        # A first purchase or another change set it at the same moment.
        raise ServiceError(
            f"{user}'s home region was set at the same moment; look again.",
            code="conflict",
            status_code=409,
        ) from None
    logger.info("Home region of %s set to %s by %s", user, region.code, actor)
    return home
