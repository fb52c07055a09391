import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from catalog.tests.factories import gift_create
from gifting import services, tasks
from gifting.models import CreatorLevel, GiftSend, LevelChange
from wallets.models import DIAMOND_SCALE

from .factories import creator_create, funded_sender

pytestmark = pytest.mark.django_db


def earn(creator, diamonds: int, when):
    """Lion-dance combos that earn the creator `diamonds` at level 1's 50% share."""
    sender = funded_sender(2 * diamonds)
    services.gift_send(
        sender=sender,
        creator=creator,
        gift=gift_create(coin_price=2000),
        quantity=diamonds // 1000,
        placement="live",
        stream_id="s",
        region=None,
        idempotency_key=f"earn-{sender.id}",
        now=when,
    )


def test_five_levels_are_seeded_with_shares_rising_from_fifty_percent():
    levels = list(CreatorLevel.objects.values_list("number", "share_percent"))
    assert [number for number, _ in levels] == [1, 2, 3, 4, 5]
    assert levels[0][1] == Decimal("50.00")
    assert [share for _, share in levels] == sorted(share for _, share in levels)


@pytest.mark.parametrize("share", ["0", "100.01", "-5"])
def test_a_share_outside_zero_to_a_hundred_is_refused(share):
    level = CreatorLevel.objects.get(number=1)
    level.share_percent = Decimal(share)
    with pytest.raises(ValidationError) as error:
        level.full_clean()
    assert "share_percent" in error.value.message_dict


def test_thresholds_must_rise_with_the_level():
    level = CreatorLevel.objects.get(number=3)
    level.min_diamonds_30d = 5_000  # below level 2's 10,000
    with pytest.raises(ValidationError, match="above level 2"):
        level.full_clean()
    level.min_diamonds_30d = 300_000  # above level 4's 200,000
    with pytest.raises(ValidationError, match="below level 4"):
        level.full_clean()


def test_recompute_moves_creators_by_trailing_earnings_and_records_it():
    now = timezone.now()
    rising, climber, faded = (
        creator_create(),
        creator_create(),
        creator_create(level=CreatorLevel.objects.get(number=3)),
    )
    earn(climber, 60_000, now - datetime.timedelta(days=3))
    earn(faded, 60_000, now - datetime.timedelta(days=31))

    moved = services.creator_levels_recompute(now=now)

    assert moved == 2
    for creator in (rising, climber, faded):
        creator.refresh_from_db()
    levels = {c.id: c.level.number for c in (rising, climber, faded)}
    assert levels == {rising.id: 1, climber.id: 3, faded.id: 1}
    change = LevelChange.objects.get(creator=climber)
    assert (change.from_level.number, change.to_level.number, change.diamonds_30d) == (
        1,
        3,
        60_000,
    )


def test_a_pinned_creator_is_left_alone(finance_user):
    creator = creator_create()
    services.creator_level_pin(
        creator=creator,
        level=CreatorLevel.objects.get(number=4),
        actor=finance_user,
        reason="Partner deal",
    )

    assert tasks.recompute_creator_levels.apply().get() == 0
    creator.refresh_from_db()
    assert (creator.level.number, creator.level_pinned) == (4, True)
    assert LevelChange.objects.get(creator=creator).changed_by == finance_user

    services.creator_level_pin(
        creator=creator, level=None, actor=finance_user, reason="x"
    )
    assert services.creator_levels_recompute() == 1
    creator.refresh_from_db()
    assert creator.level.number == 1


def test_earnings_thresholds_count_whole_diamonds():
    assert services.level_for(10_000 * DIAMOND_SCALE - 1).number == 1
    assert services.level_for(10_000 * DIAMOND_SCALE).number == 2
    assert GiftSend.objects.count() == 0


def test_a_pin_made_while_the_recomputation_runs_is_kept(finance_user, monkeypatch):
    creator = creator_create(level=CreatorLevel.objects.get(number=3))
    real_level_for = services.levels.level_for

    def pin_meanwhile(diamond_units_30d):
        # Finance pins the creator after the recomputation read them as unpinned.
        services.creator_level_pin(
            creator=creator,
            level=CreatorLevel.objects.get(number=4),
            actor=finance_user,
            reason="Contract",
        )
        return real_level_for(diamond_units_30d)

    monkeypatch.setattr(services.levels, "level_for", pin_meanwhile)

    assert services.creator_levels_recompute() == 0
    creator.refresh_from_db()
    assert (creator.level.number, creator.level_pinned) == (4, True)
