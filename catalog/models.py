import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    FileExtensionValidator,
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from djmoney.models.fields import CurrencyField
from simple_history.models import HistoricalRecords

# The dearest gift in the market sells for tens of thousands of coins; a price past
# this cap is a typing mistake, not a product decision.
GIFT_COIN_PRICE_MAX = 100_000

ANIMATION_EXTENSIONS = ["json", "webp", "gif", "mp4", "webm", "svga"]
SOUND_EXTENSIONS = ["mp3", "ogg", "m4a", "aac", "wav"]


class Region(models.Model):
    """A market the store sells in, with the currency its prices are in."""

    code = models.CharField(
        max_length=2,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Z]{2}$", "Use an ISO 3166-1 code: two capital letters."
            )
        ],
        help_text="ISO 3166-1 alpha-2, e.g. US.",
    )
    name = models.CharField(max_length=80)
    currency = CurrencyField(help_text="ISO 4217 currency the region's prices are in.")
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} ({self.name})"


class GiftQuerySet(models.QuerySet):
    def available_at(self, when: datetime.datetime):
        """Active gifts whose availability window contains `when`."""
        return self.filter(
            Q(available_from__isnull=True) | Q(available_from__lte=when),
            Q(available_until__isnull=True) | Q(available_until__gt=when),
            is_active=True,
        )

    def offered_in(self, region: "Region | None"):
        """Gifts offered in `region`; gifts with no regions are offered everywhere."""
        everywhere = Q(regions__isnull=True)
        if region is None:
            return self.filter(everywhere)
        return self.filter(everywhere | Q(regions=region)).distinct()

    def sendable_in(self, placement: str):
        return self.filter(placement__in=[placement, Gift.Placement.BOTH])


