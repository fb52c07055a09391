import datetime
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from catalog.models import Gift, Region
from core import rows
from wallets.selectors import wallet_balances

from .models import CreatorLevel, CreatorProfile, GiftSend, StreamGifter


def creator_of(user) -> CreatorProfile | None:
    """The user's creator profile with its level, or None: they are no creator."""
    return (
        CreatorProfile.objects.select_related("level", "user").filter(user=user).first()
    )


def stream_leaderboard(*, stream_id: str, limit: int):
    """Top gifters of a stream by coins; a tie goes to who reached the total first."""
    return (
        StreamGifter.objects.filter(stream_id=stream_id)
        .select_related("sender__creator")
        .order_by("-coins", "reached_at", "sender_id")[:limit]
    )


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
        diamond_units=wallet_balances(user=creator.user).diamond_units,
        level=creator.level,
        next_level=CreatorLevel.objects.filter(number__gt=creator.level.number)
        .order_by("number")
        .first(),
        earned_30d_units=earned_since(now - datetime.timedelta(days=30)),
        earned_7d_units=earned_since(now - datetime.timedelta(days=7)),
        earned_today_units=earned_since(day_start),
    )


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


# For the creators of a page at once: earnings in 30 and in 7 days, and the most
# one sender gave in 30 days (per-row subqueries cost a page seconds).
_EARNINGS_BY_SENDER_SQL = """
SELECT creator_id, SUM(total), SUM(total_7), MAX(total)
FROM (
    SELECT creator_id, sender_id, SUM(creator_diamond_units) AS total,
        SUM(CASE WHEN created_at >= %s THEN creator_diamond_units ELSE 0 END)
            AS total_7
    FROM {table}
    WHERE creator_id IN ({creators}) AND created_at >= %s
    GROUP BY creator_id, sender_id
) per_sender
GROUP BY creator_id
"""


def creators_recent_earnings(
    *, creator_ids, now: datetime.datetime
) -> dict[int, tuple[int, int, int]]:
    """{creator id: (units earned in 30 days, in 7 days, most from one sender in 30)}
    for creators with gifts in 30 days, in one query however many creators."""
    creator_ids = sorted(set(creator_ids))
    if not creator_ids:
        return {}
    sql = _EARNINGS_BY_SENDER_SQL.format(
        table=GiftSend._meta.db_table, creators=", ".join(["%s"] * len(creator_ids))
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [now - datetime.timedelta(days=7), *creator_ids]
            + [now - datetime.timedelta(days=30)],
        )
        return {
            row[0]: (row[1] or 0, row[2] or 0, row[3] or 0) for row in cursor.fetchall()
        }


@dataclass(frozen=True)
class GiftSendSubjects:
    """What a gift send request names, each None when nothing matches."""

    gift: Gift | None
    creator: CreatorProfile | None
    region: Region | None


def gift_send_subjects(
    *, gift_slug: str, creator_id: int, region_code: str | None
) -> GiftSendSubjects:
    """The gift by slug, the creator (with user and level) by id and the active
    region by code, in one statement: every gift send reads them first."""
    parts = (
        (Gift, "gift", "gift.slug = %s", gift_slug),
        (CreatorProfile, "creator", "creator.id = %s", creator_id),
        (User, "creator_user", "creator_user.id = creator.user_id", None),
        (CreatorLevel, "level", "level.id = creator.level_id", None),
        (Region, "region", "region.code = %s AND region.is_active", region_code),
    )
    select = ", ".join(rows.columns(model, alias) for model, alias, _, _ in parts)
    joins = " ".join(
        f"LEFT JOIN {model._meta.db_table} {alias} ON {on}"
        for model, alias, on, _ in parts
    )
    params = [value for _, _, on, value in parts if "%s" in on]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select} FROM (SELECT 1) one {joins}", params)
        row = cursor.fetchone()
    found, start = {}, 0
    for model, alias, _, _ in parts:
        end = start + rows.width(model)
        found[alias] = rows.instance(model, row[start:end], db=connection.alias)
        start = end
    creator = found["creator"]
    if creator is not None:
        creator.user = found["creator_user"]
        creator.level = found["level"]
    return GiftSendSubjects(gift=found["gift"], creator=creator, region=found["region"])
