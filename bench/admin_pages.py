"""Admin changelists at size: fill the tables, count each page's queries, time it.

The pages are the three whose tables grow without bound: transfers (wallets), gift
sends and payouts (payouts). Each is measured on its default view, its second page
and a filtered or sorted view finance uses. The query count comes from Django's test
client in-process (`CaptureQueriesContext`); the time per page from sequential GETs
through gunicorn in the harness (bench/admin_stage.py), which is what a staff member
waits.

Payouts are filled with `INSERT ... SELECT generate_series`, valid against every
check and unique constraint of `Payout`: final ones (paid, rejected, returned, on the
benchmark's creators, who have gift history) and one open request per creator for
the approval queue. They carry no ledger transfers (that would need diamonds the
history does not hold), so their idempotency keys start with `bench-admin-` and the
harness fills them only after its last ledger check.
"""

import datetime
import math
from urllib.parse import quote

from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.roles import FINANCE
from catalog.models import Gift
from gifting import services as gifting_services
from gifting.models import CreatorProfile, GiftSend
from payouts import selectors as payout_selectors
from payouts import services as payout_services
from payouts.models import Payout, PayoutRules
from wallets.models import Transfer
from wallets.units import units_from_diamonds

from .growth import TRANSFERS_PER_SENDER, history_grow

KEY_PREFIX = "bench-admin-"
# A payout of 20,000 diamonds: USD 100 at the default rate, the minimum cash-out.
PAYOUT_DIAMONDS = 20_000
ADMIN_USERNAME = "bench-admin-superuser"
FINANCE_USERNAMES = ("bench-finance-1", "bench-finance-2")


def finance_users() -> list[User]:
    """Two finance staff: payouts that need a second approval need two people."""
    group = Group.objects.get(name=FINANCE)
    users = []
    for username in FINANCE_USERNAMES:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"is_staff": True, "birth_date": datetime.date(1980, 1, 1)},
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            user.groups.add(group)
        users.append(user)
    return users


