import datetime
import logging
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from catalog.models import GIFT_QUANTITY_MAX, Gift, Region
from core.errors import ServiceError
from core.idempotency import replay_check, request_fingerprint
from wallets import ledger
from wallets.models import HomeRegion
from wallets.units import units_from_diamonds

from ..models import (
    CreatorProfile,
    GiftSend,
    StreamGifter,
)

logger = logging.getLogger(__name__)


class GiftRefused(ServiceError):
    code = "gift_refused"


@dataclass(frozen=True)
class GiftSendResult:
    gift_send: GiftSend
    created: bool


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
) -> GiftSendResult:
    """Send `quantity` of a gift to a creator: coins leave the sender, the creator
    earns diamonds at their level's share, the platform the rest, in one transaction.

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
    try:
        _check_gift_may_be_sent(sender=sender, now=now, **asked)
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
    try:
        with transaction.atomic():
            # The key's unique constraint finds a repeat: the insert comes first, so
            # a repeat fails before any coin moves, and a new gift costs no lookup.
            send = GiftSend.objects.create(
                sender=sender,
                creator=creator,
                gift=gift,
                quantity=quantity,
                coin_price=gift.coin_price,
                coins=coins,
                share_percent=share,
                creator_diamond_units=creator_units,
                platform_diamond_units=platform_units,
                placement=placement,
                stream_id=stream_id,
                video_id=video_id,
                comment=comment,
                idempotency_key=idempotency_key,
                request_fingerprint=fingerprint,
                created_at=now,
            )
            ledger.gift_post(
                gift_send_id=send.id,
                sender=sender,
                creator=creator.user,
                coins=coins,
                creator_units=creator_units,
                platform_units=platform_units,
            )
            if stream_id:
                _leaderboard_add(
                    stream_id=stream_id, sender=sender, coins=coins, now=now
                )
    except IntegrityError:
        # A repeat, or the same key raced in from another request and committed
        # first.
        first = _gift_send_by_key(sender, idempotency_key)
        if first is None:
            raise
        replay_check(first, fingerprint=fingerprint)
        return GiftSendResult(first, created=False)
    return GiftSendResult(send, created=True)


def _gift_send_by_key(sender: User, idempotency_key: str) -> GiftSend | None:
    return GiftSend.objects.filter(
        sender=sender, idempotency_key=idempotency_key
    ).first()


def _check_gift_may_be_sent(
    *, sender, creator, gift, quantity, placement, stream_id, video_id, region, now
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
    _check_region(sender=sender, gift=gift, named=region)
    if creator.user_id == sender.id:
        raise GiftRefused("You cannot send a gift to yourself.", field="creator")
    if not sender.is_adult_on(now.date()):
        raise GiftRefused(
            "Sending gifts requires age 18 or over.", code="under_age", status_code=403
        )
    reason = creator.ineligibility_reason(now.date())
    if reason:
        raise GiftRefused(reason, field="creator")


def _check_region(*, sender: User, gift: Gift, named: Region | None) -> None:
    """Region-only gifts go by the sender's home region; a region the request names
    must be that one. (One statement: it is on every gift's path.)"""
    # Fixed SQL: the ORM took about 3 ms a gift to compile the same four subqueries.
    links = Gift.regions.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT
                EXISTS (SELECT 1 FROM {links} l WHERE l.gift_id = %s),
                home.region_id,
                region.code,
                EXISTS (
                    SELECT 1 FROM {links} l
                    WHERE l.gift_id = %s AND l.region_id = home.region_id
                )
            FROM {Gift._meta.db_table} gift
            LEFT JOIN {HomeRegion._meta.db_table} home ON home.user_id = %s
            LEFT JOIN {Region._meta.db_table} region ON region.id = home.region_id
            WHERE gift.id = %s
            """,
            [gift.id, gift.id, sender.id, gift.id],
        )
        row = cursor.fetchone()
    facts = (
        None
        if row is None
        else dict(
            zip(
                ("limited", "home_id", "home_code", "offered_at_home"), row, strict=True
            )
        )
    )
    if facts is None:
        raise GiftRefused("This gift cannot be sent now.", field="gift")
    home_code = facts["home_code"]
    if named is not None and home_code is not None and named.id != facts["home_id"]:
        raise GiftRefused(
            f"Your home region is {home_code}: gifts are sent from there, not from "
            f"{named.code}.",
            field="region",
            code="not_home_region",
        )
    if not facts["limited"] or facts["offered_at_home"]:
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


def _leaderboard_add(*, stream_id: str, sender: User, coins: int, now) -> None:
    # One statement that creates or adds: no read-then-write race between senders.
    table = StreamGifter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (stream_id, sender_id, coins, reached_at) "
            "VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (stream_id, sender_id) DO UPDATE "
            f"SET coins = {table}.coins + EXCLUDED.coins, "
            "reached_at = EXCLUDED.reached_at",
            [stream_id, sender.id, coins, now],
        )
