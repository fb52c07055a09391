"""Coin subscriptions in the month-end books: the coins their charges took and
their refunds gave back, the diamonds issued and taken back, each tied to the
ledger (docs/books.md)."""

import datetime

import pytest

from accounts.roles import FINANCE, SUPPORT
from gifting.tests.factories import creator_create, funded_sender
from reports.exports import books_rows
from reports.selectors import books_for
from subscriptions import services
from subscriptions.tests.factories import tier_create
from wallets import ledger
from wallets.models import DIAMOND_SCALE, AccountKind
from wallets.tests.factories import staff_create

pytestmark = pytest.mark.django_db


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def test_subscription_charges_and_a_refund_have_their_own_lines_and_tie_out():
    # One viewer with 30 bonus coins pays 100 (30 bonus, 70 paid); another pays
    # 200 paid, refunded. Level 1 shares 50 %.
    first = funded_sender(1000)
    ledger.adjustment_post(
        account=ledger.user_account(first, AccountKind.BONUS_COINS),
        amount=30,
        actor_id=1,
        client_key="bonus",
    )
    services.subscription_subscribe(
        subscriber=first,
        tier=tier_create(creator_create(), coin_price=100),
        coin_price=100,
        idempotency_key="a",
    )
    second = funded_sender(1000)
    refunded = services.subscription_subscribe(
        subscriber=second,
        tier=tier_create(creator_create(), coin_price=200),
        coin_price=200,
        idempotency_key="b",
    ).subscription
    services.charge_refund_approve(
        refund=services.charge_refund_request(
            charge=refunded.charges.get(), actor=staff_create(SUPPORT), reason="x"
        ),
        actor=staff_create(FINANCE),
    )

    books = books_for(start=today(), end=today())

    assert (books.subscription_bonus_coins, books.subscription_paid_coins) == (30, 270)
    assert (
        books.subscription_refunded_bonus_coins,
        books.subscription_refunded_paid_coins,
    ) == (0, 200)
    assert books.subscription_diamonds_to_creators == 150 * DIAMOND_SCALE
    assert books.subscription_diamonds_to_platform == 150 * DIAMOND_SCALE
    assert books.subscription_diamonds_back_from_creators == 100 * DIAMOND_SCALE
    assert books.subscription_diamonds_back_from_platform == 100 * DIAMOND_SCALE
    # Gifts are their own lines: none here.
    assert (books.gift_paid_coins, books.diamonds_to_creators) == (0, 0)
    assert books.ties
    rows = {(row[0], row[1]): row[-1] for row in books_rows(books)}
    assert rows["Subscriptions", "Paid coins refunded"] == 200
    assert str(rows["Subscriptions", "Diamonds issued to creators"]) == "150.0000"
