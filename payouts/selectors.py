import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from wallets.models import DIAMOND_SCALE
from wallets.selectors import wallet_balances

from .models import CreatorLevel, CreatorProfile, GiftSend, StreamGifter


def stream_leaderboard(*, stream_id: str, limit: int):
    """Top gifters of a stream by coins; a tie goes to who reached the total first."""
    return (
        StreamGifter.objects.filter(stream_id=stream_id)
        .select_related("sender__creator")
        .order_by("-coins", "reached_at", "sender_id")[:limit]
    )


def diamonds(units: int) -> Decimal:
    return Decimal(units) / DIAMOND_SCALE


@dataclass(frozen=True)
class CreatorEarnings:
    diamond_units: int
    level: CreatorLevel
    next_level: CreatorLevel | None
    earned_30d_units: int
    earned_7d_units: int
    earned_today_units: int


def creator_earnings(*, creator: CreatorProfile, now: datetime.datetime | None = None):
    now = now or timezone.now()
    day_start = now.astimezone(datetime.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    sends = GiftSend.objects.filter(creator=creator)

    def earned_since(since):
        total = sends.filter(created_at__gte=since).aggregate(
            total=Sum("creator_diamond_units")
        )["total"]
        return total or 0

    return CreatorEarnings(
        diamond_units=wallet_balances(user=creator.user).diamonds,
        level=creator.level,
        next_level=CreatorLevel.objects.filter(number__gt=creator.level.number)
        .order_by("number")
        .first(),
        earned_30d_units=earned_since(now - datetime.timedelta(days=30)),
        earned_7d_units=earned_since(now - datetime.timedelta(days=7)),
        earned_today_units=earned_since(day_start),
    )


def payout_risk_flags(
    *, payout, earned_30: int, earned_7: int, top_sender_30: int, cooloff_days: int
):
    """What a finance reviewer should look at twice before approving."""
    now = timezone.now()
    flags = []
    if (now - payout.creator.user.date_joined).days < 30:
        flags.append("new creator")
    # A spike: the last week's daily average over twice the month's.
    if earned_30 and earned_7 / 7 > 2 * earned_30 / 30:
        flags.append("earnings spike")
    if earned_30 and top_sender_30 * 2 > earned_30:
        flags.append("most earnings from one sender")
    changed = payout.creator.payout_method_changed_at
    if changed and now - changed < datetime.timedelta(days=cooloff_days):
        flags.append("payout method changed recently")
    return flags


def daily_earnings(*, creator: CreatorProfile, days: int):
    """(day, gifts, diamond units) for each day with gifts, newest first."""
    since = timezone.now() - datetime.timedelta(days=days)
    return list(
        GiftSend.objects.filter(creator=creator, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(gifts=Count("id"), units=Sum("creator_diamond_units"))
        .order_by("-day")
        .values_list("day", "gifts", "units")
    )
