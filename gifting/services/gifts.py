import contextlib
import datetime
import logging
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from catalog.models import GIFT_QUANTITY_MAX, Gift, Region
from core import prepared
from core.errors import ServiceError
from core.idempotency import replay_check, request_fingerprint
from core.logs import money_event
from wallets import ledger
from wallets.models import AccountKind, LedgerAccount
from wallets.selectors import (
    WalletBalances,
    wallet_balances_from,
    wallet_balances_statement,
)
from wallets.units import units_from_diamonds

from .. import leaderboards
from ..leaderboards import ALL_TIME
from ..metrics import gift_send_counted
from ..models import (
    CreatorProfile,
    GifterTotal,
    GiftSend,
    StreamGifter,
)
from ..selectors import GiftFacts, gift_facts
from . import sponsors

logger = logging.getLogger(__name__)


class GiftRefused(ServiceError):
    code = "gift_refused"


@dataclass(frozen=True)
class GiftSendResult:
    gift_send: GiftSend
    created: bool
    # The sender's balances right after the send, when they were read in the same
    # round trip (PostgreSQL); None when the caller must read them.
    wallet: WalletBalances | None = None


def diamond_split(*, coins: int, share_percent) -> tuple[int, int]:
    """Split `coins` of value between creator and platform, in 1/10,000 diamonds.

    A share has at most two decimals, so the creator's part is `coins × share × 100`
    ten-thousandths exactly and the platform's is the rest: no rounding at all, the
    two parts always add up to the coins spent, and nothing drifts over any number
    of gifts.
    """
    share_basis_points = int(share_percent * 100)
    if (
        share_basis_points != share_percent * 100
        or not 0 < share_basis_points <= 10_000
    ):
        raise ValueError(
            f"A share has at most two decimals in (0, 100]: {share_percent}"
        )
    creator = coins * share_basis_points
    # A coin's value is one diamond.
    return creator, units_from_diamonds(coins) - creator


def gift_send(
    *,
    sender: User,
    creator: CreatorProfile,
    gift: Gift,
    quantity: int,
    placement: str,
    stream_id: str = "",
    video_id: str = "",
    comment: str = "",
    region: Region | None,
    idempotency_key: str,
    now: datetime.datetime | None = None,
    facts: GiftFacts | None = None,
) -> GiftSendResult:
    """Send `quantity` of a gift to a creator: coins leave the sender, the creator
    earns diamonds at their level's share, the platform the rest, in one transaction.

    `facts` are this send's (`selectors.gift_send_subjects` reads them with what
    the request names, in one statement); read here when not given.

    The creator's earning is a pending credit (see `wallets.ledger`), so thousands of
    senders gifting one creator never wait on the creator's balance row; the only
    rows locked are the sender's own.
    """
    now = now or timezone.now()
    asked = {
        "creator": creator,
        "gift": gift,
        "quantity": quantity,
        "placement": placement,
        "stream_id": stream_id,
        "video_id": video_id,
        "region": region,
    }
    fingerprint = request_fingerprint("gift_send", comment=comment, **asked)
    if facts is None:
        facts = gift_facts(sender_id=sender.id, gift=gift, creator=creator)
        if facts is None:
            raise GiftRefused("This gift cannot be sent now.", field="gift")
    elif (facts.sender_id, facts.gift_id, facts.creator_id) != (
        sender.id,
        gift.id,
        creator.id,
    ):
        raise ValueError("These facts are another gift send's.")
    try:
        _check_gift_may_be_sent(sender=sender, now=now, facts=facts, **asked)
    except GiftRefused:
        # A repeat of a gift sent before answers with that gift, even if the gift
        # could not be sent now.
        replay = _gift_send_by_key(sender, idempotency_key)
        if replay is None:
            raise
        replay_check(replay, fingerprint=fingerprint)
        return GiftSendResult(replay, created=False)
    coins = gift.coin_price * quantity
    share = creator.level.share_percent
    creator_units, platform_units = diamond_split(coins=coins, share_percent=share)
    row = {
        "sender_id": sender.id,
        "creator_id": creator.id,
        "gift_id": gift.id,
        "quantity": quantity,
        "coin_price": gift.coin_price,
        "coins": coins,
        "share_percent": share,
        "creator_diamond_units": creator_units,
        "platform_diamond_units": platform_units,
        "placement": placement,
        "stream_id": stream_id,
        "video_id": video_id,
        "comment": comment,
        "idempotency_key": idempotency_key,
        "request_fingerprint": fingerprint,
        "created_at": now,
        "sender_region_id": facts.home_id,
    }
    try:
        wallet = None
        if facts.sponsored:
            send = _gift_send_sponsored(row, facts=facts, creator=creator, gift=gift)
        elif ledger.posts_in_one_statement():
            send, wallet = _gift_send_in_one_statement(
                row, facts=facts, creator=creator
            )
        else:
            send = _gift_send_through_orm(row, facts=facts, creator=creator)
        # The answer names the gift: no query to read it back.
        send.gift, send.creator = gift, creator
    except IntegrityError:
        # A repeat, or the same key raced in from another request and committed
        # first.
        first = _gift_send_by_key(sender, idempotency_key)
        if first is None:
            raise
        replay_check(first, fingerprint=fingerprint)
        return GiftSendResult(first, created=False)
    money_event(
        "gift_sent",
        gift_send_id=send.id,
        sender_id=sender.id,
        creator_id=creator.id,
        gift=gift.slug,
        quantity=quantity,
        coins=coins,
        share_percent=str(share),
        creator_diamond_units=creator_units,
        platform_diamond_units=platform_units,
        subsidy_coins=send.subsidy_coins,
        stream_id=stream_id,
        video_id=video_id,
        region=facts.home_code,
    )
    gift_send_counted(gift=gift.slug, region=facts.home_code, coins=coins)
    # Redis hears of a gift only once it is committed: a rolled-back gift never ranks.
    transaction.on_commit(
        lambda: leaderboards.redis_add(
            gift_send_id=send.id,
            creator_id=creator.id,
            stream_id=stream_id,
            sender_id=sender.id,
            coins=_given(row | {"subsidy_coins": send.subsidy_coins}),
            now=now,
        )
    )
    return GiftSendResult(send, created=True, wallet=wallet)


