import datetime
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

ADULT_AGE = 18


def adult_born_by(day: datetime.date) -> datetime.date:
    """The latest birth date of someone who is an adult on `day`.

    Their 18th birthday is on or before `day`; someone born on 29 February has it on
    1 March in a year without one (as `User.age_on` counts).
    """
    year = day.year - ADULT_AGE
    try:
        return day.replace(year=year)
    except ValueError:  # `day` is 29 February and `year` has none
        return datetime.date(year, 2, 28)


def public_name_new() -> str:
    """A public name that says nothing about the person: not the login, not the id."""
    return f"viewer-{secrets.token_hex(4)}"


class User(AbstractUser):
    """A person: a viewer, a creator or a member of staff.

    A custom user from the first migration, so later rules (age, region) have a home.
    """

    birth_date = models.DateField(
        null=True, blank=True, help_text="Buying and gifting require age 18+."
    )
    public_name = models.CharField(
        max_length=40,
        default=public_name_new,
        help_text="What other users see, e.g. on a stream's leaderboard; never the "
        "login.",
    )

    class Meta(AbstractUser.Meta):
        constraints = [
            models.CheckConstraint(
                condition=~Q(public_name="") & ~Q(public_name=F("username")),
                name="accounts_user_public_name_not_login",
            ),
        ]

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
        return self.birth_date is not None and self.birth_date <= adult_born_by(day)


class ServiceToken(models.Model):
    """A key another service (the main platform, not a person) calls the service
    API with, for one scope.

    Only the key's SHA-256 is kept: the key is shown once, when it is made
    (`service_token_create`), and a lost key is revoked and replaced. A key is
    32 random bytes, so a fast hash is enough (nothing to guess from a word list).
    """

    class Scope(models.TextChoices):
        ACCOUNT_FACTS = "account_facts", "Report account facts"

    name = models.CharField(max_length=60, unique=True)
    scope = models.CharField(max_length=20, choices=Scope.choices)
    key_prefix = models.CharField(
        max_length=12, help_text="The key's first characters, to tell keys apart."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        "User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(name="") & ~Q(key_hash=""),
                name="accounts_servicetoken_named_and_hashed",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.scope})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
