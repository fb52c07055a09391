"""Gifter levels: staff move the thresholds (docs/rankings.md)."""

from django.db import transaction

from core import display
from core.errors import ServiceError

from ..models import GifterLevel


class GifterLevelRefused(ServiceError):
    code = "gifter_level_refused"


def gifter_level_errors(*, level: GifterLevel) -> dict[str, str]:
    """Why `level`'s threshold cannot be saved, by field: level 1 needs 0 coins,
    and each level needs more than the one below it and less than the one above."""
    if level.number == 1:
        if level.coins_needed != 0:
            return {
                "coins_needed": "Level 1 is where everyone starts: it needs 0 coins."
            }
        return {}
    others = GifterLevel.objects.exclude(pk=level.pk)
    below = others.filter(number__lt=level.number).order_by("-number").first()
    above = others.filter(number__gt=level.number).order_by("number").first()
    if below is not None and level.coins_needed <= below.coins_needed:
        return {
            "coins_needed": f"Must be more than level {below.number}'s "
            f"{display.number(below.coins_needed)} coins."
        }
    if above is not None and level.coins_needed >= above.coins_needed:
        return {
            "coins_needed": f"Must be less than level {above.number}'s "
            f"{display.number(above.coins_needed)} coins."
        }
    return {}


def gifter_level_save(*, level: GifterLevel) -> GifterLevel:
    """Save a level's threshold, refused unless thresholds stay strictly rising."""
    with transaction.atomic():
        # Two editors saving neighbouring levels at once could each pass the check
        # against the other's old value: the levels are locked, in number order.
        list(GifterLevel.objects.select_for_update().order_by("number"))
        errors = gifter_level_errors(level=level)
        if errors:
            field, message = next(iter(errors.items()))
            raise GifterLevelRefused(message, field=field)
        level.save()
    return level
