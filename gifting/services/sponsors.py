"""Sponsored gifts: campaigns a brand pays for, their funding (four eyes), and the
subsidy a gift send takes from a campaign's budget."""

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from djmoney.money import Money

from accounts.models import User
from catalog.models import Gift
from core.errors import ServiceError
from core.logs import money_event
from wallets import ledger
from wallets.models import LedgerAccount

from ..models import GiftSend, SponsorCampaign, SponsorFunding

FUND_PERMISSION = "gifting.add_sponsorfunding"
CONFIRM_FUNDING_PERMISSION = "gifting.approve_sponsorfunding"
# A slip of the keyboard, or past what a balance column holds.
MAX_FUNDING_COINS = 10**12


class SponsorRefused(ServiceError):
    code = "sponsor_refused"


@dataclass(frozen=True)
class Subsidy:
    """What a campaign pays of one gift send: `coins` from its locked `budget`."""

    campaign: SponsorCampaign
    budget: LedgerAccount
    coins: int


def sponsor_campaign_save(*, campaign: SponsorCampaign) -> SponsorCampaign:
    """Save a campaign; a new one gets its budget account, empty until funded."""
    campaign.full_clean(exclude=["budget"])
    with transaction.atomic():
        if campaign.budget_id is None:
            campaign.budget = ledger.sponsor_budget_open()
        campaign.save()
    return campaign


