"""Leaderboards per creator, stream and UTC period, from the database and from
Redis (when a cache server answers), which must always agree."""

import datetime
import os
import threading
from collections import defaultdict

import pytest
import redis
from django.db import connection, connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.models import Gift
from gifting import leaderboards, services
from gifting.gifter_levels import gifter_standing
from gifting.leaderboards import Period
from gifting.models import GifterTotal, StreamGifter
from gifting.selectors import creator_leaderboard, stream_leaderboard

from .factories import creator_create, funded_sender, rose

pytestmark = pytest.mark.django_db

# Per pytest-xdist worker (tests/xdist_worker_env.py), as CACHE_URL is.
REDIS_URL = os.environ.get("CACHE_URL") or os.environ["TEST_REDIS_URL"]
# A port nothing listens on: Redis is down.
REDIS_DOWN = "redis://127.0.0.1:1/0"
MONDAY = datetime.datetime(2030, 1, 7, tzinfo=datetime.UTC)  # an ISO week's start


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _use_cache(settings, location):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
        }
    }


@pytest.fixture
def no_redis(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }


@pytest.fixture
def with_redis(settings):
    if not _redis_answers():
        pytest.skip(f"No Redis server answers at {REDIS_URL}.")
    _use_cache(settings, REDIS_URL)
    # Ids repeat between tests rolled back: no board of an earlier test stays.
    leaderboards.boards_forget()
    yield
    leaderboards.boards_forget()


def send(sender, creator, *, quantity, at, stream_id="s1", key=None, gift=None):
    return services.gift_send(
        sender=sender,
        creator=creator,
        gift=gift or Gift.objects.filter(slug="rose").first() or rose(),
        quantity=quantity,
        placement="live",
        stream_id=stream_id,
        region=None,
        idempotency_key=key or f"{sender.id}-{at.isoformat()}-{quantity}",
        now=at,
    )


def board(creator, period, *, at, stream_id="", limit=10, viewer=None):
    return creator_leaderboard(
        creator_id=creator.id,
        period=period,
        stream_id=stream_id,
        limit=limit,
        viewer_id=viewer.id if viewer else None,
        now=at,
    )


def coins_of(result):
    return [(entry.display_name, entry.coins) for entry in result.entries]


@pytest.fixture(params=["database", "redis"])
def backend(request):
    request.getfixturevalue("no_redis" if request.param == "database" else "with_redis")
    return request.param


def test_two_creators_using_one_stream_id_have_boards_of_their_own(
    backend, django_capture_on_commit_callbacks
):
    mia, leo = creator_create(display_name="Mia"), creator_create(display_name="Leo")
    ann, bob = funded_sender(100), funded_sender(100)
    with django_capture_on_commit_callbacks(execute=True):
        send(ann, mia, quantity=5, at=MONDAY)
        send(bob, leo, quantity=7, at=MONDAY)

    on_mia = board(mia, Period.STREAM, at=MONDAY, stream_id="s1")
    on_leo = board(leo, Period.STREAM, at=MONDAY, stream_id="s1")

    assert coins_of(on_mia) == [(ann.public_name, 5)]
    assert coins_of(on_leo) == [(bob.public_name, 7)]
    assert StreamGifter.objects.filter(stream_id="s1").count() == 2
    # The deprecated board by stream id alone still answers as it did.
    assert [
        (e.display_name, e.coins) for e in stream_leaderboard(stream_id="s1", limit=10)
    ] == [(bob.public_name, 7), (ann.public_name, 5)]


def test_ties_go_to_who_reached_the_total_first_on_every_board(
    backend, django_capture_on_commit_callbacks
):
    creator = creator_create()
    a, b, c = funded_sender(100), funded_sender(100), funded_sender(100)
    minute = datetime.timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        for sender, quantity, minutes in [(a, 5, 1), (b, 5, 2), (c, 3, 0), (c, 4, 3)]:
            send(sender, creator, quantity=quantity, at=MONDAY + minutes * minute)

    for period in Period.values:
        stream = "s1" if period == Period.STREAM else ""
        result = board(creator, period, at=MONDAY, stream_id=stream)
        assert coins_of(result) == [
            (c.public_name, 7),
            (a.public_name, 5),
            (b.public_name, 5),
        ], period
        assert [e.rank for e in result.entries] == [1, 2, 3]
        # The place cut off at the top's end goes to the earlier of a tie too.
        top_two = board(creator, period, at=MONDAY, stream_id=stream, limit=2)
        assert coins_of(top_two) == [(c.public_name, 7), (a.public_name, 5)]


