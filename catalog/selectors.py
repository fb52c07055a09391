import datetime

from .models import BundlePrice, CoinBundle, Gift, Region


def gift_list_for_client(
    *, when: datetime.datetime, region: Region | None, placement: str | None
):
    """What a client may send at `when`: active, in its window, offered there."""
    gifts = Gift.objects.available_at(when).offered_in(region)
    if placement:
        gifts = gifts.sendable_in(placement)
    return gifts.order_by("sort_order", "coin_price", "id")


def bundle_price_current(
    *, bundle: CoinBundle, region: Region, channel: str, when: datetime.datetime
) -> BundlePrice | None:
    """The price in force at `when`: the latest row effective at or before it."""
    return (
        BundlePrice.objects.filter(
            bundle=bundle, region=region, channel=channel, effective_at__lte=when
        )
        .order_by("-effective_at", "-id")
        .first()
    )
