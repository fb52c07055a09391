from gifting.tests.factories import creator_create
from subscriptions.models import Tier, TierPriceLimit


def limit_of(rank: int = 1) -> TierPriceLimit:
    """A rank's price limits, as the data migration seeds them (50 to 5,000 coins
    for rank 1)."""
    return TierPriceLimit.objects.get(rank=rank)


def tier_create(creator=None, *, coin_price: int = 100, rank: int = 1) -> Tier:
    return Tier.objects.create(
        creator=creator or creator_create(),
        limit=limit_of(rank),
        name=f"Tier {rank}",
        coin_price=coin_price,
    )
