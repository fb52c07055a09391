import datetime
import logging

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from accounts.models import User

from .models import Gift, GiftPriceChange

logger = logging.getLogger(__name__)


@transaction.atomic
def gift_price_change_schedule(
    *, gift: Gift, coin_price: int, effective_at: datetime.datetime, actor: User | None
) -> GiftPriceChange:
    """Queue a new coin price for `gift`; refuses a moment in the past."""
    change = GiftPriceChange(
        gift=gift, coin_price=coin_price, effective_at=effective_at, created_by=actor
    )
    change.full_clean()
    change.save()
    return change


def gift_price_changes_apply_due(*, now: datetime.datetime | None = None) -> int:
    """Make every scheduled price whose moment has come live; returns how many.

    Safe to run twice at once: each change is claimed with a compare-and-set on
    `applied_at`, so only one run applies it.
    """
    now = now or timezone.now()
    due_ids = list(
        GiftPriceChange.objects.filter(
            applied_at__isnull=True, effective_at__lte=now
        ).values_list("id", flat=True)
    )
    applied = 0
    for change_id in due_ids:
        with transaction.atomic():
            claimed = GiftPriceChange.objects.filter(
                id=change_id, applied_at__isnull=True
            ).update(applied_at=now)
            if not claimed:
                continue
            change = GiftPriceChange.objects.select_related("gift", "created_by").get(
                id=change_id
            )
            gift = Gift.objects.select_for_update().get(id=change.gift_id)
            gift.coin_price = change.coin_price
            gift._change_reason = f"Scheduled price change #{change.id}"
            gift._history_user = change.created_by
            gift.save(update_fields=["coin_price", "updated_at"])
            applied += 1
            logger.info(
                "Gift %s now costs %s coins (scheduled change %s)",
                gift.slug,
                gift.coin_price,
                change.id,
            )
    return applied


@transaction.atomic
def gifts_set_active(*, gifts, is_active: bool, actor: User | None) -> int:
    """Switch gifts on or off in bulk, keeping a history row for each one changed."""
    to_change = list(gifts.select_for_update().exclude(is_active=is_active))
    now = timezone.now()
    for gift in to_change:
        gift.is_active = is_active
        gift.updated_at = now
    bulk_update_with_history(
        to_change,
        Gift,
        ["is_active", "updated_at"],
        default_user=actor,
        default_change_reason="Activated" if is_active else "Deactivated",
    )
    return len(to_change)
