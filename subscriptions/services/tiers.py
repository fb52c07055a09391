"""Tiers creators offer, priced within the limits staff set."""

import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ServiceError
from gifting.models import CreatorProfile

from ..models import Tier, TierPriceLimit


class TierRefused(ServiceError):
    code = "tier_refused"


def creator_may_offer_check(
    creator: CreatorProfile, *, day: datetime.date, field: str = "creator"
) -> None:
    """Only a creator who may receive gifts may offer and receive subscriptions."""
    reason = creator.ineligibility_reason(day)
    if reason:
        raise TierRefused(reason, field=field, code="creator_ineligible")


def tier_price_check(limit: TierPriceLimit, coins: int) -> None:
    if not limit.allows(coins):
        raise TierRefused(
            f"{limit.name} costs {limit.min_coins:,} to {limit.max_coins:,} coins.",
            field="coin_price",
        )


def tier_create(
    *,
    creator: CreatorProfile,
    limit: TierPriceLimit,
    name: str,
    coin_price: int,
    now: datetime.datetime | None = None,
) -> Tier:
    now = now or timezone.now()
    creator_may_offer_check(creator, day=now.date())
    tier_price_check(limit, coin_price)
    try:
        with transaction.atomic():
            return Tier.objects.create(
                creator=creator,
                limit=limit,
                name=name,
                coin_price=coin_price,
                created_at=now,
            )
    except IntegrityError:
        raise TierRefused(
            f"You already offer a tier at {limit.name}: edit it.", field="limit"
        ) from None


def tier_update(
    *,
    tier: Tier,
    name: str | None = None,
    coin_price: int | None = None,
    is_active: bool | None = None,
    now: datetime.datetime | None = None,
) -> Tier:
    """Change a tier: its price applies to new subscribers only."""
    now = now or timezone.now()
    with transaction.atomic():
        tier = Tier.objects.select_for_update().select_related("limit").get(id=tier.id)
        if coin_price is not None:
            # A suspended (or otherwise ineligible) creator does not reprice.
            creator_may_offer_check(tier.creator, day=now.date(), field="coin_price")
            tier_price_check(tier.limit, coin_price)
            tier.coin_price = coin_price
        if is_active:
            creator_may_offer_check(tier.creator, day=now.date())
        if name is not None:
            tier.name = name
        if is_active is not None:
            tier.is_active = is_active
        tier._change_reason = "Edited by the creator"
        tier.save()
    return tier
