"""The earnings hold: finance sets it; a store refund takes back from it.

docs/holds.md says what is held, for how long, and which gifts a refunded purchase
is taken to have paid for.
"""

import datetime
import logging
from collections.abc import Callable

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from catalog.models import Region
from core import display
from core.errors import ServiceError
from core.logs import money_event
from wallets import ledger
from wallets.hooks import Recovered
from wallets.models import AccountKind, LedgerAccount, Purchase, Transfer

from ..holds import HeldSpend, HoldRules, hold_rules, take_back_sources
from ..models import (
    EARNINGS_HOLD_MAX_DAYS,
    CreatorProfile,
    EarningsHold,
    GiftSend,
    HoldRecovery,
)
from .rules import region_rule_errors

logger = logging.getLogger(__name__)

HOLD_PERMISSION = "gifting.add_earningshold"


def earnings_hold_errors(
    *,
    region: Region | None,
    days: int | None,
    effective_from: datetime.datetime,
    reason: str,
    now: datetime.datetime,
) -> dict[str, str]:
    """What is wrong with a new hold rule, per field; empty when it may be set."""
    errors = {}
    if days is None or not 0 <= days <= EARNINGS_HOLD_MAX_DAYS:
        errors["days"] = f"A hold is 0 to {EARNINGS_HOLD_MAX_DAYS} days."
    return errors | region_rule_errors(
        EarningsHold,
        region=region,
        effective_from=effective_from,
        reason=reason,
        now=now,
        backdated="A hold takes effect now or later: gifts already sent keep the "
        "hold they were sent under.",
        taken="A hold for these gifts starts at this moment.",
        no_reason="Say why the hold changes.",
    )


def earnings_hold_set(
    *,
    region: Region | None,
    days: int,
    actor: User,
    reason: str,
    effective_from: datetime.datetime | None = None,
    now: datetime.datetime | None = None,
) -> EarningsHold:
    """Finance sets the hold for gifts bought in `region` (None: every region
    without its own) from `effective_from` (None: now) on. Past gifts keep theirs."""
    if not actor.has_perm(HOLD_PERMISSION):
        raise ServiceError("Only finance sets the earnings hold.", status_code=403)
    now = now or timezone.now()
    effective_from = effective_from or now
    errors = earnings_hold_errors(
        region=region, days=days, effective_from=effective_from, reason=reason, now=now
    )
    if errors:
        field, message = next(iter(errors.items()))
        raise ServiceError(message, field=field, code="invalid_hold")
    try:
        with transaction.atomic():
            rule = EarningsHold.objects.create(
                region=region,
                days=days,
                effective_from=effective_from,
                reason=reason.strip(),
                set_by=actor,
                set_at=now,
            )
    except IntegrityError:
        raise ServiceError(
            "A hold for these gifts starts at this moment.",
            field="effective_from",
            code="invalid_hold",
        ) from None
    money_event(
        "earnings_hold_set",
        rule_id=rule.id,
        region=region.code if region else None,
        days=days,
        effective_from=effective_from.isoformat(),
        actor_id=actor.id,
    )
    return rule


# Spends are read in pages: a refund walks back only as far as its coins go.
_PAGE = 200

# What a take-back hands each planned spend's recorder: the source's recorder and
# the spend.
_Plan = tuple[Callable[..., None], HeldSpend]


def hold_take_back(
    *, purchase: Purchase, paid_coins_spent: int, now: datetime.datetime
) -> Recovered:
    """Take back the creators' diamonds from earnings still on hold that a store
    refund's spent paid coins paid for; runs inside the refund (its locks held).

    Subscription charges name the purchases they drew on, so theirs are matched
    exactly (the registered sources, `holds.take_back_source_register`). The
    ledger does not record which purchase each gift drew on, so the rest goes by
    the rule (docs/holds.md): the buyer's gifts' paid coins spent since the
    purchase, newest first, up to what is left of `paid_coins_spent`, less what
    earlier refunds already took from the same gift. Of those, the earnings still
    on hold give back their creator's share of the coins, as far as the creator's
    balance goes (never below zero). Every creator involved is locked first, in
    one id order, whichever source earned them.
    """
    if paid_coins_spent <= 0:
        return Recovered()
    rules = hold_rules()
    planned: list[_Plan] = []
    matched = 0
    for source in take_back_sources():
        answer = source.spends(purchase=purchase, rules=rules, now=now)
        matched += answer.matched
        planned += [(source.recorded, spend) for spend in answer.on_hold]
    if matched > paid_coins_spent:
        raise RuntimeError(
            f"Sources matched {matched} of {paid_coins_spent} spent paid coins."
        )
    gifts = _gift_spends(purchase, paid_coins_spent - matched, rules=rules, now=now)
    planned += [(_gifts_recorded, spend) for spend in gifts]
    if not planned:
        return Recovered()
    by_creator: dict[int, list[_Plan]] = {}
    for plan in planned:
        by_creator.setdefault(plan[1].creator_user_id, []).append(plan)
    creators_key_share(user_ids=by_creator)
    accounts = LedgerAccount.objects.filter(
        owner_id__in=by_creator, kind=AccountKind.DIAMONDS
    ).order_by("id")
    taken: dict[Callable[..., None], list[tuple]] = {}
    for account in accounts:
        for recorded, row in _creator_take_back(
            purchase, account, by_creator[account.owner_id]
        ):
            taken.setdefault(recorded, []).append(row)
    coins = sum(row[1] for rows in taken.values() for row in rows)
    units = sum(row[2] for rows in taken.values() for row in rows)
    for recorded, rows in taken.items():
        recorded(purchase=purchase, taken=rows, now=now)
    if coins:
        money_event(
            "hold_taken_back",
            purchase_id=purchase.id,
            buyer_id=purchase.user_id,
            paid_coins=coins,
            diamond_units=units,
        )
    return Recovered(paid_coins=coins, diamond_units=units)


