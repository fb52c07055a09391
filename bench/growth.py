"""History for the growth runs: the ledger topped up to N transfers, consistently.

Each history sender buys one 500-coin lot and spends all of it on 500 roses to the
benchmark's creators, spread over the last 30 days: one purchase transfer and three
transfers per gift (paid coins spent, the creator's diamonds, the platform's),
exactly as `purchase_record` and `gift_send` post them, with the creators' earnings
already folded into their balances. Inserted with `INSERT ... SELECT
generate_series` (PostgreSQL), so a million transfers take a minute, not an hour;
reconciliation and the diamond checks hold afterwards.
"""

import datetime
import time

from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Gift
from gifting.models import CreatorProfile, GifterTotal, GiftSend, StreamGifter
from wallets import ledger
from wallets.models import (
    DIAMOND_SCALE,
    AccountKind,
    LedgerAccount,
    PendingCredit,
    Purchase,
    Transfer,
)

from .seed import _accounts, _fund, _users

GIFT = "rose"
TRANSFERS_PER_SENDER = 1 + 3 * 500  # the lot's purchase, then 500 gifts of 1 coin


@transaction.atomic
def history_grow(*, transfers: int) -> dict:
    """Add history until the ledger holds about `transfers` transfers."""
    started = time.perf_counter()
    before = Transfer.objects.count()
    senders = (transfers - before) // TRANSFERS_PER_SENDER
    if senders <= 0:
        return {"transfers_before": before, "transfers": before, "seconds": 0}
    gift = Gift.objects.get(slug=GIFT)
    if gift.coin_price != 1:
        raise RuntimeError(f"History gifts assume a {GIFT} costs one coin.")
    users = _users(f"bench-history-{before}", senders)
    _accounts(users, [AccountKind.PAID_COINS, AccountKind.BONUS_COINS])
    _fund(users, lots=1)
    creators = list(
        CreatorProfile.objects.filter(user__username__startswith="bench-creator-")
        .select_related("level")
        .order_by("id")
    )
    diamonds = dict(
        LedgerAccount.objects.filter(
            kind=AccountKind.DIAMONDS, owner__in=[c.user_id for c in creators]
        ).values_list("owner_id", "id")
    )
    params = {
        "prefix": f"history-{before}-",
        "gift": gift.id,
        "senders": [user.id for user in users],
        "gifts_each": 500,
        "creators": [creator.id for creator in creators],
        "creator_accounts": [diamonds[creator.user_id] for creator in creators],
        "shares": [creator.level.share_basis_points for creator in creators],
        "scale": DIAMOND_SCALE,
        "now": timezone.now(),
        "coins_spent": ledger.system_account(AccountKind.COINS_SPENT).id,
        "issuance": ledger.system_account(AccountKind.DIAMOND_ISSUANCE).id,
        "revenue": ledger.system_account(AccountKind.PLATFORM_REVENUE).id,
    }
    with connection.cursor() as cursor:
        cursor.execute(_GIFT_SENDS, params)
        cursor.execute(_TRANSFERS, params)
        cursor.execute(_BALANCES, params)
        cursor.execute(_LEADERBOARD, params)
    # Every lot was bought before its gifts and spent in full.
    Purchase.objects.filter(user__in=users).update(
        paid_coins_remaining=0,
        created_at=params["now"] - datetime.timedelta(days=31),
    )
    LedgerAccount.objects.filter(owner__in=users, kind=AccountKind.PAID_COINS).update(
        balance=0
    )
    return {
        "transfers_before": before,
        "transfers": Transfer.objects.count(),
        "history_senders": senders,
        "seconds": round(time.perf_counter() - started, 1),
    }


# The tables a gift send or a purchase writes, whose size grows with the ledger.
LEDGER_TABLES = (
    Transfer,
    PendingCredit,
    GiftSend,
    StreamGifter,
    GifterTotal,
    Purchase,
    LedgerAccount,
)


def ledger_disk() -> dict:
    """Bytes on disk of each ledger table and of its indexes (PostgreSQL), and the
    rows it holds, after `VACUUM ANALYZE` (the estimate is then exact enough)."""
    sizes = {}
    with connection.cursor() as cursor:
        for model in LEDGER_TABLES:
            table = model._meta.db_table
            cursor.execute(
                "SELECT pg_table_size(%s::regclass), pg_indexes_size(%s::regclass), "
                "reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [table, table, table],
            )
            heap, indexes, rows = cursor.fetchone()
            sizes[table] = {"table_bytes": heap, "index_bytes": indexes, "rows": rows}
    return sizes


