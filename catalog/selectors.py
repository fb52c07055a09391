import datetime

from .models import Gift, Region


def gift_list_for_client(
    *, when: datetime.datetime, region: Region | None, placement: str | None
):
    """What a client may send at `when`: active, in its window, offered there."""
    gifts = Gift.objects.available_at(when).offered_in(region)
    if placement:
        gifts = gifts.sendable_in(placement)
    return gifts.order_by("sort_order", "coin_price", "id")
