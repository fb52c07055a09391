import datetime
import itertools
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, F, Max, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from accounts.models import User
from catalog.models import Gift, Region
from core import display, prepared, rows
from wallets import ledger
from wallets.models import AccountKind, HomeRegion, LedgerAccount
from wallets.selectors import wallet_balances

from . import leaderboards
from .holds import held_sources, hold_rules, units_by_day
from .models import (
    CreatorLevel,
    CreatorProfile,
    EarningsHold,
    GiftSend,
    HoldRecovery,
    SponsorCampaign,
    SponsorFunding,
    StreamGifter,
)


def creator_of(user) -> CreatorProfile | None:
    """The user's creator profile with its level, or None: they are no creator."""
    return (
        CreatorProfile.objects.select_related("level", "user").filter(user=user).first()
    )


def level_shares_out_of_order(*, changed: list[CreatorLevel]) -> list[str]:
    """Where a higher level would pay a lower share than the level below it, once
    the `changed` levels (edited or new, unsaved) take the place of the stored ones:
    a line naming both levels for each such neighbouring pair with a changed level.

    Not a refusal: finance may mean it (a level being retired), so the admin asks
    to confirm. Empty while shares rise (or stay) with the levels.
    """
    by_id = {level.pk: level for level in CreatorLevel.objects.all()}
    by_id.update({level.pk or id(level): level for level in changed})
    touched = {id(level) for level in changed}
    levels = sorted(by_id.values(), key=lambda level: level.number)
    return [
        f"Level {higher.number} · {higher.name} would pay "
        f"{display.number(higher.share_percent)}%, less than level {lower.number} "
        f"· {lower.name}'s {display.number(lower.share_percent)}%."
        for lower, higher in itertools.pairwise(levels)
        if higher.share_percent < lower.share_percent
        and touched & {id(lower), id(higher)}
    ]


def stream_leaderboard(*, stream_id: str, limit: int) -> "list[NamedPlace]":
    """Top gifters of a stream id across every creator who used it: the deprecated
    board (`creator_leaderboard` keeps creators apart). A tie goes to who reached
    the total first."""
    rows = (
        StreamGifter.objects.filter(stream_id=stream_id)
        .values("sender_id")
        .annotate(total=Sum("coins"), reached=Max("reached_at"))
        .order_by("-total", "reached", "sender_id")[:limit]
    )
    return _named(
        [
            leaderboards.Place(rank, row["sender_id"], row["total"])
            for rank, row in enumerate(rows, start=1)
        ]
    )


@dataclass(frozen=True)
class NamedPlace:
    rank: int
    display_name: str
    coins: int


@dataclass(frozen=True)
class CreatorLeaderboard:
    board: leaderboards.Board
    entries: list[NamedPlace]
    # The viewer's place: None for an anonymous viewer; rank None when they gave
    # nothing on this board.
    me: tuple[int | None, int] | None


def public_name(user) -> str:
    """What others see of a user: a creator's display name, else the public name;
    never the username, half of a login."""
    creator = getattr(user, "creator", None)
    return creator.display_name if creator else user.public_name


def _named(places: list[leaderboards.Place]) -> list[NamedPlace]:
    users = User.objects.select_related("creator").in_bulk(
        [place.sender_id for place in places]
    )
    return [
        NamedPlace(place.rank, public_name(users[place.sender_id]), place.coins)
        for place in places
    ]


def creator_leaderboard(
    *,
    creator_id: int,
    period: str,
    stream_id: str = "",
    limit: int,
    viewer_id: int | None,
    now: datetime.datetime | None = None,
) -> CreatorLeaderboard:
    """A creator's top gifters on a stream or in the UTC period holding `now`, and
    the viewer's own place even when outside the top (docs/rankings.md)."""
    now = now or timezone.now()
    board = leaderboards.board_of(
        creator_id=creator_id, period=period, now=now, stream_id=stream_id
    )
    entries = _named(leaderboards.board_top(board, limit=limit, now=now))
    me = None
    if viewer_id is not None:
        place = leaderboards.board_place(board, sender_id=viewer_id, now=now)
        me = (place.rank, place.coins) if place else (None, 0)
    return CreatorLeaderboard(board, entries, me)


@dataclass(frozen=True)
class CreatorHold:
    """A creator's diamonds still on hold at a moment, and when they free."""

    on_hold_units: int
    # (UTC day, units freeing that day), soonest first.
    frees: list[tuple[datetime.date, int]]

    def available_units(self, *, balance_units: int) -> int:
        """What may be cashed out of `balance_units`, read before this hold: any
        gift it counts is counted here too, so nothing held is ever available."""
        return max(0, balance_units - self.on_hold_units)