def test_an_older_gift_committing_later_keeps_the_senders_latest_reach(
    backend, django_capture_on_commit_callbacks
):
    creator = creator_create()
    early, late = funded_sender(100), funded_sender(100)
    minute = datetime.timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        # `late` reaches 5 at minute 3, then a slow request of minute 0 commits.
        send(late, creator, quantity=4, at=MONDAY + 3 * minute)
        send(early, creator, quantity=5, at=MONDAY + 2 * minute)
        send(late, creator, quantity=1, at=MONDAY)

    assert set(
        StreamGifter.objects.filter(sender=late).values_list("reached_at", flat=True)
    ) == {MONDAY + 3 * minute}
    on_every_board = [(early.public_name, 5), (late.public_name, 5)]
    assert {
        period: coins_of(
            board(creator, period, at=MONDAY, stream_id="s1" * (period == "stream"))
        )
        for period in Period.values
    } == dict.fromkeys(Period.values, on_every_board)


def test_periods_are_utc_days_iso_weeks_from_monday_and_months(
    backend, django_capture_on_commit_callbacks
):
    creator = creator_create()
    late_sunday, early_monday = funded_sender(100), funded_sender(100)
    with django_capture_on_commit_callbacks(execute=True):
        # Sunday 6 January 23:59:59 UTC: last week, and still January's.
        send(
            late_sunday, creator, quantity=9, at=MONDAY - datetime.timedelta(seconds=1)
        )
        send(early_monday, creator, quantity=2, at=MONDAY)

    def who(period, at):
        return [name for name, _ in coins_of(board(creator, period, at=at))]

    assert who(Period.DAY, MONDAY) == [early_monday.public_name]
    assert who(Period.WEEK, MONDAY) == [early_monday.public_name]
    assert who(Period.WEEK, MONDAY - datetime.timedelta(days=1)) == [
        late_sunday.public_name
    ]
    assert who(Period.MONTH, MONDAY) == [
        late_sunday.public_name,
        early_monday.public_name,
    ]
    assert who(Period.MONTH, MONDAY + datetime.timedelta(days=25)) == []
    assert who(Period.ALL, MONDAY + datetime.timedelta(days=400)) == [
        late_sunday.public_name,
        early_monday.public_name,
    ]
    week = leaderboards.board_of(creator_id=1, period=Period.WEEK, now=MONDAY)
    assert (week.starts_at, week.ends_at) == (
        MONDAY,
        MONDAY + datetime.timedelta(days=7),
    )


def test_the_viewer_sees_their_own_place_outside_the_top(
    backend, django_capture_on_commit_callbacks
):
    creator = creator_create()
    senders = [funded_sender(100) for _ in range(4)]
    with django_capture_on_commit_callbacks(execute=True):
        for n, sender in enumerate(senders):
            send(sender, creator, quantity=10 - n, at=MONDAY)
    last, stranger = senders[-1], funded_sender(10)

    mine = board(creator, Period.ALL, at=MONDAY, limit=2, viewer=last)
    theirs = board(creator, Period.ALL, at=MONDAY, limit=2, viewer=stranger)
    nobody = board(creator, Period.ALL, at=MONDAY, limit=2)

    assert len(mine.entries) == 2
    assert mine.me == (4, 7)
    assert theirs.me == (None, 0)
    assert nobody.me is None


def test_a_rolled_back_gift_never_ranks(with_redis, django_capture_on_commit_callbacks):
    creator, sender, first = creator_create(), funded_sender(100), funded_sender(10)
    with django_capture_on_commit_callbacks(execute=True):
        send(first, creator, quantity=1, at=MONDAY)
    built = [(first.public_name, 1)]
    assert coins_of(board(creator, Period.ALL, at=MONDAY)) == built
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            send(sender, creator, quantity=5, at=MONDAY)
            raise RuntimeError("the request failed after the send")
    assert callbacks == []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(leaderboards, "_db_totals", None)  # from Redis
        assert coins_of(board(creator, Period.ALL, at=MONDAY)) == built


def test_redis_adds_to_a_built_board_and_a_lost_board_is_rebuilt(
    with_redis, django_capture_on_commit_callbacks
):
    creator, ann, bob = creator_create(), funded_sender(100), funded_sender(100)
    with django_capture_on_commit_callbacks(execute=True):
        send(ann, creator, quantity=3, at=MONDAY)
    assert coins_of(board(creator, Period.DAY, at=MONDAY)) == [(ann.public_name, 3)]
    with django_capture_on_commit_callbacks(execute=True):
        send(bob, creator, quantity=4, at=MONDAY)
    # Read from Redis: the database's aggregate is not asked.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(leaderboards, "_db_totals", None)
        expected = [(bob.public_name, 4), (ann.public_name, 3)]
        assert coins_of(board(creator, Period.DAY, at=MONDAY)) == expected

    assert leaderboards.boards_forget(creator_id=creator.id) > 0
    assert coins_of(board(creator, Period.DAY, at=MONDAY)) == expected


