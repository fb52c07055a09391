"""The month-end books (issue 17): figures for a built scene equal the hand-computed
ones, every ledger group ties out, range edges are UTC days with both ends included,
and the report costs the same queries whatever the volume."""

import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from djmoney.money import Money

from accounts.roles import FINANCE
from catalog.models import BundlePrice, Gift
from gifting import services as gifting_services
from gifting.tests.factories import creator_create, rich_creator, rose
from payouts import services as payout_services
from reports.selectors import books_default_range, books_for
from wallets import ledger
from wallets import services as wallet_services
from wallets.models import DIAMOND_SCALE, AccountKind, LedgerAccount, Transfer
from wallets.stores import sandbox_receipt
from wallets.tests.factories import (
    bundle_create,
    on_sale,
    price_create,
    purchase_buy,
    region_create,
    staff_create,
    user_create,
)

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def web_purchase(user, bundle, region, key):
    return wallet_services.purchase_record(
        user=user,
        bundle=bundle,
        region=region,
        channel="web",
        store="web",
        receipt=sandbox_receipt(user.id, bundle.sku, f"txn-{key}", store="web"),
        idempotency_key=key,
    ).purchase


def gift(sender, coins: int, key: str):
    """`coins` worth of 10-coin roses to a new level-1 creator (a 50 % share)."""
    gifting_services.gift_send(
        sender=sender,
        creator=creator_create(),
        gift=Gift.objects.filter(slug="rose").first() or rose(coin_price=10),
        quantity=coins // 10,
        placement="live",
        stream_id="s",
        region=None,
        idempotency_key=key,
    )


def scene(n: int = 0) -> None:
    """Two currencies and two stores, gifts, a refund, an unrecovered store refund, a
    payout paid with its fee and one still held; `n` keeps keys apart."""
    us = region_create("US")
    jp = region_create("JP", currency="JPY")
    # USD 4.99 for 100 coins and 10 bonus coins, in the App Store.
    app_bundle, _ = on_sale(coins=100, amount="4.99", region=us, bonus_coins=10)
    buyer = user_create()
    first = purchase_buy(buyer, app_bundle, us, key=f"a{n}").purchase
    second = purchase_buy(buyer, app_bundle, us, key=f"b{n}").purchase
    assert first.bonus_coins == 10
    wallet_services.purchase_refund(
        purchase=second, actor=None, reason="Asked", source="finance"
    )
    # 10 bonus coins first, then 20 of the first purchase's paid coins.
    gift(buyer, 30, f"g1-{n}")

    # USD 19.99 for 500 coins on the web store.
    web_bundle, _ = on_sale(coins=500, amount="19.99", region=us)
    price_create(web_bundle, us, "19.99", channel=BundlePrice.Channel.WEB)
    web_purchase(user_create(), web_bundle, us, f"w{n}")

    # JPY 800 for 100 coins; 30 spent, then the App Store refunds it: 70 come back.
    jp_bundle, _ = on_sale(coins=100, amount="800", region=jp)
    jp_buyer = user_create()
    purchase_buy(jp_buyer, jp_bundle, jp, key=f"j{n}", txn=f"jp-{n}")
    gift(jp_buyer, 30, f"g2-{n}")
    wallet_services.store_refund_notification_handle(
        store="apple", transaction_id=f"jp-{n}"
    )

    finance = staff_create(FINANCE)
    paid = payout_services.payout_request(
        creator=rich_creator(diamonds=30_000, paypal_email=f"p{n}@example.com"),
        diamond_units=20_000 * DIAMOND_SCALE,
        idempotency_key=f"p{n}",
    ).payout
    payout_services.payout_approve(payout=paid, actor=finance)
    # Sent here, or already by the task the approval queued when it committed.
    payout_services.payouts_send(payout_ids=[paid.id])
    paid.refresh_from_db()
    assert paid.status == "paid"
    payout_services.payout_request(
        creator=rich_creator(diamonds=30_000, paypal_email=f"h{n}@example.com"),
        diamond_units=25_000 * DIAMOND_SCALE,
        idempotency_key=f"h{n}",
    )


