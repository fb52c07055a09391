"""The ledger's two postings leave the same books: `ledger_post` on PostgreSQL
(one round trip) and `ledger.python_post` (the ORM, SQLite's path).

Hypothesis draws a random sequence of purchases, gift sends, refunds, payout
requests and rejections. It runs once with each posting, from the same start, each
run rolled back after it is read; the outcome of every step (what it returned or
the error it raised) and everything the ledger wrote must be the same: transfers in
order, balances, pending credits, purchase lots, gift sends, the leaderboard,
payouts and audit records. Ids differ between the runs (sequences never roll
back), so references are compared by the order their objects were created in.
"""

import contextlib
import datetime
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.roles import FINANCE
from audit.models import AuditRecord
from core.errors import ServiceError
from gifting import services as gifting_services
from gifting.models import GiftSend, StreamGifter
from gifting.tests.factories import creator_create, rich_creator, rose
from payouts import services as payout_services
from payouts.models import DiamondCashRate, Payout, PayoutRules
from wallets import services as wallet_services
from wallets.models import LedgerAccount, PendingCredit, Purchase, Transfer
from wallets.tests.factories import (
    bundle_create,
    price_create,
    purchase_buy,
    region_create,
    staff_create,
    user_create,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="compares PostgreSQL's ledger_post with the Python posting",
    ),
]

EXAMPLES = hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

BUYERS = 3
CREATORS = 2

steps = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.integers(0, BUYERS - 1), st.integers(0, 1)),
        st.tuples(
            st.just("gift"),
            st.integers(0, BUYERS - 1),
            st.integers(0, CREATORS - 1),
            st.integers(0, 1),
            st.integers(1, 7),
            st.booleans(),
        ),
        st.tuples(st.just("refund"), st.integers(0, 5)),
        st.tuples(st.just("payout"), st.integers(0, CREATORS - 1), st.integers(1, 900)),
        st.tuples(st.just("reject"), st.integers(0, 3)),
        # A repeat of an earlier step's key: a replay moves nothing.
        st.tuples(st.just("replay"), st.integers(0, 11)),
    ),
    min_size=1,
    max_size=12,
)


@contextlib.contextmanager
def _rolled_back():
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def _world():
    region = region_create()
    bundles = []
    for coins, bonus in ((40, 0), (25, 10)):
        bundle = bundle_create(coins=coins, price="1.99", bonus_coins=bonus)
        price_create(bundle, region, "1.99")
        bundles.append(bundle)
    PayoutRules.objects.filter(currency="USD").update(
        minimum_cashout=Decimal("0.01"),
        fee_fixed=Decimal("0"),
        fee_percent=Decimal("0"),
        daily_maximum=Decimal("9999999999.99"),
    )
    DiamondCashRate.objects.create(
        currency="USD",
        rate=Decimal("0.01"),
        effective_at=timezone.now() - datetime.timedelta(seconds=1),
    )
    return {
        "region": region,
        "bundles": bundles,
        "buyers": [user_create() for _ in range(BUYERS)],
        # One creator who can cash out (some diamonds already), one who cannot.
        "creators": [rich_creator(diamonds=500), creator_create()],
        "gifts": [rose(coin_price=3), rose(slug="lion", name="Lion", coin_price=11)],
        "finance": staff_create(FINANCE),
    }


def _run(world, script) -> list:
    """Play the steps; returns each one's outcome."""
    outcomes, done = [], []
    for n, step in enumerate(script):
        if step[0] == "replay":
            if not done:
                continue
            step, n = done[step[1] % len(done)]
        try:
            with transaction.atomic():
                outcomes.append(_step(world, step, key=f"k{n}"))
            done.append((step, n))
        except ServiceError as refusal:
            # Messages name objects by id, which differ between the runs.
            outcomes.append(
                (type(refusal).__name__, re.sub(r"#\d+", "#", str(refusal)))
            )
    return outcomes


def _step(world, step, *, key):
    kind = step[0]
    if kind == "buy":
        _, buyer, bundle = step
        result = purchase_buy(
            world["buyers"][buyer], world["bundles"][bundle], world["region"], key=key
        )
        return ("bought", result.created, result.purchase.coins)
    if kind == "gift":
        _, sender, creator, gift, quantity, live = step
        result = gifting_services.gift_send(
            sender=world["buyers"][sender],
            creator=world["creators"][creator],
            gift=world["gifts"][gift],
            quantity=quantity,
            placement="live" if live else "comment",
            stream_id="stream-1" if live else "",
            video_id="" if live else "video-1",
            region=None,
            idempotency_key=key,
        )
        send = result.gift_send
        return ("sent", result.created, send.coins, send.creator_diamond_units)
    if kind == "refund":
        purchases = list(Purchase.objects.order_by("id"))
        if not purchases:
            return ("no purchase",)
        result = wallet_services.purchase_refund(
            purchase=purchases[step[1] % len(purchases)],
            actor=world["finance"],
            reason="differential",
            source=Purchase.RefundSource.FINANCE,
        )
        return (
            "refunded",
            result.refunded,
            result.bonus_taken_back,
            result.paid_taken_back,
            str(result.shortfall),
        )
    if kind == "payout":
        _, creator, whole = step
        result = payout_services.payout_request(
            creator=world["creators"][creator],
            diamond_units=whole * 10_000,
            idempotency_key=key,
        )
        return ("held", result.created, result.payout.diamond_units)
    if kind == "reject":
        open_ = list(
            Payout.objects.filter(status=Payout.Status.REQUESTED).order_by("id")
        )
        if not open_:
            return ("no payout",)
        payout = payout_services.payout_reject(
            payout=open_[step[1] % len(open_)], actor=world["finance"], reason="no"
        )
        return ("rejected", payout.status)
    raise AssertionError(kind)


