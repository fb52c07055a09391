import datetime
from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision
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
from djmoney.models.validators import MinMoneyValidator
from djmoney.money import Money
from simple_history.models import HistoricalRecords

from core import display
from core.fields import MinorUnitsMoneyField

from . import languages

# The dearest gift in the market sells for tens of thousands of coins; a price past
# this cap is a typing mistake, not a product decision.
GIFT_COIN_PRICE_MAX = 100_000
# How many of one gift a single send (a combo) may hold.
GIFT_QUANTITY_MAX = 99

ANIMATION_EXTENSIONS = ["json", "webp", "gif", "mp4", "webm", "svga"]
SOUND_EXTENSIONS = ["mp3", "ogg", "m4a", "aac", "wav"]


# ISO 3166-1 alpha-2, as regions are coded (and stores must report storefronts).
COUNTRY_CODE = r"^[A-Z]{2}\Z"


class Region(models.Model):
    """A market the store sells in, with the currency its prices are in."""

    class PriceRule(models.TextChoices):
        ENDS_99 = "ends_99", "Ends in .99 (4.99)"
        WHOLE = "whole", "Whole units, for zero-decimal currencies (JPY 480)"
        ROUND_10 = "round_10", "Multiple of 10 (INR 490)"
        ROUND_100 = "round_100", "Multiple of 100 (IDR 15,900)"

    code = models.CharField(
        max_length=2,
        unique=True,
        validators=[
            RegexValidator(COUNTRY_CODE, "Use an ISO 3166-1 code: two capital letters.")
        ],
        help_text="ISO 3166-1 alpha-2, e.g. US.",
    )
    name = models.CharField(max_length=80)
    currency = CurrencyField(help_text="ISO 4217 currency the region's prices are in.")
    price_rule = models.CharField(
        max_length=16,
        choices=PriceRule.choices,
        default=PriceRule.ENDS_99,
        help_text="How a derived local price is rounded to a price point.",
    )
    prices_include_tax = models.BooleanField(
        default=True, help_text="Whether shown prices include sales tax or VAT."
    )
    web_discount_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("90"))],
        help_text="Discount of web-store prices against in-app prices, 0 to 90.",
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(web_discount_percent__gte=0, web_discount_percent__lte=90),
                name="catalog_region_web_discount_in_range",
            ),
        ]

    def __str__(self):
        return f"{self.code} ({self.name})"

    def clean(self):
        if (
            self.price_rule == self.PriceRule.ENDS_99
            and self.currency
            and get_currency_precision(str(self.currency)) == 0
        ):
            raise ValidationError(
                {
                    "price_rule": f"{self.currency} has no cents: choose whole units "
                    "or a multiple of 10 or 100."
                }
            )


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

    name = models.CharField(max_length=80, validators=[languages.validate_name_text])
    slug = models.SlugField(max_length=80, unique=True)
    coin_price = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(GIFT_COIN_PRICE_MAX)],
        help_text=f"Coins, 1 to {GIFT_COIN_PRICE_MAX:,}.",
    )
    description = models.TextField(
        blank=True, validators=[languages.validate_description_text]
    )
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

    # The history keeps the English text (`name`); every language's columns are in
    # the audit trail (docs/gifts.md, "Languages").
    history = HistoricalRecords(
        excluded_fields=["updated_at", *languages.translation_columns()]
    )
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
        return f"{self.name} ({display.coins(self.coin_price, unit='coin')})"

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
        price = display.coins(self.coin_price, unit="coin")
        return f"{self.gift.name}: {price} from {moment}"

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