def test_the_books_of_a_scene_equal_the_hand_computed_figures():
    scene()

    books = books_for(start=today(), end=today())

    lines = {(line.currency, line.store): line for line in books.sales}
    assert list(lines) == [("JPY", "apple"), ("USD", "apple"), ("USD", "web")]
    jpy = lines["JPY", "apple"]
    assert (jpy.purchases, jpy.paid_coins, jpy.bonus_coins) == (1, 100, 0)
    assert jpy.revenue == Money("800.00", "JPY")
    assert (jpy.refunds, jpy.refunded) == (1, Money("800.00", "JPY"))
    assert (jpy.paid_coins_taken_back, jpy.bonus_coins_taken_back) == (70, 0)
    # 30 of 100 coins spent: JPY 800 x 0.3.
    assert (jpy.unrecovered, jpy.unrecovered_paid_coins) == (1, 30)
    assert jpy.unrecovered_value == Money("240.00", "JPY")
    usd = lines["USD", "apple"]
    assert (usd.purchases, usd.paid_coins, usd.bonus_coins) == (2, 200, 20)
    assert usd.revenue == Money("9.98", "USD")
    assert (usd.refunds, usd.refunded) == (1, Money("4.99", "USD"))
    assert (usd.paid_coins_taken_back, usd.bonus_coins_taken_back) == (100, 10)
    assert (usd.unrecovered, usd.unrecovered_value) == (0, Money("0", "USD"))
    web = lines["USD", "web"]
    assert (web.purchases, web.paid_coins, web.revenue) == (
        1,
        500,
        Money("19.99", "USD"),
    )
    assert web.refunds == 0

    # 60 coins gifted: 10 bonus and 50 paid; each 30 earns 15 diamonds a side.
    assert (books.gift_bonus_coins, books.gift_paid_coins) == (10, 50)
    assert books.diamonds_to_platform == 30 * DIAMOND_SCALE
    # The two rich creators' 30,000 each are earnings too.
    assert books.diamonds_to_creators == 60_030 * DIAMOND_SCALE
    # 80 left of the first USD purchase, the web's 500, none of the JPY one.
    assert (books.paid_coins_opening, books.paid_coins_closing) == (0, 580)
    # 60,030 earned, 20,000 paid out; the 25,000 held are still owed.
    assert books.diamonds_outstanding_opening == 0
    assert books.diamonds_outstanding_closing == 40_030 * DIAMOND_SCALE
    assert books.cash_liability_opening == Money("0.00", "USD")
    assert books.cash_liability_closing == Money("200.15", "USD")
    # 20,000 diamonds at 0.005: USD 100; fee 0.25 + 1 %.
    (payouts,) = books.payouts
    assert (payouts.currency, payouts.payouts, payouts.diamond_units) == (
        "USD",
        1,
        20_000 * DIAMOND_SCALE,
    )
    assert (payouts.gross, payouts.fees, payouts.net) == (
        Money("100.00", "USD"),
        Money("1.25", "USD"),
        Money("98.75", "USD"),
    )
    assert books.ties
    assert all(line.ties for line in books.tie_outs)
    paid_coins = next(
        line for line in books.tie_outs if line.kind == AccountKind.PAID_COINS
    )
    assert dict(paid_coins.movements) == {
        "Purchase": 800,
        "Refund": -170,
        "Gift": -50,
    }
    assert books.unit_totals == {"coin": 0, "diamond": 0}


def test_a_range_before_the_scene_is_empty_and_one_after_opens_with_its_closing():
    scene()
    before = books_for(start=today() - 31 * DAY, end=today() - DAY)
    after = books_for(start=today() + DAY, end=today() + 2 * DAY)

    assert before.sales == [] and before.payouts == []
    assert before.paid_coins_closing == 0
    assert after.sales == [] and after.gift_paid_coins == 0
    assert after.paid_coins_opening == after.paid_coins_closing == 580
    assert after.diamonds_outstanding_opening == 40_030 * DIAMOND_SCALE
    assert after.ties and before.ties


def _bonus_credit(amount: int, at: datetime.datetime, user) -> None:
    with transaction.atomic():
        ledger.transfers_post(
            [
                ledger.Leg(
                    debit=ledger.system_account(AccountKind.BONUS_ADJUSTMENTS),
                    credit=ledger.user_account(user, AccountKind.BONUS_COINS),
                    amount=amount,
                    kind=Transfer.Kind.ADJUSTMENT,
                    idempotency_key=f"edge:{amount}",
                )
            ],
            reference=f"adjustment:{user.id}",
            now=at,
        )


def test_both_days_are_included_and_days_are_utc():
    user = user_create()
    first, last = datetime.date(2026, 3, 1), datetime.date(2026, 3, 31)
    midnight = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
    april = datetime.datetime(2026, 4, 1, tzinfo=datetime.UTC)
    _bonus_credit(1, midnight - datetime.timedelta(microseconds=1), user)
    _bonus_credit(10, midnight, user)
    _bonus_credit(100, april - datetime.timedelta(microseconds=1), user)
    _bonus_credit(1000, april, user)
    # 23:30 on 31 March in New York is 1 April in UTC: the next month's books.
    new_york = datetime.timezone(datetime.timedelta(hours=-4))
    _bonus_credit(10_000, datetime.datetime(2026, 3, 31, 23, 30, tzinfo=new_york), user)

    books = books_for(start=first, end=last)

    bonus = next(line for line in books.tie_outs if line.kind == "bonus_coins")
    assert (bonus.opening, bonus.movements, bonus.closing) == (
        1,
        [("Manual adjustment", 110)],
        111,
    )
    assert books.ties
    one_day = books_for(start=last, end=last)
    bonus = next(line for line in one_day.tie_outs if line.kind == "bonus_coins")
    assert (bonus.opening, bonus.moved, bonus.closing) == (11, 100, 111)