def _gift_send_sponsored(
    row: dict, *, facts: GiftFacts, creator: CreatorProfile, gift: Gift
) -> GiftSend:
    """A gift with a sponsor campaign, on every database: the ORM path with the
    subsidy its campaign pays now (none when it pays nothing), stamped on the send
    and posted from the campaign's budget, whose row stays locked until commit."""
    with transaction.atomic():
        subsidy = sponsors.sponsor_subsidy_take(
            gift=gift,
            sender_id=row["sender_id"],
            region_id=facts.home_id,
            quantity=row["quantity"],
            now=row["created_at"],
        )
        if subsidy is None:
            return _gift_send_through_orm(row, facts=facts, creator=creator)
        return _gift_send_through_orm(
            {**row, "campaign_id": subsidy.campaign.id, "subsidy_coins": subsidy.coins},
            facts=facts,
            creator=creator,
            sponsor_budget=subsidy.budget,
        )


def _gift_send_through_orm(
    row: dict,
    *,
    facts: GiftFacts,
    creator: CreatorProfile,
    sponsor_budget: LedgerAccount | None = None,
) -> GiftSend:
    """The gift send as separate statements in one transaction: SQLite's path, the
    sponsored path, and the reference the one-statement path is tested against."""
    with transaction.atomic():
        # The key's unique constraint finds a repeat: the insert comes first, so
        # a repeat fails before any coin moves, and a new gift costs no lookup.
        send = GiftSend.objects.create(**row)
        ledger.gift_post(
            **_gift_terms(send.id, row, facts=facts, creator=creator),
            subsidy=row.get("subsidy_coins", 0),
            sponsor_budget=sponsor_budget,
            now=row["created_at"],
        )
        with connection.cursor() as cursor:
            cursor.execute(_leaderboard_add(row), _leaderboard_params(row))
            cursor.execute(_GIFTED_ADD, _gifted_params(row))
    return send