def earnings_holds_in_force(now: datetime.datetime | None = None) -> set[int]:
    """The ids of the hold rules in force at `now`: each region's latest started."""
    now = now or timezone.now()
    latest: dict[int | None, int] = {}
    started = EarningsHold.objects.filter(effective_from__lte=now)
    for rule_id, region_id in started.order_by("effective_from", "id").values_list(
        "id", "region_id"
    ):
        latest[region_id] = rule_id
    return set(latest.values())


def creator_hold(
    *, creator: CreatorProfile, now: datetime.datetime | None = None
) -> CreatorHold:
    """The creator's gifts still on hold at `now` (docs/holds.md): their earnings,
    less what store refunds took back from them, by the day they free; with the
    registered sources' earnings (subscription charges) under the same rules.

    One grouped query per hold rule in force over the last days (usually one),
    over the (creator, created_at) index, plus as many over take-backs.
    """
    now = now or timezone.now()
    freeing: dict[datetime.date, int] = {}
    rules = hold_rules()
    for (segment, where), (_, via_gift) in zip(
        rules.held_now(now=now),
        rules.held_now(now=now, prefix="gift_send__"),
        strict=True,
    ):
        later = datetime.timedelta(days=segment.days)
        earned = units_by_day(
            GiftSend.objects.filter(where, creator=creator),
            units="creator_diamond_units",
        )
        taken = units_by_day(
            HoldRecovery.objects.filter(via_gift, gift_send__creator=creator),
            at="gift_send__created_at",
            units="diamond_units",
        )
        for day, units in earned:
            freeing[day + later] = freeing.get(day + later, 0) + int(units)
        for day, units in taken:
            freeing[day + later] -= int(units)
        # Earnings of the apps above (subscription charges) by the same segment.
        for source in held_sources():
            for day, units in source(creator=creator, where=where):
                freeing[day + later] = freeing.get(day + later, 0) + int(units)
    frees = sorted((day, units) for day, units in freeing.items() if units)
    return CreatorHold(on_hold_units=sum(units for _, units in frees), frees=frees)