def test_a_range_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="end before they start"):
        books_for(start=today(), end=today() - DAY)


def test_a_line_that_does_not_tie_says_by_how_much():
    from reports.selectors import TieOut

    line = TieOut(
        unit="coin",
        kind=AccountKind.PAID_COINS,
        opening=100,
        movements=[("Purchase", 50), ("Gift", -20)],
        closing=131,
    )
    assert (line.ties, line.difference, line.label) == (False, 1, "Paid coins")


def test_the_default_range_is_the_last_full_month():
    assert books_default_range(datetime.date(2026, 12, 7)) == (
        datetime.date(2026, 11, 1),
        datetime.date(2026, 11, 30),
    )
    assert books_default_range(datetime.date(2027, 1, 1)) == (
        datetime.date(2026, 12, 1),
        datetime.date(2026, 12, 31),
    )
    assert books_default_range(datetime.date(2028, 3, 31)) == (
        datetime.date(2028, 2, 1),
        datetime.date(2028, 2, 29),
    )


def test_the_books_cost_the_same_queries_for_any_volume(django_assert_num_queries):
    scene(0)
    # Transfers, sales, refunds, unrecovered refunds, payouts, two cash rates.
    with django_assert_num_queries(7):
        books_for(start=today() - 30 * DAY, end=today())
    for n in range(1, 4):
        scene(n)
    with django_assert_num_queries(7):
        books = books_for(start=today() - 30 * DAY, end=today())
    assert books.payouts[0].payouts == 4
    assert books.ties


def test_cached_balances_agree_with_the_books_closing():
    scene()
    books = books_for(start=today(), end=today())
    held = sum(
        LedgerAccount.objects.filter(kind=AccountKind.PAID_COINS).values_list(
            "balance", flat=True
        )
    )
    assert books.paid_coins_closing == held
    assert Decimal(books.paid_coins_closing) == Decimal(580)


def test_a_sale_and_a_payout_at_midnight_belong_to_the_day_that_starts(monkeypatch):
    """The raw sums (sales, payouts) cut days where the ledger's sums do."""
    midnight = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
    us = region_create("US")
    bundle = bundle_create(coins=100, price="4.99")
    price_create(bundle, us, "4.99", effective_at=midnight - 30 * DAY)
    finance = staff_create(FINANCE)
    creator = rich_creator(diamonds=30_000)
    monkeypatch.setattr("django.utils.timezone.now", lambda: midnight)
    purchase_buy(user_create(), bundle, us, key="midnight")
    payout = payout_services.payout_request(
        creator=creator, diamond_units=20_000 * DIAMOND_SCALE, idempotency_key="m"
    ).payout
    payout_services.payout_approve(payout=payout, actor=finance)
    payout_services.payouts_send(payout_ids=[payout.id], now=midnight)
    assert Transfer.objects.filter(created_at=midnight).count() == 3

    june = books_for(start=datetime.date(2026, 6, 1), end=datetime.date(2026, 6, 1))
    may = books_for(start=datetime.date(2026, 5, 1), end=datetime.date(2026, 5, 31))

    assert [(line.currency, line.paid_coins) for line in june.sales] == [("USD", 100)]
    assert [line.payouts for line in june.payouts] == [1]
    assert may.sales == [] and may.payouts == []
    assert june.ties and may.ties


def test_a_purchase_refunded_by_the_platform_and_the_store_loses_its_whole_price():
    bundle, region = on_sale(coins=100, amount="4.99")
    bought = purchase_buy(user_create(), bundle, region, key="twice", txn="tw-1")
    bought = bought.purchase
    wallet_services.purchase_refund(
        purchase=bought, actor=None, reason="Asked support", source="finance"
    )
    wallet_services.store_refund_notification_handle(
        store=bought.store, transaction_id="tw-1"
    )

    books = books_for(start=today(), end=today())

    (line,) = books.sales
    assert (line.refunds, line.refunded) == (1, Money("4.99", "USD"))
    assert (line.unrecovered, line.unrecovered_paid_coins) == (1, 0)
    assert line.unrecovered_value == Money("4.99", "USD")
