import datetime
import logging

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from core.errors import ServiceError
from wallets.units import whole_diamonds_from_units

from ..models import CreatorLevel, CreatorProfile, GiftSend, LevelChange

logger = logging.getLogger(__name__)


def level_for(diamond_units_30d: int) -> CreatorLevel:
    """The highest level whose threshold the trailing earnings reach."""
    whole = whole_diamonds_from_units(diamond_units_30d)
    level = (
        CreatorLevel.objects.filter(min_diamonds_30d__lte=whole)
        .order_by("-min_diamonds_30d")
        .first()
    )
    return level or CreatorLevel.objects.order_by("number").first()


def creator_levels_recompute(*, now: datetime.datetime | None = None) -> int:
    """Move each unpinned creator to the level their last 30 days earn; count moves."""
    now = now or timezone.now()
    since = now - datetime.timedelta(days=30)
    earnings = dict(
        GiftSend.objects.filter(created_at__gte=since)
        .values("creator")
        .annotate(total=Sum("creator_diamond_units"))
        .values_list("creator", "total")
    )
    moved = 0
    for creator in CreatorProfile.objects.filter(level_pinned=False).select_related(
        "level"
    ):
        earned_units = earnings.get(creator.id, 0)
        target = level_for(earned_units)
        if target.id == creator.level_id:
            continue
        with transaction.atomic():
            # Only if finance did not pin or move the creator since the read above.
            changed = CreatorProfile.objects.filter(
                id=creator.id, level_pinned=False, level_id=creator.level_id
            ).update(level=target)
            if not changed:
                continue
            LevelChange.objects.create(
                creator=creator,
                from_level=creator.level,
                to_level=target,
                diamonds_30d=whole_diamonds_from_units(earned_units),
                reason="Daily recomputation",
                changed_at=now,
            )
        moved += 1
    logger.info("Level recomputation moved %s creator(s)", moved)
    return moved


@transaction.atomic
def creator_level_pin(
    *, creator: CreatorProfile, level: CreatorLevel | None, actor: User, reason: str
) -> CreatorProfile:
    """Pin a creator to a level (the recomputation leaves them), or unpin with None."""
    if not reason.strip():
        raise ServiceError("A pin needs a reason.", field="reason")
    creator = CreatorProfile.objects.select_for_update().get(id=creator.id)
    if level is None:
        creator.level_pinned = False
        creator.save(update_fields=["level_pinned"])
        return creator
    LevelChange.objects.create(
        creator=creator,
        from_level=creator.level,
        to_level=level,
        reason=f"Pinned by finance: {reason.strip()}",
        changed_by=actor,
    )
    creator.level = level
    creator.level_pinned = True
    creator.save(update_fields=["level", "level_pinned"])
    return creator


@transaction.atomic
def creators_set_suspended(*, creators, suspended: bool, actor: User | None) -> int:
    """Suspend creators (no gifts reach them) or lift it; each change in history."""
    changed = list(creators.select_for_update().exclude(suspended=suspended))
    for creator in changed:
        creator.suspended = suspended
        creator._history_user = actor
        creator.save(update_fields=["suspended"])
    return len(changed)
