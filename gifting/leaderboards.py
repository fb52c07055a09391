"""Leaderboards: a creator's top gifters per stream and per UTC period
(docs/rankings.md).

The database holds the truth: a stream's board and the creator's all-time board are
`StreamGifter` rows (one upsert statement per gift, as before; one more row), a
day's, week's or month's board is the creator's gift sends summed on read.
When a Redis cache server is configured, each board is also a sorted set, added to
after the gift commits and rebuilt from the database when missing; Redis is a
cache, so while it is down boards are read from the database and gifts still send.
"""

import calendar
import datetime
import functools
import hashlib
import logging
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import models
from django.db.models import F, Max, Q, Sum

from .models import GiftSend, StreamGifter

logger = logging.getLogger(__name__)

# `StreamGifter`'s row for no stream: the creator's all-time board.
ALL_TIME = ""


class Period(models.TextChoices):
    STREAM = "stream", "This stream"
    DAY = "day", "Today (UTC)"
    WEEK = "week", "This ISO week (from Monday, UTC)"
    MONTH = "month", "This month (UTC)"
    ALL = "all", "All time"


@dataclass(frozen=True)
class Board:
    """One leaderboard: a creator's, for a stream or a period containing a moment."""

    creator_id: int
    period: str
    stream_id: str = ""
    # UTC; both None for all time and for a stream.
    starts_at: datetime.datetime | None = None
    ends_at: datetime.datetime | None = None

    @property
    def key(self) -> str:
        if self.period == Period.STREAM:
            # Hashed: a stream id is the client's text, and one holding `:` must
            # not name another key (`stream:s1:reached`).
            digest = hashlib.sha1(self.stream_id.encode(), usedforsecurity=False)
            which = f"stream:{digest.hexdigest()[:16]}"
        elif self.period == Period.ALL:
            which = "all"
        else:
            which = f"{self.period}:{self.starts_at:%Y%m%d}"
        return f"leaderboard:{self.creator_id}:{which}"


@dataclass(frozen=True)
class Place:
    rank: int
    sender_id: int
    coins: int


def board_of(
    *, creator_id: int, period: str, now: datetime.datetime, stream_id: str = ""
) -> Board:
    """The board of `period` that holds `now` (UTC days, ISO weeks from Monday)."""
    if period == Period.STREAM:
        return Board(creator_id, period, stream_id=stream_id)
    if period == Period.ALL:
        return Board(creator_id, period)
    day = now.astimezone(datetime.UTC).date()
    if period == Period.DAY:
        start, days = day, 1
    elif period == Period.WEEK:
        start, days = day - datetime.timedelta(days=day.weekday()), 7
    elif period == Period.MONTH:
        start = day.replace(day=1)
        days = calendar.monthrange(day.year, day.month)[1]
    else:
        raise ValueError(f"No such period: {period}")
    starts_at = datetime.datetime.combine(start, datetime.time(), datetime.UTC)
    return Board(
        creator_id,
        period,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(days=days),
    )


def boards_of_gift(
    *, creator_id: int, stream_id: str, now: datetime.datetime
) -> list[Board]:
    """Every board a gift sent at `now` counts on."""
    periods = [Period.DAY, Period.WEEK, Period.MONTH, Period.ALL]
    boards = [board_of(creator_id=creator_id, period=p, now=now) for p in periods]
    if stream_id:
        boards.append(
            board_of(
                creator_id=creator_id,
                period=Period.STREAM,
                now=now,
                stream_id=stream_id,
            )
        )
    return boards


# Database: the truth.


def _db_totals(board: Board):
    """(sender_id, coins, reached_at) rows of the board, best first: more coins,
    then who reached their total first, then the lower id."""
    if board.period in (Period.STREAM, Period.ALL):
        rows = StreamGifter.objects.filter(
            creator_id=board.creator_id,
            stream_id=board.stream_id if board.period == Period.STREAM else ALL_TIME,
        ).values("sender_id", "coins", "reached_at")
    else:
        sends = GiftSend.objects.filter(creator_id=board.creator_id)
        if board.starts_at is not None:
            sends = sends.filter(
                created_at__gte=board.starts_at, created_at__lt=board.ends_at
            )
        # A sender ranks by the coins they gave: a sponsor's subsidy is not theirs.
        rows = (
            sends.values("sender_id")
            .annotate(
                coins=Sum(F("coins") - F("subsidy_coins")), reached_at=Max("created_at")
            )
            .filter(coins__gt=0)
        )
    return rows.order_by("-coins", "reached_at", "sender_id")


