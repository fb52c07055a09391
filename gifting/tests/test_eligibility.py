"""Who may receive gifts is one rule: the admin's filter and the gift service agree,
on every day of the year, 29 February included."""

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import User, adult_born_by
from gifting.models import CreatorProfile

from .factories import creator_create

BIRTHS = [
    datetime.date(2008, 2, 29),
    datetime.date(2008, 2, 28),
    datetime.date(2008, 3, 1),
    datetime.date(2007, 3, 1),
    datetime.date(2006, 2, 28),
    datetime.date(2010, 1, 1),
    None,
]
DAYS = [
    datetime.date(2024, 2, 29),
    datetime.date(2026, 2, 28),
    datetime.date(2026, 3, 1),
    datetime.date(2028, 2, 29),
    datetime.date(2025, 12, 31),
]


@given(
    born=st.dates(datetime.date(1950, 1, 1), datetime.date(2030, 12, 31)),
    day=st.dates(datetime.date(2000, 1, 1), datetime.date(2040, 12, 31)),
)
def test_adult_born_by_is_age_on_reaching_18(born, day):
    person = User(birth_date=born)
    assert (born <= adult_born_by(day)) == (person.age_on(day) >= 18)
    assert person.is_adult_on(day) == (person.age_on(day) >= 18)


@pytest.mark.django_db
@pytest.mark.parametrize("day", DAYS, ids=str)
def test_the_eligible_filter_is_the_creators_own_rule(day):
    creators = [creator_create() for _ in BIRTHS]
    for creator, born in zip(creators, BIRTHS, strict=True):
        creator.user.birth_date = born
        creator.user.save(update_fields=["birth_date"])
    creator_create(suspended=True)
    creator_create(gifts_enabled=False)
    creator_create(follower_count=999)

    filtered = set(CreatorProfile.objects.eligible_on(day))
    by_reason = {
        creator
        for creator in CreatorProfile.objects.select_related("user")
        if creator.ineligibility_reason(day) is None
    }
    assert filtered == by_reason
    assert filtered  # some qualify on every one of these days


@pytest.mark.django_db
def test_the_admin_filter_works_on_29_february(admin_client, monkeypatch):
    leap_day = datetime.datetime(2028, 2, 29, 12, tzinfo=datetime.UTC)
    # The filter's clock only: the signed-in session keeps the real one.
    monkeypatch.setattr(
        "payouts.admin.timezone",
        type("Clock", (), {"now": staticmethod(lambda: leap_day)}),
    )
    adult, minor = creator_create(), creator_create()
    adult.user.birth_date = datetime.date(2010, 2, 28)
    adult.user.save(update_fields=["birth_date"])
    minor.user.birth_date = datetime.date(2010, 3, 1)
    minor.user.save(update_fields=["birth_date"])

    page = admin_client.get("/admin/gifting/creatorprofile/", {"eligible": "yes"})
    assert page.status_code == 200
    shown = set(page.context["cl"].result_list)
    assert adult in shown and minor not in shown
    page = admin_client.get("/admin/gifting/creatorprofile/", {"eligible": "no"})
    assert minor in set(page.context["cl"].result_list)