def _books(world, *, audit_after: int) -> dict:
    """Everything the run wrote, with run-specific ids replaced by creation order."""
    ordinals = {}
    for prefix, model in (
        ("gift", GiftSend),
        ("purchase", Purchase),
        ("payout", Payout),
    ):
        for ordinal, pk in enumerate(
            model.objects.order_by("id").values_list("id", flat=True)
        ):
            ordinals[f"{prefix}:{pk}"] = f"{prefix}#{ordinal}"

    def same(text: str) -> str:
        return re.sub(r"(gift|purchase|payout):\d+", lambda m: ordinals[m[0]], text)

    accounts = {
        account.id: (account.owner_id, account.kind)
        for account in LedgerAccount.objects.all()
    }
    purchase_order = {
        pk: n
        for n, pk in enumerate(
            Purchase.objects.order_by("id").values_list("id", flat=True)
        )
    }
    return {
        "transfers": [
            (
                t.kind,
                accounts[t.debit_account_id],
                accounts[t.credit_account_id],
                t.unit,
                t.amount,
                same(t.reference),
                same(t.idempotency_key),
            )
            for t in Transfer.objects.order_by("id")
        ],
        "balances": sorted(
            (accounts[a.id], a.balance)
            for a in LedgerAccount.objects.filter(owner__isnull=False)
        ),
        "pending": [
            (accounts[p.account_id], p.amount, same(p.transfer.idempotency_key))
            for p in PendingCredit.objects.select_related("transfer").order_by("id")
        ],
        "lots": [
            (purchase_order[p.id], p.paid_coins_remaining, p.status)
            for p in Purchase.objects.order_by("id")
        ],
        "gift_sends": list(
            GiftSend.objects.order_by("id").values_list(
                "sender_id",
                "creator_id",
                "gift_id",
                "quantity",
                "coins",
                "creator_diamond_units",
                "platform_diamond_units",
                "stream_id",
                "idempotency_key",
            )
        ),
        "leaderboard": sorted(
            StreamGifter.objects.values_list("stream_id", "sender_id", "coins")
        ),
        "payouts": list(
            Payout.objects.order_by("id").values_list(
                "creator_id", "status", "diamond_units", "gross_amount"
            )
        ),
        "audit": [
            (
                record.model,
                record.operation,
                record.changed_fields,
                _without_ids(record.before),
                _without_ids(record.after),
            )
            for record in AuditRecord.objects.filter(id__gt=audit_after).order_by("id")
        ],
    }


def _without_ids(row):
    if row is None:
        return None
    return {
        key: value
        for key, value in row.items()
        if key != "id" and not key.endswith("_at") and key != "reference"
    }


@EXAMPLES
@given(script=steps)
def test_both_postings_leave_the_same_books(script):
    with _rolled_back():
        world = _world()
        audit_after = (
            AuditRecord.objects.order_by("-id").values_list("id", flat=True).first()
            or 0
        )
        seen = {}
        for posting in ("python", "database"):
            with override_settings(LEDGER_POSTING=posting), _rolled_back():
                outcomes = _run(world, script)
                seen[posting] = (outcomes, _books(world, audit_after=audit_after))
        python_outcomes, python_books = seen["python"]
        database_outcomes, database_books = seen["database"]
        assert database_outcomes == python_outcomes
        for part, expected in python_books.items():
            assert database_books[part] == expected, part


def test_the_database_posting_is_what_runs_on_postgresql(settings):
    """Not the Python one by accident: a gift's legs are one `ledger_post` call
    (read as sent: unprepared)."""
    settings.DATABASE_PREPARED_STATEMENTS = False
    from django.test.utils import CaptureQueriesContext

    with _rolled_back():
        world = _world()
        purchase_buy(world["buyers"][0], world["bundles"][0], world["region"], key="b")
        with CaptureQueriesContext(connection) as captured:
            _step(world, ("gift", 0, 1, 0, 2, True), key="g")
    posts = [q["sql"] for q in captured.captured_queries if "ledger_post(" in q["sql"]]
    assert len(posts) == 1
    assert "INSERT INTO payouts_giftsend" in posts[0]