def _db_top(board: Board, limit: int) -> list[Place]:
    return [
        Place(rank, row["sender_id"], row["coins"])
        for rank, row in enumerate(_db_totals(board)[:limit], start=1)
    ]


def _db_place(board: Board, sender_id: int) -> Place | None:
    totals = _db_totals(board)
    mine = totals.filter(sender_id=sender_id).first()
    if mine is None:
        return None
    coins, reached = mine["coins"], mine["reached_at"]
    ahead = totals.filter(
        Q(coins__gt=coins)
        | Q(coins=coins, reached_at__lt=reached)
        | Q(coins=coins, reached_at=reached, sender_id__lt=sender_id)
    ).count()
    return Place(ahead + 1, sender_id, coins)


# Redis: a cache of the boards.

# A board's sorted set scores coins; its hash keeps when each sender reached their
# total (microseconds), which breaks ties; its marker says it was built from the
# database and holds the build's watermark: the highest gift send id committed
# when the build had read the database. A gift at or below the watermark is in
# the build already and is not added again. Every key of a board lives until its
# period is over and a day more (a week for a stream and all time), so a board
# Redis got wrong heals by then; the add sets that expiry itself, so no key it
# writes lives forever.
# KEYS: per board, its set, hash and marker; ARGV: sender, coins, reached, gift
# send id, then each board's seconds to keep.
_ADD = """
for i = 1, #KEYS, 3 do
  local built = redis.call('GET', KEYS[i + 2])
  if built and tonumber(ARGV[4]) > (tonumber(built) or 0) then
    local keep = ARGV[4 + (i + 2) / 3]
    redis.call('ZINCRBY', KEYS[i], ARGV[2], ARGV[1])
    local old = redis.call('HGET', KEYS[i + 1], ARGV[1])
    if (not old) or tonumber(old) < tonumber(ARGV[3]) then
      redis.call('HSET', KEYS[i + 1], ARGV[1], ARGV[3])
    end
    redis.call('EXPIRE', KEYS[i], keep)
    redis.call('EXPIRE', KEYS[i + 1], keep)
  end
end
"""

# A read fetches at most this many members tied at a cut-off; past it the board is
# read from the database (exact, and each tied member gave real coins).
TIES_READ_AT_MOST = 1000


class _TooManyTies(Exception):
    pass


_KEEP_OPEN_ENDED = datetime.timedelta(days=7)


def redis_client():
    """The cache server's client, or None when no Redis cache is configured."""
    cache = settings.CACHES["default"]
    if not cache["BACKEND"].endswith("RedisCache"):
        return None
    location = cache["LOCATION"]
    first = location[0] if isinstance(location, list | tuple) else location
    return _client_for(first.split(",")[0])


