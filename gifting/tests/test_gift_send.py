import datetime
import random
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import Gift
from catalog.tests.factories import gift_create, region_create
from core.idempotency import IdempotencyKeyReused
from gifting import services
from gifting.models import CreatorLevel, GiftSend, StreamGifter
from gifting.selectors import stream_leaderboard
from wallets import ledger
from wallets.ledger import InsufficientBalance
from wallets.models import DIAMOND_SCALE, PendingCredit, Transfer
from wallets.reconciliation import ledger_reconcile
from wallets.selectors import system_balances, wallet_balances
from wallets.tests.factories import user_create

from .factories import creator_create, funded_sender, rose

pytestmark = pytest.mark.django_db


def send(sender, creator, gift, *, quantity=1, key=None, **place):
    place = place or {"placement": "live", "stream_id": "stream-1"}
    return services.gift_send(
        sender=sender,
        creator=creator,
        gift=gift,
        quantity=quantity,
        region=place.pop("region", None),
        idempotency_key=key or f"g-{GiftSend.objects.count()}-{random.random()}",
        **place,
    )


def test_split_is_exact_for_every_share_and_never_drifts():
    rng = random.Random(7)
    creator_total = platform_total = coins_total = expected_creator = 0
    for _ in range(1_000_000):
        coins = rng.choice([1, 5, 50, 100, 500, 2000]) * rng.randint(1, 99)
        share = Decimal(rng.randint(1, 10_000)) / 100
        creator, platform = services.diamond_split(coins=coins, share_percent=share)
        creator_total += creator
        platform_total += platform
        coins_total += coins
        expected_creator += coins * share * 100
    assert creator_total + platform_total == coins_total * DIAMOND_SCALE
    assert creator_total == expected_creator


@pytest.mark.parametrize(
    ("coins", "share", "creator", "platform"),
    [
        (1, Decimal("50"), 5000, 5000),
        (1, Decimal("33.33"), 3333, 6667),
        (3, Decimal("0.01"), 3, 29997),
        (2000, Decimal("100"), 20_000_000, 0),
    ],
)
def test_split_examples(coins, share, creator, platform):
    assert services.diamond_split(coins=coins, share_percent=share) == (
        creator,
        platform,
    )


def test_a_share_with_three_decimals_is_refused():
    with pytest.raises(ValueError):
        services.diamond_split(coins=1, share_percent=Decimal("33.333"))


def test_a_gift_moves_coins_to_the_platform_and_diamonds_to_the_creator():
    sender, creator = funded_sender(1000), creator_create()
    lion = gift_create(slug="lion", coin_price=100)

    result = send(sender, creator, lion, quantity=3)

    gift_send = result.gift_send
    assert result.created
    assert (gift_send.coin_price, gift_send.quantity, gift_send.coins) == (100, 3, 300)
    assert gift_send.share_percent == Decimal("50.00")
    assert gift_send.creator_diamond_units == 150 * DIAMOND_SCALE
    assert wallet_balances(user=sender).coins == 700
    assert wallet_balances(user=creator.user).diamond_units == 150 * DIAMOND_SCALE
    assert system_balances()["platform_revenue"] == 150 * DIAMOND_SCALE
    assert PendingCredit.objects.count() == 1
    assert ledger_reconcile().is_clean


def test_folding_moves_pending_earnings_into_the_balance_once():
    sender, creator, gift = funded_sender(100), creator_create(), rose()
    for _ in range(3):
        send(sender, creator, gift)
    account = creator.user.ledger_accounts.get(kind="diamonds")

    assert ledger.pending_credits_fold(account_id=account.id) == 3 * 5000
    assert ledger.pending_credits_fold(account_id=account.id) == 0
    account.refresh_from_db()
    assert account.balance == 3 * 5000
    assert not PendingCredit.objects.exists()
    assert wallet_balances(user=creator.user).diamond_units == 3 * 5000
    assert ledger_reconcile().is_clean