def test_with_redis_down_gifts_send_and_boards_read_from_the_database(
    settings, django_capture_on_commit_callbacks
):
    _use_cache(settings, REDIS_DOWN)
    creator, sender = creator_create(), funded_sender(100)
    with django_capture_on_commit_callbacks(execute=True):
        result = send(sender, creator, quantity=6, at=MONDAY)

    assert result.created
    assert coins_of(board(creator, Period.DAY, at=MONDAY, viewer=sender)) == [
        (sender.public_name, 6)
    ]
    assert board(creator, Period.DAY, at=MONDAY, viewer=sender).me == (1, 6)


def test_the_board_shows_public_names_never_logins(no_redis):
    creator = creator_create()
    sender = funded_sender(100)
    send(sender, creator, quantity=1, at=MONDAY)
    names = [e.display_name for e in board(creator, Period.ALL, at=MONDAY).entries]
    assert names == [sender.public_name]
    assert sender.username not in names


EXAMPLES = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

sends_strategy = st.lists(
    st.tuples(
        st.integers(0, 2),  # sender
        st.integers(0, 1),  # creator
        st.sampled_from(["s1", "s2"]),
        st.integers(1, 20),  # quantity
        st.integers(0, 45 * 24 * 60),  # minutes after a Monday
    ),
    min_size=1,
    max_size=8,
)


def _expected(sends, senders, creator, period, at, stream_id):
    totals, reached = defaultdict(int), {}
    bounds = leaderboards.board_of(creator_id=0, period=period, now=at)
    for who, whom, stream, quantity, when in sends:
        if whom != creator:
            continue
        if period == Period.STREAM and stream != stream_id:
            continue
        if bounds.starts_at and not bounds.starts_at <= when < bounds.ends_at:
            continue
        totals[who] += quantity
        reached[who] = max(reached.get(who, when), when)
    order = sorted(totals, key=lambda w: (-totals[w], reached[w], senders[w].id))
    return [(senders[w].public_name, totals[w]) for w in order]


@EXAMPLES
@given(sends=sends_strategy, use_redis=st.booleans())
def test_every_board_and_coins_gifted_match_the_gifts_sent(
    settings, django_capture_on_commit_callbacks, sends, use_redis
):
    if use_redis and not _redis_answers():
        use_redis = False
    if use_redis:
        _use_cache(settings, REDIS_URL)
        leaderboards.boards_forget()
    else:
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
        }
    with transaction.atomic():
        senders = [funded_sender(500) for _ in range(3)]
        creators = [creator_create(), creator_create()]
        gift = rose()
        # In any order: an older gift committing after a newer one (a slow
        # request) leaves the sender's reach at their latest gift's moment.
        timed = [
            (w, c, s, q, MONDAY + datetime.timedelta(minutes=m))
            for w, c, s, q, m in sends
        ]
        boards = [
            (creator, period, at, stream)
            for _, creator, stream, _, at in timed
            for period in Period.values
        ]

        def read(creator, period, at, stream):
            return coins_of(
                board(
                    creators[creator],
                    period,
                    at=at,
                    stream_id=stream if period == Period.STREAM else "",
                )
            )

        # Built before the gifts (empty): Redis then counts each as it commits.
        for each in boards:
            read(*each)
        with django_capture_on_commit_callbacks(execute=True):
            for n, (who, whom, stream, quantity, at) in enumerate(timed):
                send(
                    senders[who],
                    creators[whom],
                    quantity=quantity,
                    at=at,
                    stream_id=stream,
                    key=f"k{n}",
                    gift=gift,
                )
        for creator, period, at, stream in boards:
            assert read(creator, period, at, stream) == _expected(
                timed, senders, creator, period, at, stream
            ), (creator, period, at, stream)
        for who, sender in enumerate(senders):
            gifted = sum(q for w, _, _, q, _ in sends if w == who)
            total = GifterTotal.objects.filter(user=sender).first()
            assert (total.coins if total else 0) == gifted
            assert gifter_standing(user_id=sender.id).coins_gifted == gifted
        transaction.set_rollback(True)
    if use_redis:
        leaderboards.boards_forget()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres") is False,
    reason="Real concurrent gift sends need PostgreSQL.",
)
def test_many_senders_gifting_one_creator_at_once_add_up_exactly(no_redis):
    assert connection.vendor == "postgresql"
    creator, gift = creator_create(), rose()
    senders = [funded_sender(200) for _ in range(12)]
    start = threading.Barrier(len(senders))
    errors = []

    def gift_many(sender):
        try:
            start.wait()
            for n in range(5):
                send(
                    sender,
                    creator,
                    quantity=n + 1,
                    at=timezone.now(),
                    key=f"race-{n}",
                    gift=gift,
                )
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=gift_many, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    rows = StreamGifter.objects.filter(creator=creator, stream_id="s1")
    assert {row.sender_id: row.coins for row in rows} == {s.id: 15 for s in senders}
    totals = GifterTotal.objects.filter(user__in=senders)
    assert {t.user_id: t.coins for t in totals} == {s.id: 15 for s in senders}
    result = board(creator, Period.ALL, at=timezone.now(), limit=100)
    assert sum(coins for _, coins in coins_of(result)) == 12 * 15