def _gift_send_in_one_statement(
    row: dict, *, facts: GiftFacts, creator: CreatorProfile
) -> tuple[GiftSend, WalletBalances]:
    """The gift send, its ledger legs and its leaderboard entry in one statement,
    atomic by itself, and the sender's balances after it, read by a second
    statement sent in the same round trip (PostgreSQL runs the two in one
    transaction, the read after the send).

    The send's id is drawn beforehand (with the facts), so its legs' keys are known
    here. Its row is inserted first and the legs are posted once per row it
    returns: a repeated key fails the insert before any coin moves, as in the ORM
    path.
    """
    # Not in a transaction, the statement is one. In a caller's, a savepoint keeps
    # a refused repeat from breaking it; on a creator's first gift, a transaction
    # takes back the diamonds account it opens if the gift is refused.
    atomic = (
        transaction.atomic
        if connection.in_atomic_block or facts.creator_diamonds is None
        else contextlib.nullcontext
    )
    with atomic():
        post, post_params = ledger.post_call(
            ledger.gift_legs(
                **_gift_terms(facts.next_id, row, facts=facts, creator=creator)
            ),
            reference=ledger.gift_reference(facts.next_id),
            now=row["created_at"],
        )
        columns = ["id", *row]
        values = [facts.next_id, *_db_values(row)]
        # The sender's coins gifted (their gifter level), and the creator's boards.
        board = f", gifted AS ({_GIFTED_ADD}), board AS ({_leaderboard_add(row)})"
        board_params = _gifted_params(row) + _leaderboard_params(row)
        # Row locks in the order every other writer takes them: the creator's
        # profile before the creator's account. A foreign key is checked (and its
        # row locked) only at the end of the statement that inserts the row, which
        # here is after the posting has locked the account: so the profile is
        # locked first, explicitly. A payout request, which locks the profile and
        # then the account, deadlocked with gift sends without this. And the
        # posting is called per row of `send`, in the select list, so the send's
        # insert (and its unique key) comes before any coin moves.
        sql = (
            f"WITH creator_lock AS (SELECT 1 FROM {CreatorProfile._meta.db_table} "
            "WHERE id = %s FOR KEY SHARE), "
            f"send AS (INSERT INTO {GiftSend._meta.db_table} "
            f"({', '.join(GiftSend._meta.get_field(c).column for c in columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING id){board} "
            f"SELECT {post} FROM send WHERE EXISTS (SELECT 1 FROM creator_lock)"
        )
        params = [row["creator_id"], *values, *board_params, *post_params]
        with ledger.refusals_raised(), connection.cursor() as cursor:
            prepared.execute_together(
                cursor,
                [
                    (sql, params),
                    wallet_balances_statement(user_id=row["sender_id"]),
                ],
            )
            cursor.nextset()
            wallet = wallet_balances_from(cursor.fetchall())
    send = GiftSend(id=facts.next_id, **row)
    send._state.adding = False
    send._state.db = connection.alias
    return send, wallet


def _gift_terms(
    send_id: int, row: dict, *, facts: GiftFacts, creator: CreatorProfile
) -> dict:
    """What the ledger posts for this send (`gift_post`, `gift_legs`)."""
    return dict(
        gift_send_id=send_id,
        sender_id=row["sender_id"],
        # A creator's first gift opens their diamonds account.
        creator_diamonds=facts.creator_diamonds
        or ledger.user_account(creator.user, AccountKind.DIAMONDS),
        coins=row["coins"],
        creator_units=row["creator_diamond_units"],
        platform_units=row["platform_diamond_units"],
    )


def _db_values(row: dict) -> list:
    return [
        GiftSend._meta.get_field(name).get_db_prep_save(value, connection)
        for name, value in row.items()
    ]


def _gift_send_by_key(sender: User, idempotency_key: str) -> GiftSend | None:
    return GiftSend.objects.filter(
        sender=sender, idempotency_key=idempotency_key
    ).first()