def nothing_moved(sender, before):
    return (
        wallet_balances(user=sender).coins == before
        and not GiftSend.objects.exists()
        and not Transfer.objects.filter(kind__startswith="gift").exists()
    )


def test_too_small_a_balance_refuses_with_the_balance_and_moves_nothing():
    sender, creator = funded_sender(100), creator_create()
    gift = gift_create(slug="chair", coin_price=500)

    with pytest.raises(
        InsufficientBalance, match="100 available, 500 needed"
    ) as refusal:
        send(sender, creator, gift)

    assert refusal.value.extra == {"balance": 100, "needed": 500}
    assert nothing_moved(sender, 100)


def refusal_cases():
    now = timezone.now()
    hour = datetime.timedelta(hours=1)
    return {
        "quantity zero": ({"quantity": 0}, {}, {}, "quantity"),
        "quantity 100": ({"quantity": 100}, {}, {}, "quantity"),
        "gift inactive": ({}, {"is_active": False}, {}, "gift"),
        "gift not yet": ({}, {"available_from": now + hour}, {}, "gift"),
        "gift over": (
            {},
            {"available_until": now - hour, "available_from": now - 2 * hour},
            {},
            "gift",
        ),
        "live-only gift in a comment": (
            {"placement": "comment", "video_id": "v1"},
            {"placement": Gift.Placement.LIVE},
            {},
            "gift",
        ),
        "live without stream": ({"placement": "live"}, {}, {}, "stream_id"),
        "comment without video": ({"placement": "comment"}, {}, {}, "video_id"),
        "creator suspended": ({}, {}, {"suspended": True}, "creator"),
        "creator gifts off": ({}, {}, {"gifts_enabled": False}, "creator"),
        "creator few followers": ({}, {}, {"follower_count": 999}, "creator"),
    }


@pytest.mark.parametrize("case", list(refusal_cases()))
def test_each_refusal_names_its_field_and_moves_nothing(case):
    place_and_quantity, gift_fields, creator_fields, field = refusal_cases()[case]
    sender = funded_sender(100)
    creator = creator_create(**creator_fields)
    gift = rose(**gift_fields)
    quantity = place_and_quantity.pop("quantity", 1)
    place = place_and_quantity or {"placement": "live", "stream_id": "s1"}

    with pytest.raises(services.GiftRefused) as refusal:
        send(sender, creator, gift, quantity=quantity, **place)

    assert refusal.value.field == field
    assert nothing_moved(sender, 100)


def test_a_creator_under_18_cannot_receive():
    sender = funded_sender(100)
    minor = creator_create(user=user_create(birth_date=datetime.date.today()))
    with pytest.raises(services.GiftRefused, match="18") as refusal:
        send(sender, minor, rose())
    assert refusal.value.field == "creator"
    assert nothing_moved(sender, 100)


def test_a_sender_cannot_gift_themselves():
    sender = funded_sender(100)
    creator = creator_create(user=sender)
    with pytest.raises(services.GiftRefused, match="yourself"):
        send(sender, creator, rose())
    assert nothing_moved(sender, 100)


def test_an_under_age_sender_is_refused_with_403():
    sender = funded_sender(100)
    sender.birth_date = datetime.date.today()
    sender.save()
    with pytest.raises(services.GiftRefused) as refusal:
        send(sender, creator_create(), rose())
    assert (refusal.value.status_code, refusal.value.code) == (403, "under_age")
    assert nothing_moved(sender, 100)


def test_a_region_limited_gift_goes_by_the_senders_home_region():
    sender, creator = funded_sender(100), creator_create()  # home region US
    jp, us = region_create("JP", currency="JPY"), region_create("US")
    gift = rose(regions=[jp])

    for named in (None, us, jp):
        with pytest.raises(services.GiftRefused, match="region") as refused:
            send(sender, creator, gift, placement="live", stream_id="s", region=named)
        assert refused.value.field == ("region" if named == jp else "gift")
    assert nothing_moved(sender, 100)
    gift.regions.add(us)
    assert send(sender, creator, gift, placement="live", stream_id="s").created
    assert send(
        sender, creator, gift, placement="live", stream_id="s", region=us
    ).created