def sponsor_subsidy_take(
    *,
    gift: Gift,
    sender_id: int,
    region_id: int | None,
    quantity: int,
    now: datetime.datetime,
) -> Subsidy | None:
    """The subsidy of a gift send, with its campaign's budget locked until the
    caller's transaction ends; None when no campaign pays for it (the sender pays
    the full price).

    The campaign running now for the gift in the sender's home region (the
    earliest started, when several) pays `min(its subsidy, the price)` a gift,
    for the whole send or not at all: when its budget, or what is left of the
    sender's cap, is smaller, it pays nothing. The budget's row lock is what every
    sponsored send of the campaign queues on, so two sends never both count the
    same coins of budget or cap; the budget's check constraint stands behind it.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("sponsor_subsidy_take must run inside transaction.atomic().")
    in_region = Q(regions__isnull=True)
    if region_id is not None:
        in_region |= Q(regions__id=region_id)
    campaign = (
        SponsorCampaign.objects.filter(gift=gift, starts_at__lte=now, ends_at__gt=now)
        .filter(in_region)
        .order_by("starts_at", "id")
        .first()
    )
    if campaign is None:
        return None
    budget = LedgerAccount.objects.select_for_update().get(id=campaign.budget_id)
    coins = min(campaign.subsidy_coins, gift.coin_price) * quantity
    # Read after the lock: every send of this campaign that committed before is in.
    had = (
        GiftSend.objects.filter(campaign=campaign, sender_id=sender_id).aggregate(
            total=Sum("subsidy_coins")
        )["total"]
        or 0
    )
    if coins > budget.balance or had + coins > campaign.per_user_cap_coins:
        return None
    return Subsidy(campaign=campaign, budget=budget, coins=coins)


def sponsor_funding_check(
    *,
    campaign: SponsorCampaign,
    coins: int,
    money_received: Money | None,
    payment_reference: str,
    actor: User,
    now: datetime.datetime | None = None,
) -> None:
    """Refuse a funding `sponsor_funding_request` would refuse; writes nothing (the
    admin's form says the refusal beside its field)."""
    if not actor.has_perm(FUND_PERMISSION):
        raise SponsorRefused("Only finance records sponsor fundings.", status_code=403)
    if not 0 < coins <= MAX_FUNDING_COINS:
        raise SponsorRefused(
            f"Fund 1 to {MAX_FUNDING_COINS:,} coins at once.", field="coins"
        )
    if money_received is None or money_received.amount <= 0:
        raise SponsorRefused(
            "Record the money the brand paid: more than zero.", field="money_received"
        )
    if not payment_reference.strip():
        raise SponsorRefused(
            "Name the brand's payment as the bank shows it.",
            field="payment_reference",
        )
    if campaign.ends_at <= (now or timezone.now()):
        raise SponsorRefused("This campaign has ended.", field="campaign")


def sponsor_funding_request(
    *,
    campaign: SponsorCampaign,
    coins: int,
    money_received: Money,
    payment_reference: str,
    actor: User,
    now: datetime.datetime | None = None,
) -> SponsorFunding:
    """Record money a brand paid and the coins it buys the campaign; nothing moves
    until another finance user confirms it (`sponsor_funding_confirm`): one person
    alone never mints coins, and every coin is backed by money on record."""
    now = now or timezone.now()
    sponsor_funding_check(
        campaign=campaign,
        coins=coins,
        money_received=money_received,
        payment_reference=payment_reference,
        actor=actor,
        now=now,
    )
    funding = SponsorFunding.objects.create(
        campaign=campaign,
        coins=coins,
        money_received=money_received,
        payment_reference=payment_reference.strip(),
        requested_by=actor,
        requested_at=now,
    )
    _funding_logged(funding, actor)
    return funding


def _funding_locked(funding: SponsorFunding, actor: User, action: str):
    if not actor.has_perm(CONFIRM_FUNDING_PERMISSION):
        raise SponsorRefused("Only finance decides sponsor fundings.", status_code=403)
    funding = SponsorFunding.objects.select_for_update().get(id=funding.id)
    if funding.status != SponsorFunding.Status.REQUESTED:
        raise SponsorRefused(
            f"Funding #{funding.id} was already "
            f"{funding.get_status_display().lower()} by {funding.decided_by}; "
            f"it cannot be {action}.",
            code="already_decided",
            status_code=409,
        )
    return funding


def _funding_decide(funding: SponsorFunding, **fields) -> SponsorFunding:
    # The one change a funding ever gets (save() refuses edits).
    SponsorFunding.objects.filter(
        id=funding.id, status=SponsorFunding.Status.REQUESTED
    ).update(**fields)
    funding.refresh_from_db()
    return funding


def sponsor_funding_confirm(
    *, funding: SponsorFunding, actor: User, now: datetime.datetime | None = None
) -> SponsorFunding:
    """A second finance user confirms a funding: its coins go into the campaign's
    budget now, once. Never by who recorded it; of two confirmations at once one
    wins, the other finds it confirmed (row lock)."""
    now = now or timezone.now()
    with transaction.atomic():
        # The funding, then the budget: the only order anything locks both in.
        funding = _funding_locked(funding, actor, "confirmed")
        if actor.id == funding.requested_by_id:
            raise SponsorRefused(
                "The confirmation must come from someone other than who recorded "
                "the funding.",
                code="own_request",
                status_code=403,
            )
        budget = LedgerAccount.objects.select_for_update().get(
            id=funding.campaign.budget_id
        )
        transfer = ledger.sponsor_funding_post(
            funding_id=funding.id, budget=budget, coins=funding.coins
        )
        funding = _funding_decide(
            funding,
            status=SponsorFunding.Status.APPROVED,
            decided_by=actor,
            decided_at=now,
            transfer=transfer,
        )
    _funding_logged(funding, actor)
    return funding


def sponsor_funding_reject(
    *,
    funding: SponsorFunding,
    actor: User,
    reason: str,
    now: datetime.datetime | None = None,
) -> SponsorFunding:
    """Refuse a funding waiting for confirmation, with a reason; nothing moves.
    Finance, also who recorded it (withdrawing it)."""
    if not reason.strip():
        raise SponsorRefused("A rejection needs a reason.", field="reason")
    now = now or timezone.now()
    with transaction.atomic():
        funding = _funding_decide(
            _funding_locked(funding, actor, "rejected"),
            status=SponsorFunding.Status.REJECTED,
            decided_by=actor,
            decided_at=now,
            rejection_reason=reason.strip()[:200],
        )
    _funding_logged(funding, actor)
    return funding


def _funding_logged(funding: SponsorFunding, actor: User) -> None:
    event = {
        SponsorFunding.Status.REQUESTED: "sponsor_funding_recorded",
        SponsorFunding.Status.APPROVED: "sponsor_funding_confirmed",
        SponsorFunding.Status.REJECTED: "sponsor_funding_rejected",
    }[funding.status]
    money_event(
        event,
        funding_id=funding.id,
        campaign_id=funding.campaign_id,
        coins=funding.coins,
        money_received=str(funding.money_received),
        requested_by=funding.requested_by_id,
        actor_id=actor.id,
        transfer_id=funding.transfer_id,
    )
