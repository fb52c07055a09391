"""The earnings hold's rules as time segments: which hold applies to a gift sent
from a region at a moment. The one place that rule lives: the on-hold query
(`selectors.creator_hold`) and the store refund's take-back
(`services.holds.hold_take_back`) both read these segments.

A gift sent from region R at time t is held for the days of R's own rule in force at
t; with none, of the global rule in force at t; with none either, for
`settings.EARNINGS_HOLD_DAYS` (7 by default). A gift sent while no region was known
goes by the global rule.
"""

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, Sum
from django.db.models.functions import TruncDate

from .models import EarningsHold

_START = datetime.datetime.min.replace(tzinfo=datetime.UTC)
_END = datetime.datetime.max.replace(tzinfo=datetime.UTC)


@dataclass(frozen=True)
class HoldSegment:
    """Gifts from `region_id` (None: any region without rules of its own, or
    none) sent in [starts, ends) are held `days` days."""

    region_id: int | None
    starts: datetime.datetime
    ends: datetime.datetime
    days: int

    def covers(self, *, region_id: int | None, sent_at: datetime.datetime) -> bool:
        return self.region_id == region_id and self.starts <= sent_at < self.ends

    def query(self, *, own_regions: frozenset[int], prefix: str = "") -> Q:
        """The gifts this segment covers, as a filter (on GiftSend, or through
        `prefix`, e.g. "gift_send__")."""
        region = f"{prefix}sender_region_id"
        if self.region_id is None:
            where = Q()
            if own_regions:
                where = Q(**{f"{region}__isnull": True}) | ~Q(
                    **{f"{region}__in": own_regions}
                )
        else:
            where = Q(**{region: self.region_id})
        sent = f"{prefix}created_at"
        if self.starts > _START:
            where &= Q(**{f"{sent}__gte": self.starts})
        if self.ends < _END:
            where &= Q(**{f"{sent}__lt": self.ends})
        return where


@dataclass(frozen=True)
class HoldRules:
    segments: tuple[HoldSegment, ...]
    own_regions: frozenset[int]

    def days_for(self, *, region_id: int | None, sent_at: datetime.datetime) -> int:
        region = region_id if region_id in self.own_regions else None
        for segment in self.segments:
            if segment.covers(region_id=region, sent_at=sent_at):
                return segment.days
        raise AssertionError("The segments cover all time.")

    def held_now(self, *, now: datetime.datetime, prefix: str = "") -> list[tuple]:
        """[(segment, filter of its gifts still on hold at `now`)]: the segments
        with days, each cut to gifts sent after `now` minus its days."""
        held = []
        for segment in self.segments:
            if not segment.days:
                continue
            cut = now - datetime.timedelta(days=segment.days)
            if segment.ends <= cut:
                continue
            where = segment.query(own_regions=self.own_regions, prefix=prefix)
            held.append((segment, where & Q(**{f"{prefix}created_at__gt": cut})))
        return held


# Earnings of apps above gifting that the hold covers as it covers gifts (a
# subscription's charges): gifting may not import them, so each registers a source
# from its `AppConfig.ready()`. A source is called as `source(creator=, where=)`,
# `where` a segment's filter on `sender_region_id` and `created_at` (its rows stamp
# both as a gift send does), and returns [(UTC day earned, units)] of the creator's
# earnings it covers, less anything a store refund took back from them.
HeldSource = Callable[..., Iterable[tuple[datetime.date, int]]]
_held_sources: list[HeldSource] = []


def units_by_day(rows, *, at: str = "created_at", units: str) -> Iterable[tuple]:
    """[(UTC day of `at`, sum of `units`)] of `rows` (a queryset), one grouped
    query: how the hold counts what each day's earnings hold."""
    return (
        rows.annotate(day=TruncDate(at, tzinfo=datetime.UTC))
        .values("day")
        .annotate(units=Sum(units))
        .order_by()
        .values_list("day", "units")
    )


def held_source_register(source: HeldSource) -> None:
    """Put another source of earnings under the hold; once."""
    if source not in _held_sources:
        _held_sources.append(source)


def held_sources() -> tuple[HeldSource, ...]:
    return tuple(_held_sources)


@dataclass(frozen=True)
class HeldSpend:
    """Paid coins of a refunded purchase that earned a creator diamonds still on
    hold: what a store refund may take back from one earning."""

    # In the take-back's idempotency key, `purchase:<id>:hold:<key>`; unique per
    # purchase across every source (a gift's id; `charge:<id>`).
    key: str
    creator_user_id: int
    earned_at: datetime.datetime
    coins: int
    # The creator's units for those coins, at most what is left of the earning.
    units: int
    # The creator's units per coin the earning stamped: take-backs are whole coins.
    per_coin: int
    # The source's own row, handed back to it to record what was taken.
    row: object


@dataclass(frozen=True)
class HeldSpends:
    """A source's answer for a refunded purchase: how many of its spent paid
    coins the source knows it spent (`matched`, on hold or not), and those of its
    earnings still on hold."""

    matched: int
    on_hold: list[HeldSpend]


@dataclass(frozen=True)
class TakeBackSource:
    """A source of earnings above gifting a store refund takes back from.

    `spends(purchase=, rules=, now=) -> HeldSpends` and
    `recorded(purchase=, taken=[(spend, coins, units, transfer)], now=)`, called
    inside the refund's transaction (its locks held, the creators locked)."""

    spends: Callable[..., HeldSpends]
    recorded: Callable[..., None]


_take_back_sources: list[TakeBackSource] = []


def take_back_source_register(source: TakeBackSource) -> None:
    """Let store refunds take back from another source's held earnings; once."""
    if source not in _take_back_sources:
        _take_back_sources.append(source)


def take_back_sources() -> tuple[TakeBackSource, ...]:
    return tuple(_take_back_sources)


def _timeline(rules, *, starts, ends, before: int) -> list[tuple]:
    """[(starts, ends, days)] over [starts, ends): `before` until the first rule,
    then each rule until the next."""
    points, days = [starts], [before]
    for rule in rules:
        if rule.effective_from <= points[-1]:
            days[-1] = rule.days
        elif rule.effective_from < ends:
            points.append(rule.effective_from)
            days.append(rule.days)
    points.append(ends)
    return [(points[i], points[i + 1], days[i]) for i in range(len(days))]


def hold_rules() -> HoldRules:
    """Every rule finance has set, as segments (a handful of rows: read whole)."""
    rules = list(EarningsHold.objects.order_by("effective_from", "id"))
    global_rules = [rule for rule in rules if rule.region_id is None]
    own_regions = frozenset(rule.region_id for rule in rules if rule.region_id)
    default = settings.EARNINGS_HOLD_DAYS
    global_line = _timeline(global_rules, starts=_START, ends=_END, before=default)
    segments = [HoldSegment(None, *part) for part in global_line]
    for region_id in sorted(own_regions):
        own = [rule for rule in rules if rule.region_id == region_id]
        first = own[0].effective_from
        # Before its first rule the region goes by the global line.
        for starts, ends, days in global_line:
            if starts < first:
                segments.append(HoldSegment(region_id, starts, min(ends, first), days))
        for part in _timeline(own, starts=first, ends=_END, before=own[0].days):
            segments.append(HoldSegment(region_id, *part))
    return HoldRules(segments=tuple(segments), own_regions=own_regions)