def creators_key_share(*, user_ids) -> None:
    """Lock the creators' profiles `FOR KEY SHARE`, by id, before their diamonds
    accounts: a payout request (which takes its creator `FOR UPDATE`, then the
    account) queues behind, never deadlocks; gift sends, renewals and refunds of
    charges (which take the same share) never wait on it. A `FOR UPDATE` here
    deadlocked against a renewal or a charge's refund that held the share while
    waiting for the buyer's coins this refund holds."""
    if connection.vendor != "postgresql":
        return  # SQLite locks the whole database: no order to keep.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {CreatorProfile._meta.db_table} "
            "WHERE user_id = ANY(%s) ORDER BY id FOR KEY SHARE",
            [sorted(user_ids)],
        )


def _gift_spends(
    purchase: Purchase, budget: int, *, rules: HoldRules, now: datetime.datetime
) -> list[HeldSpend]:
    """The gifts the purchase's spent coins are taken to have paid for that are
    still on hold, with the coins and diamonds to take back from each."""
    spends = (
        Transfer.objects.filter(
            debit_account__owner_id=purchase.user_id,
            debit_account__kind=AccountKind.PAID_COINS,
            kind=Transfer.Kind.GIFT,
            created_at__gte=purchase.created_at,
        )
        .order_by("-created_at", "-id")
        .values_list("reference", "amount")
    )
    planned, offset = [], 0
    while budget > 0:
        page = list(spends[offset : offset + _PAGE])
        if not page:
            break
        offset += len(page)
        ids = [ledger.gift_send_id_of(reference) for reference, _ in page]
        sends = GiftSend.objects.select_related("creator").in_bulk(ids)
        before = {
            row["gift_send"]: row
            for row in HoldRecovery.objects.filter(gift_send__in=ids)
            .values("gift_send")
            .annotate(coins=Sum("paid_coins"), units=Sum("diamond_units"))
        }
        for gift_id, (_, paid) in zip(ids, page, strict=True):
            send = sends.get(gift_id)
            earlier = before.get(gift_id, {"coins": 0, "units": 0})
            coins = min(paid - earlier["coins"], budget)
            if coins <= 0:
                continue
            budget -= coins
            if send is not None and _on_hold(send, rules, now=now):
                per_coin = send.creator_diamond_units // send.coins
                planned.append(
                    HeldSpend(
                        key=str(send.id),
                        creator_user_id=send.creator.user_id,
                        earned_at=send.created_at,
                        coins=coins,
                        units=min(
                            coins * per_coin,
                            send.creator_diamond_units - earlier["units"],
                        ),
                        per_coin=per_coin,
                        row=send,
                    )
                )
            if not budget:
                break
    return planned


def _on_hold(send: GiftSend, rules: HoldRules, *, now: datetime.datetime) -> bool:
    days = rules.days_for(region_id=send.sender_region_id, sent_at=send.created_at)
    return send.created_at + datetime.timedelta(days=days) > now


def _gifts_recorded(*, purchase: Purchase, taken: list[tuple], now) -> None:
    HoldRecovery.objects.bulk_create(
        [
            HoldRecovery(
                purchase=purchase,
                gift_send=spend.row,
                paid_coins=coins,
                diamond_units=units,
                transfer=transfer,
                created_at=now,
            )
            for spend, coins, units, transfer in taken
        ]
    )


def _creator_take_back(
    purchase: Purchase, account: LedgerAccount, planned: list[_Plan]
) -> list[tuple[Callable[..., None], tuple]]:
    """Take back from one creator's account what it holds of `planned`, newest
    earning first, never below zero (a payout in progress holds the rest):
    [(recorder, (spend, coins, units, transfer))]."""
    # Held earnings may still be pending credits: fold them in, then lock the row.
    ledger.pending_credits_fold(account_id=account.id)
    balance = (
        LedgerAccount.objects.select_for_update(no_key=True)
        .values_list("balance", flat=True)
        .get(id=account.id)
    )
    taking: list[tuple[Callable[..., None], HeldSpend, int, int]] = []
    for recorded, spend in sorted(
        planned, key=lambda plan: (plan[1].earned_at, plan[1].key), reverse=True
    ):
        # Whole coins only: coins and diamonds taken back keep the earning's share.
        coins = min(spend.units, balance) // spend.per_coin
        if not coins:
            continue
        taking.append((recorded, spend, coins, coins * spend.per_coin))
        balance -= coins * spend.per_coin
    if not taking:
        return []
    transfers = ledger.hold_take_back_post(
        purchase_id=purchase.id,
        account=account,
        units_by_key={spend.key: units for _, spend, _, units in taking},
    )
    logger.info(
        "Took back %s from creator %s for purchase %s",
        display.diamonds(sum(units for *_, units in taking), unit=True),
        account.owner_id,
        purchase.id,
    )
    return [
        (recorded, (spend, coins, units, transfer))
        for (recorded, spend, coins, units), transfer in zip(
            taking, transfers, strict=True
        )
    ]