# Gift g goes from sender g / 500 to creator g mod n, one second apart back in time.
_GIFT_SENDS = """
INSERT INTO payouts_giftsend (
    sender_id, creator_id, gift_id, quantity, coin_price, coins, share_percent,
    creator_diamond_units, platform_diamond_units, placement, stream_id, video_id,
    comment, idempotency_key, created_at)
SELECT
    (%(senders)s::bigint[])[1 + g / %(gifts_each)s],
    (%(creators)s::bigint[])[c],
    %(gift)s, 1, 1, 1,
    (%(shares)s::int[])[c] / 100.0,
    (%(shares)s::int[])[c],
    %(scale)s - (%(shares)s::int[])[c],
    'live', 'history-' || (%(creators)s::bigint[])[c], '', '',
    %(prefix)s || g,
    %(now)s::timestamptz - make_interval(secs => g %% 2592000)
FROM generate_series(0, cardinality(%(senders)s::bigint[]) * %(gifts_each)s - 1) g,
    LATERAL (SELECT 1 + g %% cardinality(%(creators)s::bigint[]) AS c) pick
"""

_TRANSFERS = """
INSERT INTO wallets_transfer (
    debit_account_id, credit_account_id, unit, amount, kind, reference,
    idempotency_key, created_at)
SELECT leg.debit, leg.credit, leg.unit, leg.amount, leg.kind, 'gift:' || send.id,
    'gift:' || send.id || leg.suffix, send.created_at
FROM payouts_giftsend send
JOIN wallets_ledgeraccount paid
    ON paid.owner_id = send.sender_id AND paid.kind = 'paid_coins'
JOIN LATERAL (
    SELECT array_position(%(creators)s::bigint[], send.creator_id) AS c
) pick ON true
CROSS JOIN LATERAL (VALUES
    (paid.id, %(coins_spent)s, 'coin', send.coins, 'gift', ':paid'),
    (%(issuance)s, (%(creator_accounts)s::bigint[])[pick.c], 'diamond',
        send.creator_diamond_units, 'gift_earning', ':creator'),
    (%(issuance)s, %(revenue)s, 'diamond', send.platform_diamond_units,
        'gift_platform_share', ':platform')
) AS leg(debit, credit, unit, amount, kind, suffix)
WHERE send.idempotency_key LIKE %(prefix)s || '%%'
    AND send.sender_id = ANY(%(senders)s::bigint[])
ORDER BY send.id
"""

# The earnings as if the fold had run: cached balance = sum of transfers.
_BALANCES = """
UPDATE wallets_ledgeraccount account SET balance = account.balance + earned.total
FROM (
    SELECT (%(creator_accounts)s::bigint[])[
        array_position(%(creators)s::bigint[], send.creator_id)] AS id,
        SUM(send.creator_diamond_units) AS total
    FROM payouts_giftsend send
    WHERE send.idempotency_key LIKE %(prefix)s || '%%'
        AND send.sender_id = ANY(%(senders)s::bigint[])
    GROUP BY send.creator_id
) earned
WHERE account.id = earned.id
"""

# The creators' stream and all-time boards, and the senders' coins gifted.
_LEADERBOARD = """
WITH given AS (
    SELECT creator_id, stream_id, sender_id, SUM(coins - subsidy_coins) AS coins,
        MAX(created_at) AS reached_at
    FROM payouts_giftsend
    WHERE idempotency_key LIKE %(prefix)s || '%%'
        AND sender_id = ANY(%(senders)s::bigint[])
    GROUP BY creator_id, stream_id, sender_id
), boards AS (
    INSERT INTO payouts_streamgifter (creator_id, stream_id, sender_id, coins,
        reached_at)
    SELECT creator_id, stream_id, sender_id, coins, reached_at FROM given
    UNION ALL
    SELECT creator_id, '', sender_id, SUM(coins), MAX(reached_at) FROM given
    GROUP BY creator_id, sender_id
)
INSERT INTO gifting_giftertotal (user_id, coins)
SELECT sender_id, SUM(coins) FROM given GROUP BY sender_id
ON CONFLICT (user_id) DO UPDATE SET coins = gifting_giftertotal.coins + EXCLUDED.coins
"""