def _check_gift_may_be_sent(
    *,
    sender,
    creator,
    gift,
    quantity,
    placement,
    stream_id,
    video_id,
    region,
    now,
    facts,
) -> None:
    if not 1 <= quantity <= GIFT_QUANTITY_MAX:
        raise GiftRefused(f"Send 1 to {GIFT_QUANTITY_MAX} at once.", field="quantity")
    if placement == GiftSend.Placement.LIVE and (not stream_id or video_id):
        raise GiftRefused(
            "A gift in a live stream names the stream.", field="stream_id"
        )
    if placement == GiftSend.Placement.COMMENT and (not video_id or stream_id):
        raise GiftRefused("A gift in a comment names the video.", field="video_id")
    if not gift.is_available_at(now):
        raise GiftRefused("This gift cannot be sent now.", field="gift")
    if gift.placement not in (placement, Gift.Placement.BOTH):
        raise GiftRefused(
            "This gift cannot be sent in a "
            f"{GiftSend.Placement(placement).label.lower()}.",
            field="gift",
        )
    _check_region(facts, named=region)
    if creator.user_id == sender.id:
        raise GiftRefused("You cannot send a gift to yourself.", field="creator")
    if not sender.is_adult_on(now.date()):
        raise GiftRefused(
            "Sending gifts requires age 18 or over.", code="under_age", status_code=403
        )
    reason = creator.ineligibility_reason(now.date())
    if reason:
        raise GiftRefused(reason, field="creator")


def _check_region(facts: GiftFacts, *, named: Region | None) -> None:
    """Region-only gifts go by the sender's home region; a region the request names
    must be that one."""
    home_code = facts.home_code
    if named is not None and home_code is not None and named.id != facts.home_id:
        raise GiftRefused(
            f"Your home region is {home_code}: gifts are sent from there, not from "
            f"{named.code}.",
            field="region",
            code="not_home_region",
        )
    if not facts.region_limited or facts.offered_at_home:
        return
    if home_code is None:
        raise GiftRefused(
            "This gift is offered only in some regions, and yours is not known yet: "
            "your first coin purchase sets it.",
            field="gift",
        )
    raise GiftRefused(
        f"This gift is not offered in {home_code}, your region.", field="gift"
    )


# One statement that creates or adds: no read-then-write race between senders.
# The row with no stream is the creator's all-time board (a live gift always
# names its stream, so no stream's row is ever that one). An older gift committing
# after a newer one keeps the later reach time (a CASE: PostgreSQL's GREATEST is
# SQLite's max, and both read the same).
_LEADERBOARD_ROW = "(%s, %s, %s, %s, %s)"
_LEADERBOARD_TABLE = StreamGifter._meta.db_table
_LEADERBOARD_ADD = (
    f"INSERT INTO {_LEADERBOARD_TABLE} (creator_id, stream_id, sender_id, "
    "coins, reached_at) VALUES {rows} "
    "ON CONFLICT (creator_id, stream_id, sender_id) DO UPDATE "
    f"SET coins = {_LEADERBOARD_TABLE}.coins + EXCLUDED.coins, "
    f"reached_at = CASE WHEN EXCLUDED.reached_at > {_LEADERBOARD_TABLE}.reached_at "
    f"THEN EXCLUDED.reached_at ELSE {_LEADERBOARD_TABLE}.reached_at END"
)


def _leaderboard_add(row: dict) -> str:
    """The all-time row, and the stream's when the gift is in one."""
    rows = 2 if row["stream_id"] else 1
    return _LEADERBOARD_ADD.replace("{rows}", ", ".join([_LEADERBOARD_ROW] * rows))


# The sender's row: only their own gifts add to it, and those are serialised by the
# debit's lock on their coin accounts already.
_GIFTED_ADD = (
    f"INSERT INTO {GifterTotal._meta.db_table} (user_id, coins) VALUES (%s, %s) "
    f"ON CONFLICT (user_id) DO UPDATE SET coins = {GifterTotal._meta.db_table}.coins "
    "+ EXCLUDED.coins"
)


def _given(row: dict) -> int:
    # A sender is credited with the coins they gave: a sponsor's subsidy is not theirs.
    return row["coins"] - row.get("subsidy_coins", 0)


def _leaderboard_params(row: dict) -> list:
    streams = [ALL_TIME, row["stream_id"]] if row["stream_id"] else [ALL_TIME]
    return [
        param
        for stream_id in streams
        for param in (
            row["creator_id"],
            stream_id,
            row["sender_id"],
            _given(row),
            row["created_at"],
        )
    ]


def _gifted_params(row: dict) -> list:
    return [row["sender_id"], _given(row)]
