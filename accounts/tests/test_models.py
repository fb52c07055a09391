import datetime

import pytest

from accounts.models import User


@pytest.mark.parametrize(
    ("birth_date", "day", "adult"),
    [
        (datetime.date(2008, 11, 23), datetime.date(2026, 11, 23), True),
        (datetime.date(2008, 11, 24), datetime.date(2026, 11, 23), False),
        (datetime.date(2008, 2, 29), datetime.date(2026, 2, 28), False),
        (datetime.date(2008, 2, 29), datetime.date(2026, 3, 1), True),
        (None, datetime.date(2026, 11, 23), False),
    ],
)
def test_adult_from_the_18th_birthday_and_never_without_a_birth_date(
    birth_date, day, adult
):
    assert User(birth_date=birth_date).is_adult_on(day) is adult