@dataclass(frozen=True)
class CreatorEarnings:
    diamond_units: int
    level: CreatorLevel
    next_level: CreatorLevel | None
    earned_30d_units: int
    earned_7d_units: int
    earned_today_units: int
    available_units: int
    hold: CreatorHold


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

    # With its pending credits: a payout request folds them in first.
    balance = wallet_balances(user=creator.user).diamond_units
    # Read after the balance: a gift it counts is in it (docs/holds.md).
    hold = creator_hold(creator=creator, now=now)
    return CreatorEarnings(
        diamond_units=balance,
        available_units=hold.available_units(balance_units=balance),
        hold=hold,
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
class GiftFacts:
    """What a gift send reads about its sender, gift and creator before it posts."""

    sender_id: int
    gift_id: int
    creator_id: int
    region_limited: bool
    home_id: int | None
    home_code: str | None
    offered_at_home: bool
    creator_diamonds: LedgerAccount | None
    # PostgreSQL: the gift send's id, drawn now so its legs' keys are known before
    # the one statement that posts them.
    next_id: int | None
    # The gift has a sponsor campaign (running or not): the send takes the sponsored
    # path, which finds out under the campaign's lock whether one pays for it.
    sponsored: bool = False


def _facts_sql() -> tuple[str, str]:
    """The facts' select list and joins, over the aliases `gift` and `creator`; the
    joins take the sender's id. One text for both statements that read them."""
    links = Gift.regions.through._meta.db_table
    next_id = (
        f"nextval(pg_get_serial_sequence('{GiftSend._meta.db_table}', 'id'))"
        if ledger.posts_in_one_statement()
        else "NULL"
    )
    select = f"""
        EXISTS (SELECT 1 FROM {links} l WHERE l.gift_id = gift.id),
        home.region_id,
        home_region.code,
        EXISTS (
            SELECT 1 FROM {links} l
            WHERE l.gift_id = gift.id AND l.region_id = home.region_id
        ),
        (
            SELECT account.id FROM {LedgerAccount._meta.db_table} account
            WHERE account.owner_id = creator.user_id
            AND account.kind = '{AccountKind.DIAMONDS.value}'
        ),
        {next_id},
        EXISTS (
            SELECT 1 FROM {SponsorCampaign._meta.db_table} c WHERE c.gift_id = gift.id
        )
    """
    joins = (
        f"LEFT JOIN {HomeRegion._meta.db_table} home ON home.user_id = %s "
        f"LEFT JOIN {Region._meta.db_table} home_region "
        "ON home_region.id = home.region_id"
    )
    return select, joins


_FACTS_WIDTH = 7


def _facts_from(values, *, sender_id: int, gift_id: int, creator) -> GiftFacts:
    limited, home_id, home_code, offered_at_home, diamonds_id, next_id, sponsored = (
        values
    )
    diamonds = None
    if diamonds_id is not None:
        diamonds = LedgerAccount(
            id=diamonds_id,
            kind=AccountKind.DIAMONDS,
            unit=LedgerAccount.unit_for(AccountKind.DIAMONDS),
            owner_id=creator.user_id,
        )
    return GiftFacts(
        sender_id=sender_id,
        gift_id=gift_id,
        creator_id=creator.id,
        region_limited=limited,
        home_id=home_id,
        home_code=home_code,
        offered_at_home=offered_at_home,
        creator_diamonds=diamonds,
        next_id=next_id,
        sponsored=bool(sponsored),
    )


def gift_facts(
    *, sender_id: int, gift: Gift, creator: CreatorProfile
) -> GiftFacts | None:
    """The facts of a gift send, in one statement (fixed SQL: the ORM took about
    3 ms a gift to compile the same subqueries); None if the gift or the creator
    is gone."""
    select, joins = _facts_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {select} FROM {Gift._meta.db_table} gift "
            f"JOIN {CreatorProfile._meta.db_table} creator ON creator.id = %s "
            f"{joins} WHERE gift.id = %s",
            [creator.id, sender_id, gift.id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return _facts_from(row, sender_id=sender_id, gift_id=gift.id, creator=creator)


@dataclass(frozen=True)
class GiftSendSubjects:
    """What a gift send request names, each None when nothing matches, and the
    send's facts when both gift and creator were found."""

    gift: Gift | None
    creator: CreatorProfile | None
    region: Region | None
    facts: GiftFacts | None


def gift_send_subjects(
    *, sender_id: int, gift_slug: str, creator_id: int, region_code: str | None
) -> GiftSendSubjects:
    """The gift by slug, the creator (with user and level) by id, the active region
    by code and the send's facts (`gift_facts`), in one statement: every gift send
    reads them first."""
    parts = (
        (Gift, "gift", "gift.slug = %s", gift_slug),
        (CreatorProfile, "creator", "creator.id = %s", creator_id),
        (User, "creator_user", "creator_user.id = creator.user_id", None),
        (CreatorLevel, "level", "level.id = creator.level_id", None),
        (Region, "region", "region.code = %s AND region.is_active", region_code),
    )
    facts_select, facts_joins = _facts_sql()
    select = ", ".join(rows.columns(model, alias) for model, alias, _, _ in parts)
    joins = " ".join(
        f"LEFT JOIN {model._meta.db_table} {alias} ON {on}"
        for model, alias, on, _ in parts
    )
    params = [value for _, _, on, value in parts if "%s" in on]
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            f"SELECT {select}, {facts_select} FROM (SELECT 1) one {joins} "
            f"{facts_joins}",
            [*params, sender_id],
        )
        row = cursor.fetchone()
    found, start = {}, 0
    for model, alias, _, _ in parts:
        end = start + rows.width(model)
        found[alias] = rows.instance(model, row[start:end], db=connection.alias)
        start = end
    creator, gift = found["creator"], found["gift"]
    facts = None
    if creator is not None:
        creator.user = found["creator_user"]
        creator.level = found["level"]
        if gift is not None:
            facts = _facts_from(
                row[start : start + _FACTS_WIDTH],
                sender_id=sender_id,
                gift_id=gift.id,
                creator=creator,
            )
    return GiftSendSubjects(
        gift=gift, creator=creator, region=found["region"], facts=facts
    )


def sponsor_campaigns_reported(queryset=None):
    """Campaigns with their report: `gifts` and `senders` it paid for,
    `coins_subsidized`, `coins_funded` (confirmed fundings) and `budget_left`
    (its budget's balance), in one query however many campaigns."""
    queryset = SponsorCampaign.objects.all() if queryset is None else queryset
    funded = (
        SponsorFunding.objects.filter(
            campaign=OuterRef("pk"), status=SponsorFunding.Status.APPROVED
        )
        .order_by()
        .values("campaign")
        .annotate(total=Sum("coins"))
        .values("total")[:1]
    )
    return queryset.select_related("gift", "budget").annotate(
        gifts=Count("gift_sends"),
        senders=Count("gift_sends__sender", distinct=True),
        coins_subsidized=Coalesce(Sum("gift_sends__subsidy_coins"), 0),
        coins_funded=Coalesce(Subquery(funded), 0),
        budget_left=F("budget__balance"),
    )