@functools.cache
def _client_for(url: str):
    # Short timeouts: a gift's request waits on Redis after its commit, and a
    # board read falls back to the database; a hung Redis must not hold either.
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def _micros(moment: datetime.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _keys(board: Board) -> tuple[str, str, str]:
    return board.key, f"{board.key}:reached", f"{board.key}:built"


def _seconds_to_keep(board: Board, now: datetime.datetime) -> int:
    if board.ends_at is None:
        return int(_KEEP_OPEN_ENDED.total_seconds())
    return max(60, int((board.ends_at - now).total_seconds()) + 86_400)


def redis_add(
    *,
    gift_send_id: int,
    creator_id: int,
    stream_id: str,
    sender_id: int,
    coins: int,
    now: datetime.datetime,
) -> None:
    """Count a committed gift on its boards in Redis; boards not built yet are left
    to be built from the database, which holds the gift. Never raises: a gift is
    sent whether or not its boards' cache could be told."""
    client = redis_client()
    if client is None or coins <= 0:
        return
    boards = boards_of_gift(creator_id=creator_id, stream_id=stream_id, now=now)
    keys = [key for board in boards for key in _keys(board)]
    keeps = [_seconds_to_keep(board, now) for board in boards]
    try:
        client.eval(
            _ADD, len(keys), *keys, sender_id, coins, _micros(now), gift_send_id, *keeps
        )
    except Exception:
        # It heals when the board expires, or at once by `leaderboards_forget`.
        logger.warning("leaderboard_cache_add_failed", exc_info=True)


def _redis_build(client, board: Board, now: datetime.datetime) -> None:
    """The board from the database into Redis; nothing is written for a board
    the database has no rows for (reads of made-up streams must not grow Redis)."""
    rows = list(_db_totals(board).values_list("sender_id", "coins", "reached_at"))
    if not rows:
        return
    # Read after the rows: every gift in them is at or below it. A gift committing
    # between the two reads (or holding a lower id but committing later) is below
    # it without being in the rows: missed until the board expires or is forgotten
    # (docs/rankings.md), never counted twice.
    watermark = GiftSend.objects.order_by("-id").values_list("id", flat=True).first()
    board_key, reached_key, built_key = _keys(board)
    keep = _seconds_to_keep(board, now)
    pipe = client.pipeline(transaction=True)
    pipe.delete(board_key, reached_key)
    pipe.zadd(board_key, {sender: coins for sender, coins, _ in rows})
    pipe.hset(reached_key, mapping={s: _micros(r) for s, _, r in rows})
    pipe.expire(board_key, keep)
    pipe.expire(reached_key, keep)
    pipe.set(built_key, watermark or 0, ex=keep)
    pipe.execute()


def _tied(client, key: str, score) -> list:
    """Every member scoring `score`, or _TooManyTies past TIES_READ_AT_MOST."""
    tied = client.zrangebyscore(
        key, score, score, start=0, num=TIES_READ_AT_MOST + 1, withscores=True
    )
    if len(tied) > TIES_READ_AT_MOST:
        raise _TooManyTies(key)
    return tied


def _redis_order(client, board: Board, scored: list[tuple[bytes, float]]):
    """Scored members in board order: ties by when each reached its total."""
    if not scored:
        return []
    reached = client.hmget(_keys(board)[1], [member for member, _ in scored])
    return sorted(
        (
            (-int(score), int(at or 0), int(member))
            for (member, score), at in zip(scored, reached, strict=True)
        )
    )


def _redis_top(client, board: Board, limit: int) -> list[Place]:
    board_key = board.key
    top = client.zrevrange(board_key, 0, limit - 1, withscores=True)
    if len(top) == limit:
        # Who ties with the last place may rank above a member Redis listed.
        last = top[-1][1]
        tied = _tied(client, board_key, last)
        top = [(m, s) for m, s in top if s > last] + tied
    ordered = _redis_order(client, board, top)[:limit]
    return [
        Place(rank, sender, -coins)
        for rank, (coins, _, sender) in enumerate(ordered, start=1)
    ]


def _redis_place(client, board: Board, sender_id: int) -> Place | None:
    score = client.zscore(board.key, sender_id)
    if score is None:
        return None
    above = client.zcount(board.key, f"({score}", "+inf")
    tied = _tied(client, board.key, score)
    ordered = _redis_order(client, board, tied)
    ahead = next(i for i, (_, _, s) in enumerate(ordered) if s == sender_id)
    return Place(above + ahead + 1, sender_id, int(score))


def _from_redis(board: Board, now: datetime.datetime, read):
    """`read(client)` on the board in Redis (built first when missing), or None
    when there is no Redis or it fails: the caller reads the database."""
    client = redis_client()
    if client is None:
        return None
    try:
        if not client.exists(_keys(board)[2]):
            _redis_build(client, board, now)
        return (read(client),)
    except _TooManyTies:
        return None
    except Exception:
        logger.warning("leaderboard_cache_read_failed", exc_info=True)
        return None


def board_top(board: Board, *, limit: int, now: datetime.datetime) -> list[Place]:
    cached = _from_redis(board, now, lambda client: _redis_top(client, board, limit))
    return cached[0] if cached else _db_top(board, limit)


def board_place(
    board: Board, *, sender_id: int, now: datetime.datetime
) -> Place | None:
    """The sender's place on the board, or None when they gave nothing there."""
    cached = _from_redis(
        board, now, lambda client: _redis_place(client, board, sender_id)
    )
    return cached[0] if cached else _db_place(board, sender_id)


def boards_forget(*, creator_id: int | None = None) -> int:
    """Drop the boards (of one creator, or all) from Redis: each is rebuilt from
    the database when next read. The number of keys dropped."""
    client = redis_client()
    if client is None:
        return 0
    pattern = f"leaderboard:{creator_id if creator_id else '*'}:*"
    dropped = 0
    for key in client.scan_iter(match=pattern, count=1000):
        dropped += client.delete(key)
    return dropped
