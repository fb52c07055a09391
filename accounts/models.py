import datetime

from django.contrib.auth.models import AbstractUser
from django.db import models

ADULT_AGE = 18


class User(AbstractUser):
    """A person: a viewer, a creator or a member of staff.

    A custom user from the first migration, so later rules (age, region) have a home.
    """

    birth_date = models.DateField(
        null=True, blank=True, help_text="Buying and gifting require age 18+."
    )

    def __str__(self):
        return self.username

    def age_on(self, day: datetime.date) -> int | None:
        if self.birth_date is None:
            return None
        before_birthday = (day.month, day.day) < (
            self.birth_date.month,
            self.birth_date.day,
        )
        return day.year - self.birth_date.year - before_birthday

    def is_adult_on(self, day: datetime.date) -> bool:
        age = self.age_on(day)
        return age is not None and age >= ADULT_AGE