class Gift(models.Model):
    """A virtual gift viewers buy with coins and send to creators."""

    class Category(models.TextChoices):
        BASIC = "basic", "Basic"
        POPULAR = "popular", "Popular"
        PREMIUM = "premium", "Premium"
        LUXURY = "luxury", "Luxury"

    class Placement(models.TextChoices):
        LIVE = "live", "Live stream"
        COMMENT = "comment", "Video comment"
        BOTH = "both", "Live stream and video comment"

    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80, unique=True)
    coin_price = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(GIFT_COIN_PRICE_MAX)],
        help_text=f"Coins, 1 to {GIFT_COIN_PRICE_MAX:,}.",
    )
    description = models.TextField(blank=True)
    icon = models.ImageField(upload_to="gifts/icons/", blank=True)
    animation = models.FileField(
        upload_to="gifts/animations/",
        blank=True,
        validators=[FileExtensionValidator(ANIMATION_EXTENSIONS)],
        help_text="Lottie JSON, animated WebP/GIF, MP4/WebM or SVGA.",
    )
    sound = models.FileField(
        upload_to="gifts/sounds/",
        blank=True,
        validators=[FileExtensionValidator(SOUND_EXTENSIONS)],
        help_text="Optional sound played with the animation.",
    )
    category = models.CharField(
        max_length=16, choices=Category.choices, default=Category.BASIC
    )
    sort_order = models.PositiveIntegerField(
        default=0, help_text="Lower numbers are shown first."
    )
    is_active = models.BooleanField(default=True)
    available_from = models.DateTimeField(
        null=True, blank=True, help_text="Empty: available from now on."
    )
    available_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Empty: no end. Set both for a limited-time gift.",
    )
    regions = models.ManyToManyField(
        Region,
        blank=True,
        related_name="gifts",
        help_text="Regions the gift is offered in. None chosen: every region.",
    )
    placement = models.CharField(
        max_length=8,
        choices=Placement.choices,
        default=Placement.BOTH,
        help_text="Where the gift can be sent.",
    )
    sponsor_name = models.CharField(
        max_length=80, blank=True, help_text="Brand of a sponsored gift."
    )
    sponsor_starts_at = models.DateTimeField(null=True, blank=True)
    sponsor_ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])
    objects = GiftQuerySet.as_manager()

    class Meta:
        ordering = ["sort_order", "coin_price", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(coin_price__gte=1, coin_price__lte=GIFT_COIN_PRICE_MAX),
                name="catalog_gift_coin_price_in_range",
            ),
            models.CheckConstraint(
                condition=Q(available_from__isnull=True)
                | Q(available_until__isnull=True)
                | Q(available_until__gt=F("available_from")),
                name="catalog_gift_window_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(sponsor_starts_at__isnull=True)
                | Q(sponsor_ends_at__isnull=True)
                | Q(sponsor_ends_at__gt=F("sponsor_starts_at")),
                name="catalog_gift_sponsor_ends_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(sponsor_name="")
                | Q(sponsor_starts_at__isnull=True, sponsor_ends_at__isnull=True),
                name="catalog_gift_sponsor_window_needs_sponsor",
            ),
        ]
        indexes = [
            models.Index(
                fields=["is_active", "sort_order"], name="catalog_gift_active_sort"
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.coin_price} coins)"

    def clean(self):
        errors = {}
        if (
            self.available_from
            and self.available_until
            and self.available_until <= self.available_from
        ):
            errors["available_until"] = "The window must end after it starts."
        if (
            self.sponsor_starts_at
            and self.sponsor_ends_at
            and self.sponsor_ends_at <= self.sponsor_starts_at
        ):
            errors["sponsor_ends_at"] = "The campaign must end after it starts."
        if not self.sponsor_name and (self.sponsor_starts_at or self.sponsor_ends_at):
            errors["sponsor_name"] = "A campaign window needs a sponsor name."
        if errors:
            raise ValidationError(errors)

    def is_available_at(self, when: datetime.datetime) -> bool:
        return (
            self.is_active
            and (self.available_from is None or self.available_from <= when)
            and (self.available_until is None or when < self.available_until)
        )

    def sponsor_running_at(self, when: datetime.datetime) -> bool:
        return bool(self.sponsor_name) and (
            (self.sponsor_starts_at is None or self.sponsor_starts_at <= when)
            and (self.sponsor_ends_at is None or when < self.sponsor_ends_at)
        )


class GiftPriceChange(models.Model):
    """A coin price that a gift takes on at `effective_at`, applied by a beat task.

    Applied changes are kept as the record of when each price went live.
    """

    gift = models.ForeignKey(
        Gift, on_delete=models.CASCADE, related_name="price_changes"
    )
    coin_price = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(GIFT_COIN_PRICE_MAX)],
        help_text=f"New price in coins, 1 to {GIFT_COIN_PRICE_MAX:,}.",
    )
    effective_at = models.DateTimeField(help_text="When the new price goes live.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["effective_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(coin_price__gte=1, coin_price__lte=GIFT_COIN_PRICE_MAX),
                name="catalog_giftpricechange_coin_price_in_range",
            ),
        ]
        indexes = [
            models.Index(
                fields=["effective_at"],
                condition=Q(applied_at__isnull=True),
                name="catalog_pricechange_pending",
            )
        ]

    def __str__(self):
        moment = f"{self.effective_at:%Y-%m-%d %H:%M}"
        return f"{self.gift.name}: {self.coin_price} coins from {moment}"

    def clean(self):
        if self.applied_at is not None:
            raise ValidationError(
                "This change is already live and can no longer be edited."
            )
        if self.effective_at is None or self.effective_at > timezone.now():
            return
        # A pending change whose moment just passed may be saved unchanged.
        moment_changed = (
            self._state.adding
            or not GiftPriceChange.objects.filter(
                pk=self.pk, effective_at=self.effective_at
            ).exists()
        )
        if moment_changed:
            raise ValidationError({"effective_at": "The moment must be in the future."})

    @property
    def is_applied(self) -> bool:
        return self.applied_at is not None