class CoinBundle(models.Model):
    """A package of coins sold in the stores, e.g. 100 coins for USD 0.99."""

    sku = models.SlugField(
        max_length=40,
        unique=True,
        help_text="Store product id, e.g. coins_100; receipts name it.",
    )
    coins = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    bonus_coins = models.PositiveIntegerField(
        default=0, help_text="Bonus coins every buyer of this bundle gets."
    )
    base_price = MinorUnitsMoneyField(
        max_digits=12,
        decimal_places=2,
        default_currency="USD",
        currency_choices=[("USD", "USD")],
        # Said beside the field; the check constraint below stands behind it.
        validators=[MinMoneyValidator(Decimal("0.01"))],
        help_text="USD price that regional prices are derived from.",
    )
    sort_order = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["sort_order", "coins", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(coins__gte=1), name="catalog_coinbundle_coins_positive"
            ),
            models.CheckConstraint(
                condition=Q(base_price__gt=0),
                name="catalog_coinbundle_base_price_positive",
            ),
        ]

    def __str__(self):
        coins = display.coins(self.coins)
        if self.bonus_coins:
            return f"{coins} coins + {display.coins(self.bonus_coins)} bonus"
        return f"{coins} coins"


class BundlePrice(models.Model):
    """What a bundle costs in one region and channel from `effective_at` on.

    Append-only: a new price is a new row, so every past price stays explainable.
    The price in force at a moment is the row with the latest `effective_at` up to it.
    """

    class Channel(models.TextChoices):
        APP = "app", "In-app store"
        WEB = "web", "Web store"

    class Source(models.TextChoices):
        MANUAL = "manual", "Set by hand"
        DERIVED = "derived", "Derived from the USD price"

    bundle = models.ForeignKey(
        CoinBundle, on_delete=models.PROTECT, related_name="prices"
    )
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="bundle_prices"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    price = MinorUnitsMoneyField(max_digits=14, decimal_places=2, default_currency=None)
    effective_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(
        max_length=8, choices=Source.choices, default=Source.MANUAL
    )
    exchange_rate = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="USD to local rate a derived price used.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bundle", "region", "channel", "-effective_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gt=0), name="catalog_bundleprice_price_positive"
            ),
            models.UniqueConstraint(
                fields=["bundle", "region", "channel", "effective_at"],
                name="catalog_bundleprice_one_per_moment",
            ),
        ]
        indexes = [
            models.Index(
                fields=["bundle", "region", "channel", "-effective_at"],
                name="catalog_bundleprice_lookup",
            )
        ]

    def __str__(self):
        price = display.money(self.price)
        return f"{self.bundle} in {self.region.code}/{self.channel}: {price}"

    def clean(self):
        if self.price is None:
            return
        if self.price.amount <= 0:
            raise ValidationError({"price": "A price must be more than zero."})
        currency = str(self.price.currency)
        if self.region_id and currency != str(self.region.currency):
            region = self.region
            raise ValidationError(
                {"price": f"Prices in {region.code} are in {region.currency}."}
            )
        digits = get_currency_precision(currency)
        try:
            exact = self.price.amount.quantize(Decimal(1).scaleb(-digits))
        except InvalidOperation:
            return  # Too many digits to round: the field's max_digits says so.
        if self.price.amount != exact:
            raise ValidationError(
                {"price": f"{currency} prices have {digits} decimal places at most."}
            )


def new_price_moment(
    effective_at: datetime.datetime | None, *, now: datetime.datetime
) -> datetime.datetime:
    """When a new price takes effect: `effective_at`, or `now` if it is empty.

    A price is never added in the past: that would rewrite what was charged.
    """
    if effective_at is None:
        return now
    if effective_at < now:
        raise ValidationError(
            {
                "effective_at": "A new price cannot start in the past: leave it empty "
                "for now, or choose a later moment."
            }
        )
    return effective_at


