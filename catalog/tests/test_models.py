import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import GIFT_COIN_PRICE_MAX, Gift, Region

from .factories import gift_create, region_create

pytestmark = pytest.mark.django_db

NOW = timezone.now()
HOUR = datetime.timedelta(hours=1)


@pytest.mark.parametrize("code", ["us", "USA", "U1", "US\n", ""])
def test_a_region_code_is_two_capital_letters_and_nothing_more(code):
    assert Region(code="US", name="United States", currency="USD").full_clean() is None
    with pytest.raises(ValidationError) as error:
        Region(code=code, name="Somewhere", currency="USD").full_clean()
    assert set(error.value.message_dict) == {"code"}


@pytest.mark.parametrize("price", [0, GIFT_COIN_PRICE_MAX + 1])
def test_coin_price_outside_range_is_a_field_error(price):
    gift = Gift(name="Star", slug="star", coin_price=price)
    with pytest.raises(ValidationError) as error:
        gift.full_clean()
    assert set(error.value.message_dict) == {"coin_price"}


def test_database_refuses_a_price_outside_range_even_without_validation():
    gift = gift_create(coin_price=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        Gift.objects.filter(id=gift.id).update(coin_price=0)
    gift.refresh_from_db()
    assert gift.coin_price == 5


def test_window_that_ends_before_it_starts_is_refused_beside_the_end():
    gift = Gift(
        name="Star",
        slug="star",
        coin_price=5,
        available_from=NOW,
        available_until=NOW - HOUR,
    )
    with pytest.raises(ValidationError) as error:
        gift.full_clean()
    assert error.value.message_dict == {
        "available_until": ["The window must end after it starts."]
    }


def test_database_refuses_a_reversed_window():
    gift = gift_create()
    with pytest.raises(IntegrityError), transaction.atomic():
        Gift.objects.filter(id=gift.id).update(
            available_from=NOW, available_until=NOW - HOUR
        )


def test_sponsor_window_needs_a_sponsor_name():
    gift = Gift(name="Star", slug="star", coin_price=5, sponsor_starts_at=NOW)
    with pytest.raises(ValidationError) as error:
        gift.full_clean()
    assert "sponsor_name" in error.value.message_dict


def test_slug_is_unique():
    gift_create(slug="rose")
    with pytest.raises(ValidationError) as error:
        Gift(name="Other rose", slug="rose", coin_price=1).full_clean()
    assert "slug" in error.value.message_dict


def test_available_at_honours_active_flag_and_window():
    always = gift_create()
    gift_create(is_active=False)
    gift_create(available_from=NOW + HOUR)
    gift_create(available_until=NOW)
    limited = gift_create(available_from=NOW - HOUR, available_until=NOW + HOUR)

    assert set(Gift.objects.available_at(NOW)) == {always, limited}


def test_gift_without_regions_is_offered_everywhere():
    us, jp = region_create("US"), region_create("JP", currency="JPY")
    everywhere = gift_create()
    japan_only = gift_create(regions=[jp])

    assert set(Gift.objects.offered_in(us)) == {everywhere}
    assert set(Gift.objects.offered_in(jp)) == {everywhere, japan_only}
    assert set(Gift.objects.offered_in(None)) == {everywhere}


def test_each_change_is_kept_in_history():
    gift = gift_create(coin_price=5)
    gift.coin_price = 7
    gift.save()
    gift.is_active = False
    gift.save()

    prices = list(
        gift.history.order_by("history_date").values_list("coin_price", "is_active")
    )
    assert prices == [(5, True), (7, True), (7, False)]