def test_the_same_key_returns_the_first_send_and_moves_nothing():
    sender, creator, gift = funded_sender(100), creator_create(), rose()
    first = send(sender, creator, gift, key="same")

    again = send(sender, creator, gift, key="same")
    with pytest.raises(IdempotencyKeyReused):
        send(sender, creator, gift, key="same", quantity=5)

    assert not again.created
    assert again.gift_send == first.gift_send
    assert wallet_balances(user=sender).coins == 99
    assert GiftSend.objects.count() == 1


def test_a_share_change_applies_to_gifts_sent_after_it_and_not_before():
    sender, creator, gift = funded_sender(100), creator_create(), rose()
    before = send(sender, creator, gift).gift_send
    CreatorLevel.objects.filter(number=1).update(share_percent=Decimal("60.50"))
    creator.refresh_from_db()

    after = send(sender, creator, gift).gift_send

    before.refresh_from_db()
    assert (before.share_percent, before.creator_diamond_units) == (
        Decimal("50.00"),
        5000,
    )
    assert (after.share_percent, after.creator_diamond_units) == (
        Decimal("60.50"),
        6050,
    )


def test_leaderboard_orders_by_coins_and_breaks_ties_by_who_got_there_first():
    creator, gift = creator_create(), rose()
    a, b, c = funded_sender(100), funded_sender(100), funded_sender(100)
    start = timezone.now()
    for sender, quantity, minutes in [(a, 5, 1), (b, 5, 2), (c, 3, 0), (c, 4, 3)]:
        services.gift_send(
            sender=sender,
            creator=creator,
            gift=gift,
            quantity=quantity,
            placement="live",
            stream_id="s1",
            region=None,
            idempotency_key=f"{sender.id}-{minutes}",
            now=start + datetime.timedelta(minutes=minutes),
        )

    board = StreamGifter.objects.filter(creator=creator, stream_id="s1")
    assert [
        (e.display_name, e.coins) for e in stream_leaderboard(stream_id="s1", limit=10)
    ] == [
        (c.public_name, 7),
        (a.public_name, 5),
        (b.public_name, 5),
    ]
    assert board.count() == 3
    assert [e.display_name for e in stream_leaderboard(stream_id="s1", limit=1)] == [
        c.public_name
    ]


def test_facts_read_for_another_send_are_refused_and_move_nothing():
    from gifting.selectors import gift_send_subjects

    sender, other = funded_sender(100), funded_sender(100)
    creator, gift = creator_create(), rose(coin_price=3)
    theirs = gift_send_subjects(
        sender_id=other.id, gift_slug="rose", creator_id=creator.id, region_code=None
    ).facts

    with pytest.raises(ValueError, match="another gift send"):
        services.gift_send(
            sender=sender,
            creator=creator,
            gift=gift,
            quantity=1,
            placement="live",
            stream_id="s",
            region=None,
            idempotency_key="k",
            facts=theirs,
        )
    assert not GiftSend.objects.exists()
    assert wallet_balances(user=sender).coins == 100


def test_a_repeat_after_the_coins_ran_out_answers_the_first_send():
    """The send's row goes in before any coin moves: its key finds the repeat even
    when the sender could no longer pay for it (on PostgreSQL: one statement, whose
    insert runs before its posting)."""
    sender, creator, gift = funded_sender(6), creator_create(), rose(coin_price=3)

    def send():
        return services.gift_send(
            sender=sender,
            creator=creator,
            gift=gift,
            quantity=2,
            placement="live",
            stream_id="s",
            region=None,
            idempotency_key="all-in",
        )

    first = send()
    assert wallet_balances(user=sender).coins == 0
    again = send()

    assert (first.created, again.created) == (True, False)
    assert again.gift_send.id == first.gift_send.id
    assert GiftSend.objects.count() == 1