class RepricingProposal(models.Model):
    """Derived prices that would move, kept for staff to review before any changes.

    The rates refresh and the bundle admin's action create one; staff apply it (new
    derived prices) or discard it. A newer proposal for the same bundles makes a
    pending one out of date. Proposals are kept as the record of every re-pricing.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        APPLIED = "applied", "Applied"
        DISCARDED = "discarded", "Discarded"
        SUPERSEDED = "superseded", "Out of date"

    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING
    )
    notes = models.TextField(
        blank=True, help_text="What derivation had to leave out, e.g. a missing rate."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: the scheduled exchange-rate refresh.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True)
                | (~Q(status="pending") & Q(decided_at__isnull=False)),
                name="catalog_repricingproposal_decided_unless_pending",
            ),
        ]

    def __str__(self):
        return f"Re-pricing #{self.id}"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


class RepricingLine(models.Model):
    """One price a proposal would move: the row in force then, and the new price."""

    proposal = models.ForeignKey(
        RepricingProposal, on_delete=models.CASCADE, related_name="lines"
    )
    bundle = models.ForeignKey(CoinBundle, on_delete=models.PROTECT, related_name="+")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=8, choices=BundlePrice.Channel.choices)
    old_price = models.ForeignKey(
        BundlePrice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The latest price when proposed; empty if there was none.",
    )
    new_price = MinorUnitsMoneyField(
        max_digits=14, decimal_places=2, default_currency=None
    )
    exchange_rate = models.DecimalField(
        max_digits=20, decimal_places=8, help_text="USD to local rate it used."
    )
    applied_price = models.OneToOneField(
        BundlePrice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The price row applying created; empty if not applied.",
    )

    class Meta:
        ordering = ["bundle__sort_order", "bundle__coins", "region__code", "channel"]
        constraints = [
            models.UniqueConstraint(
                fields=["proposal", "bundle", "region", "channel"],
                name="catalog_repricingline_one_per_cell",
            ),
            models.CheckConstraint(
                condition=Q(new_price__gt=0),
                name="catalog_repricingline_new_price_positive",
            ),
            models.CheckConstraint(
                condition=Q(exchange_rate__gt=0),
                name="catalog_repricingline_exchange_rate_positive",
            ),
        ]

    def __str__(self):
        price = display.money(self.new_price)
        return f"{self.bundle} in {self.region.code}/{self.channel}: {price}"

    @property
    def old_money(self) -> Money | None:
        return self.old_price.price if self.old_price else None

    @property
    def change_percent(self) -> Decimal | None:
        """(new - old) / old in percent, to 0.1; None without a comparable old."""
        old = self.old_money
        if old is None or old.currency != self.new_price.currency:
            return None
        change = (self.new_price.amount - old.amount) / old.amount * 100
        return change.quantize(Decimal("0.1"))


class ImportJob(models.Model):
    """A large CSV file of gifts or bundle prices, imported in the background.

    Kept as the record of who loaded what and how it went; the rows it wrote carry
    their own history (gift history, price rows created by the uploader).
    """

    class Kind(models.TextChoices):
        GIFTS = "gifts", "Gifts"
        BUNDLE_PRICES = "bundle_prices", "Bundle prices"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Done"
        REFUSED = "refused", "Refused: bad rows, nothing imported"
        FAILED = "failed", "Failed, nothing imported"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    file = models.FileField(
        upload_to="imports/%Y/%m/",
        validators=[FileExtensionValidator(["csv"])],
        help_text="CSV, UTF-8, with the columns of the export.",
    )
    dry_run = models.BooleanField(
        default=False, help_text="Only check the file; write nothing."
    )
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING
    )
    rows = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(
        default=0, help_text="Rows equal to what is already there."
    )
    errors = models.PositiveIntegerField(
        default=0, help_text="Errors found in the rows, also those past the report."
    )
    report = models.FileField(
        upload_to="imports/reports/%Y/%m/",
        blank=True,
        help_text="The bad rows: line, column and what is wrong.",
    )
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status__in=["succeeded", "refused", "failed"],
                    finished_at__isnull=False,
                )
                | (Q(status__in=["pending", "running"]) & Q(finished_at__isnull=True)),
                name="catalog_importjob_finished_when_done",
            ),
        ]

    def __str__(self):
        return f"Import #{self.id} ({self.get_kind_display().lower()})"

    @property
    def is_done(self) -> bool:
        return self.finished_at is not None
