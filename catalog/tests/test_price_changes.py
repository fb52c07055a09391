import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from catalog import services, tasks
from catalog.models import GiftPriceChange

from .factories import gift_create

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)


def test_a_change_in_the_past_is_refused_and_nothing_is_queued(catalog_editor):
    gift = gift_create(coin_price=5)
    with pytest.raises(ValidationError) as error:
        services.gift_price_change_schedule(
            gift=gift,
            coin_price=9,
            effective_at=timezone.now() - MINUTE,
            actor=catalog_editor,
        )
    assert error.value.message_dict == {
        "effective_at": ["The moment must be in the future."]
    }
    assert not GiftPriceChange.objects.exists()


def test_a_price_outside_range_is_refused(catalog_editor):
    gift = gift_create(coin_price=5)
    with pytest.raises(ValidationError) as error:
        services.gift_price_change_schedule(
            gift=gift, coin_price=0, effective_at=timezone.now() + MINUTE, actor=None
        )
    assert "coin_price" in error.value.message_dict
    assert not GiftPriceChange.objects.exists()


def test_price_stays_until_its_moment_then_goes_live_with_who_scheduled_it(
    catalog_editor, api_client
):
    gift = gift_create(slug="rose", coin_price=5)
    moment = timezone.now() + 10 * MINUTE
    change = services.gift_price_change_schedule(
        gift=gift, coin_price=8, effective_at=moment, actor=catalog_editor
    )

    assert services.gift_price_changes_apply_due(now=moment - MINUTE) == 0
    assert api_client.get("/api/v1/gifts/rose/").json()["coin_price"] == 5

    assert services.gift_price_changes_apply_due(now=moment) == 1
    gift.refresh_from_db()
    change.refresh_from_db()
    assert gift.coin_price == 8
    assert change.applied_at == moment
    assert api_client.get("/api/v1/gifts/rose/").json()["coin_price"] == 8
    latest = gift.history.latest("history_date")
    assert latest.history_user == catalog_editor
    assert latest.history_change_reason == f"Scheduled price change #{change.id}"


def test_queued_changes_apply_in_order_of_their_moments(catalog_editor):
    gift = gift_create(coin_price=5)
    start = timezone.now()
    for price, minutes in [(30, 3), (10, 1), (20, 2)]:
        services.gift_price_change_schedule(
            gift=gift,
            coin_price=price,
            effective_at=start + minutes * MINUTE,
            actor=catalog_editor,
        )

    assert services.gift_price_changes_apply_due(now=start + 2 * MINUTE) == 2
    gift.refresh_from_db()
    assert gift.coin_price == 20

    assert services.gift_price_changes_apply_due(now=start + 5 * MINUTE) == 1
    history = gift.history.order_by("history_date").values_list("coin_price", flat=True)
    assert list(history) == [5, 10, 20, 30]


def test_running_the_task_twice_applies_a_change_once(catalog_editor, monkeypatch):
    gift = gift_create(coin_price=5)
    services.gift_price_change_schedule(
        gift=gift,
        coin_price=6,
        effective_at=timezone.now() + MINUTE,
        actor=catalog_editor,
    )
    later = timezone.now() + 2 * MINUTE
    monkeypatch.setattr(timezone, "now", lambda: later)

    assert tasks.apply_due_price_changes.apply().get() == 1
    assert tasks.apply_due_price_changes.apply().get() == 0
    assert gift.history.count() == 2


def test_a_pending_change_whose_moment_passed_can_still_be_saved_unchanged(
    catalog_editor, monkeypatch
):
    gift = gift_create()
    change = services.gift_price_change_schedule(
        gift=gift,
        coin_price=6,
        effective_at=timezone.now() + MINUTE,
        actor=catalog_editor,
    )
    later = timezone.now() + 2 * MINUTE
    monkeypatch.setattr(timezone, "now", lambda: later)

    change.full_clean()
    change.effective_at = later - datetime.timedelta(seconds=1)
    with pytest.raises(ValidationError):
        change.full_clean()


def test_an_applied_change_can_no_longer_be_edited(catalog_editor):
    gift = gift_create()
    change = services.gift_price_change_schedule(
        gift=gift,
        coin_price=6,
        effective_at=timezone.now() + MINUTE,
        actor=catalog_editor,
    )
    services.gift_price_changes_apply_due(now=timezone.now() + 2 * MINUTE)
    change.refresh_from_db()
    change.coin_price = 7
    with pytest.raises(ValidationError, match="already live"):
        change.full_clean()


def test_a_pending_change_is_rescheduled_but_a_live_one_is_refused(catalog_editor):
    gift = gift_create(coin_price=5)
    change = services.gift_price_change_schedule(
        gift=gift,
        coin_price=6,
        effective_at=timezone.now() + MINUTE,
        actor=catalog_editor,
    )
    later = timezone.now() + 3 * MINUTE
    moved = services.gift_price_change_reschedule(
        change=change, coin_price=7, effective_at=later
    )
    assert (moved.coin_price, moved.effective_at) == (7, later)

    services.gift_price_changes_apply_due(now=later)
    with pytest.raises(ValidationError, match="already live"):
        services.gift_price_change_reschedule(
            change=change, coin_price=8, effective_at=later + MINUTE
        )
    change.refresh_from_db()
    assert change.coin_price == 7