def superuser() -> User:
    user, created = User.objects.get_or_create(
        username=ADMIN_USERNAME,
        defaults={
            "is_staff": True,
            "is_superuser": True,
            "birth_date": datetime.date(1980, 1, 1),
        },
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _bench_creators() -> list[CreatorProfile]:
    return list(
        CreatorProfile.objects.filter(user__username__startswith="bench-creator-")
        .order_by("id")
        .only("id", "user_id")
    )


def _terms(currency: str = "USD") -> dict:
    rules = PayoutRules.objects.get(currency=currency)
    rate = payout_selectors.cash_rate_current(currency=currency, when=timezone.now())
    units = units_from_diamonds(PAYOUT_DIAMONDS)
    gross, fee, net = payout_services.payout_quote(
        diamond_units=units, rate=rate.rate, rules=rules
    )
    return {
        "currency": currency,
        "units": units,
        "rate": rate.rate,
        **payout_amounts_stored(gross=gross, fee=fee, net=net),
        "second": gross >= rules.second_approval_from,
    }


def payout_amounts_stored(*, gross, fee, net) -> dict:
    """A payout's amounts as its columns keep them (integer minor units), for the
    set-wise inserts below."""
    return {
        name: Payout._meta.get_field(f"{name}_amount").get_db_prep_save(
            value, connection
        )
        for name, value in (("gross", gross), ("fee", fee), ("net", net))
    }


@transaction.atomic
def payouts_fill(*, rows: int, open_requests: int) -> dict:
    """Add final payouts until the table holds `rows`, then one open request for
    up to `open_requests` creators that have none."""
    creators = _bench_creators()
    if not creators:
        raise RuntimeError("Seed the benchmark population first (bench_seed).")
    finance, _ = finance_users()
    terms = _terms()
    if terms["second"]:
        raise RuntimeError("The fill's payouts are meant to need one approval.")
    params = {
        **terms,
        "creators": [c.id for c in creators],
        "users": [c.user_id for c in creators],
        "finance": finance.id,
        "now": timezone.now(),
        "prefix": KEY_PREFIX,
        "first": Payout.objects.filter(idempotency_key__startswith=KEY_PREFIX).count(),
        "count": max(0, rows - Payout.objects.count()),
        "open": open_requests,
    }
    with connection.cursor() as cursor:
        cursor.execute(_FINAL_PAYOUTS, params)
        cursor.execute(_OPEN_PAYOUTS, params)
        opened = cursor.rowcount
    return {
        "payouts_added": params["count"],
        "open_requests_added": opened,
        "payouts": Payout.objects.count(),
    }


# Payout g goes to creator g mod n, 31 s apart back in time; one in twenty is
# rejected (never approved), one in twenty returned after failing, the rest paid.
_FINAL_PAYOUTS = """
INSERT INTO payouts_payout (
    creator_id, requester_id, diamond_units, currency, rate, gross_amount,
    fee_amount, net_amount, needs_second_approval, method, destination,
    method_changed_at, status, reference, idempotency_key, first_approver_id,
    second_approver_id, provider_id, failure_reason, requested_at, updated_at)
SELECT
    (%(creators)s::bigint[])[c], (%(users)s::bigint[])[c], %(units)s,
    %(currency)s, %(rate)s, %(gross)s, %(fee)s, %(net)s, false, 'paypal',
    'bench-payee-' || c || '@example.com', NULL,
    CASE g %% 20 WHEN 0 THEN 'rejected' WHEN 1 THEN 'returned' ELSE 'paid' END,
    'PO-BENCH-A' || g, %(prefix)s || g,
    CASE WHEN g %% 20 = 0 THEN NULL ELSE %(finance)s END,
    NULL,
    CASE WHEN g %% 20 = 0 THEN '' ELSE 'SBX-BENCH-' || g END,
    CASE WHEN g %% 20 = 1 THEN 'Receiver account refused.' ELSE '' END,
    %(now)s::timestamptz - make_interval(secs => g * 31),
    %(now)s::timestamptz - make_interval(secs => g * 31 - 60)
FROM generate_series(%(first)s, %(first)s + %(count)s - 1) g,
    LATERAL (SELECT 1 + g %% cardinality(%(creators)s::bigint[]) AS c) pick
"""

# The queue finance opens on: creators' requests waiting for a first approval.
_OPEN_PAYOUTS = """
INSERT INTO payouts_payout (
    creator_id, requester_id, diamond_units, currency, rate, gross_amount,
    fee_amount, net_amount, needs_second_approval, method, destination,
    method_changed_at, status, reference, idempotency_key, first_approver_id,
    second_approver_id, provider_id, failure_reason, requested_at, updated_at)
SELECT creator.id, creator.user_id, %(units)s, %(currency)s, %(rate)s, %(gross)s,
    %(fee)s, %(net)s, false, 'paypal', 'bench-payee-' || creator.id || '@example.com',
    NULL, 'requested', 'PO-BENCH-O' || creator.id,
    %(prefix)s || 'open-' || creator.id, NULL, NULL, '', '',
    %(now)s::timestamptz - make_interval(secs => creator.id), %(now)s
FROM payouts_creatorprofile creator
WHERE creator.id = ANY(%(creators)s::bigint[])
    AND NOT EXISTS (
        SELECT 1 FROM payouts_payout open
        WHERE open.creator_id = creator.id
            AND open.status IN ('requested', 'awaiting_second', 'approved',
                                'processing', 'failed'))
ORDER BY creator.id
LIMIT %(open)s
"""


def gift_sends_few(count: int) -> int:
    """`count` gift sends through the service itself, for the small-size pages;
    returns how many it sent."""
    senders = list(
        User.objects.filter(username__startswith="bench-sender-").order_by("id")[:count]
    )
    creators = list(
        CreatorProfile.objects.filter(user__username__startswith="bench-creator-")
        .select_related("user", "level")
        .order_by("id")[:count]
    )
    rose = Gift.objects.get(slug="rose")
    sent = 0
    for number, (sender, creator) in enumerate(zip(senders, creators, strict=False)):
        gifting_services.gift_send(
            sender=sender,
            creator=creator,
            gift=rose,
            quantity=1,
            placement=GiftSend.Placement.LIVE,
            stream_id=f"bench-admin-{number}",
            region=None,
            idempotency_key=f"{KEY_PREFIX}{number}",
        )
        sent += 1
    return sent


def gift_sends_grow(*, rows: int) -> dict:
    """History (growth.py) until the table holds at least `rows` gift sends, each
    with its transfers; the ledger then holds about three transfers per gift."""
    missing = rows - GiftSend.objects.count()
    if missing <= 0:
        return {"gift_sends": GiftSend.objects.count(), "seconds": 0}
    senders = math.ceil(missing / 500)
    grown = history_grow(
        transfers=Transfer.objects.count() + senders * TRANSFERS_PER_SENDER
    )
    return {**grown, "gift_sends": GiftSend.objects.count()}


def pages() -> dict[str, dict[str, str]]:
    """Each changelist's views: default, second page, and one filter or sort."""
    rose = Gift.objects.get(slug="rose")
    # As the admin's own "Past 7 days" link writes it.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    since = quote(str(today - datetime.timedelta(days=7)))
    return {
        "transfers": {
            "default": "/admin/wallets/transfer/",
            "page_2": "/admin/wallets/transfer/?p=2",
            "filtered": "/admin/wallets/transfer/?kind__exact=gift_earning",
        },
        "gift_sends": {
            "default": "/admin/gifting/giftsend/",
            "page_2": "/admin/gifting/giftsend/?p=2",
            "filtered": f"/admin/gifting/giftsend/?gift__id__exact={rose.id}"
            f"&created_at__gte={since}",
        },
        "payouts": {
            "default": "/admin/payouts/payout/",
            "page_2": "/admin/payouts/payout/?queue=all&p=2",
            "filtered": "/admin/payouts/payout/?queue=done&o=-1",
        },
    }


def table_rows() -> dict[str, int]:
    """Row counts from the planner's statistics (exact ones would take seconds)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relname = ANY(%s)",
            [["wallets_transfer", "payouts_giftsend", "payouts_payout"]],
        )
        estimates = dict(cursor.fetchall())
    return {
        "transfers": max(estimates.get("wallets_transfer", 0), 0),
        "gift_sends": max(estimates.get("payouts_giftsend", 0), 0),
        "payouts": max(estimates.get("payouts_payout", 0), 0),
    }


def staff_client() -> Client:
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(superuser())
    return client


def queries_count(client: Client, url: str) -> dict:
    """One GET in-process: its status, its SQL queries and the rows it shows."""
    # The first request of a page warms caches (content types, templates).
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    result_list = (
        response.context_data["cl"].result_list if response.context_data else []
    )
    return {
        "status": response.status_code,
        "queries": len(captured.captured_queries),
        "rows_shown": len(result_list),
        # Each query's time in ms and its start: which one makes a page slow.
        "sql": [
            f"{float(query['time']) * 1000:.1f} ms: {query['sql'][:300]}"
            for query in captured.captured_queries
        ],
    }
