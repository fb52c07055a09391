"""Gifter levels (1 to 50): a user's level is read from the coins they have gifted
under the thresholds staff set (docs/rankings.md); nothing stores a level."""

import bisect
from dataclasses import dataclass

from .models import GifterLevel, GifterTotal


@dataclass(frozen=True)
class GifterStanding:
    """Where a user stands: their level, what they gifted, what the next needs."""

    level: int
    coins_gifted: int
    level_coins: int
    next_level: int | None
    next_level_coins: int | None

    @property
    def coins_to_next_level(self) -> int | None:
        if self.next_level_coins is None:
            return None
        return self.next_level_coins - self.coins_gifted

    @property
    def progress_percent(self) -> int:
        """Percent of the way from this level's threshold to the next, rounded
        down (100 at the top level)."""
        if self.next_level_coins is None:
            return 100
        span = self.next_level_coins - self.level_coins
        return (self.coins_gifted - self.level_coins) * 100 // span


def gifter_standing_for(
    *, coins_gifted: int, thresholds: list[tuple[int, int]]
) -> GifterStanding:
    """The standing of `coins_gifted` under `thresholds`, (number, coins needed)
    pairs rising with the number, the first needing 0: the highest level reached."""
    needs = [coins for _, coins in thresholds]
    at = bisect.bisect_right(needs, coins_gifted) - 1
    number, level_coins = thresholds[at]
    following = thresholds[at + 1] if at + 1 < len(thresholds) else (None, None)
    return GifterStanding(number, coins_gifted, level_coins, *following)


def gifter_thresholds() -> list[tuple[int, int]]:
    return list(
        GifterLevel.objects.order_by("number").values_list("number", "coins_needed")
    )


def gifter_standing(*, user_id: int) -> GifterStanding:
    """A user's gifter level from their coins gifted, by the thresholds now."""
    total = GifterTotal.objects.filter(user_id=user_id).values_list("coins", flat=True)
    return gifter_standing_for(
        coins_gifted=total.first() or 0, thresholds=gifter_thresholds()
    )