def test_the_forget_command_drops_boards_and_they_come_back_from_the_database(
    with_redis, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    creator, sender = creator_create(), funded_sender(100)
    send(sender, creator, quantity=2, at=MONDAY)
    before = coins_of(board(creator, Period.WEEK, at=MONDAY))

    call_command("leaderboards_forget", creator=creator.id)

    assert not leaderboards.redis_client().exists(
        leaderboards.board_of(creator_id=creator.id, period="week", now=MONDAY).key
    )
    assert coins_of(board(creator, Period.WEEK, at=MONDAY)) == before


def test_the_forget_command_refuses_an_unknown_creator_or_no_redis(settings):
    from django.core.management import CommandError, call_command

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    with pytest.raises(CommandError, match="No Redis cache"):
        call_command("leaderboards_forget")
    _use_cache(settings, REDIS_URL)
    with pytest.raises(CommandError, match="No creator with id 999999"):
        call_command("leaderboards_forget", creator=999999)


# The attacker review's findings (F3-F7).


def _board_keys(creator) -> list[bytes]:
    client = leaderboards.redis_client()
    return list(client.scan_iter(match=f"leaderboard:{creator.id}:*", count=1000))


def test_reading_boards_nobody_gifted_on_writes_nothing_to_redis(
    with_redis, api_client
):
    creator = creator_create()
    for n in range(20):
        answer = api_client.get(
            f"/api/v1/creators/{creator.id}/leaderboard/",
            {"period": "stream", "stream_id": f"made-up-{n}"},
        )
        assert answer.status_code == 200
        assert answer.json()["entries"] == []
    for period in ("day", "week", "month", "all"):
        assert board(creator, period, at=MONDAY).entries == []
    assert _board_keys(creator) == []


def test_leaderboard_reads_past_the_rate_limit_are_429(
    no_redis, api_client, monkeypatch
):
    from core.api.throttles import LeaderboardAnonThrottle, LeaderboardUserThrottle

    creator, reader = creator_create(), funded_sender(10)
    monkeypatch.setattr(
        LeaderboardAnonThrottle, "THROTTLE_RATES", {"leaderboards_anon": "2/minute"}
    )
    monkeypatch.setattr(
        LeaderboardUserThrottle, "THROTTLE_RATES", {"leaderboards": "3/minute"}
    )
    paths = [
        f"/api/v1/creators/{creator.id}/leaderboard/",
        "/api/v1/streams/s1/leaderboard/",
    ]

    anonymous = [api_client.get(paths[n % 2]).status_code for n in range(3)]
    assert anonymous == [200, 200, 429]

    api_client.force_authenticate(reader)
    signed_in = [api_client.get(paths[n % 2]).status_code for n in range(4)]
    assert signed_in == [200, 200, 200, 429]


def test_a_gift_on_a_built_board_sets_its_keys_expiry(
    with_redis, django_capture_on_commit_callbacks
):
    creator, ann, bob = creator_create(), funded_sender(100), funded_sender(100)
    with django_capture_on_commit_callbacks(execute=True):
        send(ann, creator, quantity=1, at=MONDAY)
    day = leaderboards.board_of(creator_id=creator.id, period="day", now=MONDAY)
    assert coins_of(board(creator, Period.DAY, at=MONDAY)) == [(ann.public_name, 1)]
    client = leaderboards.redis_client()
    # As a board built empty once was: the marker without the set and hash.
    board_key, reached_key, _ = leaderboards._keys(day)
    client.delete(board_key, reached_key)

    later = MONDAY + datetime.timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        send(bob, creator, quantity=2, at=later)

    # Until the day is over, and a day more.
    keep = (day.ends_at - later).total_seconds() + 86_400
    for key in (board_key, reached_key):
        assert client.exists(key)
        assert keep - 60 <= client.ttl(key) <= keep
    # Not only the day's: no key of the creator's boards lives forever.
    assert all(client.ttl(key) > 0 for key in _board_keys(creator))


def test_a_gift_in_a_board_built_before_its_add_runs_counts_once(
    with_redis, django_capture_on_commit_callbacks
):
    creator, ann, bob = creator_create(), funded_sender(100), funded_sender(100)
    with django_capture_on_commit_callbacks(execute=True):
        send(ann, creator, quantity=1, at=MONDAY)
    for period in Period.values:
        board(creator, period, at=MONDAY, stream_id="s1")  # built

    with django_capture_on_commit_callbacks() as late_adds:
        send(bob, creator, quantity=5, at=MONDAY)
        send(ann, creator, quantity=2, at=MONDAY + datetime.timedelta(seconds=1))
    # Committed; a reader rebuilds every board (they hold both gifts) before the
    # gifts' adds run.
    leaderboards.boards_forget(creator_id=creator.id)
    for period in Period.values:
        board(creator, period, at=MONDAY, stream_id="s1")
    for add in late_adds:
        add()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(leaderboards, "_db_totals", None)  # read from Redis only
        for period in Period.values:
            result = board(creator, period, at=MONDAY, stream_id="s1")
            assert coins_of(result) == [(bob.public_name, 5), (ann.public_name, 3)]
    # A gift after the build is still added.
    with django_capture_on_commit_callbacks(execute=True):
        send(ann, creator, quantity=4, at=MONDAY + datetime.timedelta(seconds=2))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(leaderboards, "_db_totals", None)
        result = board(creator, Period.DAY, at=MONDAY)
        assert coins_of(result) == [(ann.public_name, 7), (bob.public_name, 5)]


@pytest.mark.parametrize("stream", ["s1:reached", "s1:built", "x:*", "ü\n:"])
def test_any_stream_id_names_a_board_of_its_own(
    with_redis, django_capture_on_commit_callbacks, stream
):
    creator, ann, bob = creator_create(), funded_sender(100), funded_sender(100)
    with django_capture_on_commit_callbacks(execute=True):
        send(ann, creator, quantity=3, at=MONDAY, stream_id="s1")
        send(bob, creator, quantity=4, at=MONDAY, stream_id=stream)
    s1 = leaderboards.board_of(
        creator_id=creator.id, period="stream", now=MONDAY, stream_id="s1"
    )
    other = leaderboards.board_of(
        creator_id=creator.id, period="stream", now=MONDAY, stream_id=stream
    )
    assert not set(leaderboards._keys(s1)) & set(leaderboards._keys(other))
    assert other.key.startswith(f"leaderboard:{creator.id}:stream:")
    assert len(other.key.rsplit(":", 1)[1]) == 16

    board(creator, Period.STREAM, at=MONDAY, stream_id="s1")
    board(creator, Period.STREAM, at=MONDAY, stream_id=stream)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(leaderboards, "_db_totals", None)  # both from Redis
        on_s1 = board(creator, Period.STREAM, at=MONDAY, stream_id="s1")
        on_other = board(creator, Period.STREAM, at=MONDAY, stream_id=stream)
    assert coins_of(on_s1) == [(ann.public_name, 3)]
    assert coins_of(on_other) == [(bob.public_name, 4)]


def test_a_read_fetches_a_bounded_number_of_ties_then_asks_the_database(
    with_redis, django_capture_on_commit_callbacks, monkeypatch
):
    creator = creator_create()
    senders = [funded_sender(100) for _ in range(4)]
    minute = datetime.timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        # All tie on 5 coins; the last to gift first reached it first.
        for n, sender in enumerate(senders):
            send(sender, creator, quantity=5, at=MONDAY + (4 - n) * minute)
    expected_first = senders[-1]
    assert coins_of(board(creator, Period.ALL, at=MONDAY, limit=1)) == [
        (expected_first.public_name, 5)
    ]

    monkeypatch.setattr(leaderboards, "TIES_READ_AT_MOST", 2)
    fetched = []
    real = leaderboards._tied

    def spy(client, key, score):
        try:
            result = real(client, key, score)
        except leaderboards._TooManyTies:
            fetched.append("too many")
            raise
        fetched.append(len(result))
        return result

    monkeypatch.setattr(leaderboards, "_tied", spy)
    result = board(creator, Period.ALL, at=MONDAY, limit=1, viewer=senders[0])
    assert coins_of(result) == [(expected_first.public_name, 5)]
    assert result.me == (4, 5)
    assert fetched == ["too many", "too many"]  # top and place, each from the db
