import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    EmailValidator,
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from djmoney.settings import CURRENCY_CHOICES
from simple_history.models import HistoricalRecords

from accounts.idempotency import fingerprint_field
from catalog.models import Gift
from core.fields import MinorUnitsDecimalField
from wallets.models import DIAMOND_SCALE

from .states import OPEN, PayoutStatus

MIN_FOLLOWERS_TO_RECEIVE = 1000
IBAN_FORMAT = RegexValidator(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$", "Not an IBAN.")
BIC_FORMAT = RegexValidator(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$", "Not a BIC.")
CURRENCY_CODES = frozenset(code for code, _ in CURRENCY_CHOICES)


def _currency_errors(currency: str) -> dict:
    if currency in CURRENCY_CODES:
        return {}
    return {"currency": "Use an ISO 4217 currency code, e.g. USD."}


class CreatorLevel(models.Model):
    """A tier of creators: what qualifies for it and the share of a gift they earn.

    Every change is kept in history; a gift send stamps the share it used, so a change
    applies to gifts sent after it.
    """

    number = models.PositiveSmallIntegerField(unique=True)
    name = models.CharField(max_length=40)
    min_diamonds_30d = models.PositiveBigIntegerField(
        help_text="Diamonds earned over the trailing 30 days that qualify."
    )
    share_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[
            MinValueValidator(Decimal("0.01")),
            MaxValueValidator(Decimal("100")),
        ],
        help_text="Percent of a gift's coin value the creator receives as diamonds.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(share_percent__gt=0, share_percent__lte=100),
                name="payouts_creatorlevel_share_in_range",
            ),
            models.UniqueConstraint(
                fields=["min_diamonds_30d"],
                name="payouts_creatorlevel_threshold_unique",
            ),
        ]

    def __str__(self):
        return f"Level {self.number} · {self.name} ({self.share_percent}%)"

    def clean(self):
        if self.number is None or self.min_diamonds_30d is None:
            return
        others = CreatorLevel.objects.exclude(pk=self.pk)
        below = others.filter(number__lt=self.number).order_by("-number").first()
        above = others.filter(number__gt=self.number).order_by("number").first()
        errors = {}
        if below and below.min_diamonds_30d >= self.min_diamonds_30d:
            errors["min_diamonds_30d"] = (
                f"Must be above level {below.number}'s {below.min_diamonds_30d:,}."
            )
        if above and above.min_diamonds_30d <= self.min_diamonds_30d:
            errors["min_diamonds_30d"] = (
                f"Must be below level {above.number}'s {above.min_diamonds_30d:,}."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def share_basis_points(self) -> int:
        return int(self.share_percent * 100)


class PayoutDestination(models.Model):
    """Where money is paid: the fields a creator profile and a change of it share."""

    paypal_email = models.EmailField(blank=True, validators=[EmailValidator()])
    bank_account_holder = models.CharField(max_length=100, blank=True)
    bank_iban = models.CharField(
        max_length=34,
        blank=True,
        validators=[IBAN_FORMAT],
        help_text="Capitals and digits, no spaces.",
    )
    bank_bic = models.CharField(
        max_length=11,
        blank=True,
        validators=[BIC_FORMAT],
    )

    class Meta:
        abstract = True

    @property
    def destination(self) -> str:
        """The PayPal e-mail or the IBAN paid to."""
        return payout_destination(self)


class CreatorProfile(PayoutDestination):
    """A user who receives gifts, and how they are paid.

    `user` never changes once created (a database trigger refuses it); the payout
    fields change only through a confirmed `PayoutMethodChange`.
    """

    class Verification(models.TextChoices):
        UNVERIFIED = "unverified", "Not verified"
        PENDING = "pending", "Pending review"
        VERIFIED = "verified", "Verified"
        REJECTED = "rejected", "Rejected"

    class PayoutMethod(models.TextChoices):
        NONE = "", "None"
        PAYPAL = "paypal", "PayPal"
        BANK = "bank", "Bank transfer"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="creator"
    )
    display_name = models.CharField(max_length=60)
    follower_count = models.PositiveIntegerField(default=0)
    gifts_enabled = models.BooleanField(default=True)
    suspended = models.BooleanField(default=False)
    verification = models.CharField(
        max_length=12, choices=Verification.choices, default=Verification.UNVERIFIED
    )
    level = models.ForeignKey(
        CreatorLevel, on_delete=models.PROTECT, related_name="creators"
    )
    level_pinned = models.BooleanField(
        default=False, help_text="Pinned by finance: the daily recomputation leaves it."
    )
    payout_method = models.CharField(
        max_length=8,
        choices=PayoutMethod.choices,
        blank=True,
        default=PayoutMethod.NONE,
    )
    payout_method_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Follower counts change all day; history is for what staff and creators set.
    history = HistoricalRecords(excluded_fields=["follower_count"])

    class Meta:
        ordering = ["display_name"]
        permissions = [
            ("unmask_creatorprofile", "Can read payout destinations unmasked")
        ]

    def __str__(self):
        return self.display_name

    def clean(self):
        if errors := payout_destination_errors(self):
            raise ValidationError(errors)

    def ineligibility_reason(self, day: datetime.date) -> str | None:
        """Why this creator may not receive gifts on `day`, or None when they may."""
        if self.suspended:
            return "This creator is suspended."
        if not self.gifts_enabled:
            return "This creator does not accept gifts."
        if not self.user.is_adult_on(day):
            return "This creator cannot receive gifts (age 18+ required)."
        if self.follower_count < MIN_FOLLOWERS_TO_RECEIVE:
            return (
                f"This creator cannot receive gifts yet "
                f"({MIN_FOLLOWERS_TO_RECEIVE:,} followers required)."
            )
        return None


def _iban_checksum_ok(iban: str) -> bool:
    if not iban.isascii() or not iban.isalnum():
        return False  # the format's own error says why
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(char, 36)) for char in rearranged)
    return int(digits) % 97 == 1


PAYOUT_FIELDS = (
    "payout_method",
    "paypal_email",
    "bank_account_holder",
    "bank_iban",
    "bank_bic",
)


def payout_destination(record) -> str:
    """The e-mail or IBAN of a creator profile or a method change."""
    if record.payout_method == CreatorProfile.PayoutMethod.PAYPAL:
        return record.paypal_email
    if record.payout_method == CreatorProfile.PayoutMethod.BANK:
        return record.bank_iban
    return ""


def payout_destination_errors(record) -> dict[str, str]:
    """What a payout method (of a profile or a change) lacks or has wrong, per field."""
    errors = {}
    if record.payout_method == CreatorProfile.PayoutMethod.PAYPAL:
        if not record.paypal_email:
            errors["paypal_email"] = "PayPal payouts need the PayPal e-mail."
    if record.payout_method == CreatorProfile.PayoutMethod.BANK:
        for field in ("bank_account_holder", "bank_iban", "bank_bic"):
            if not getattr(record, field):
                errors[field] = "Bank payouts need the holder, IBAN and BIC."
        if record.bank_iban and not _iban_checksum_ok(record.bank_iban):
            errors.setdefault("bank_iban", "The IBAN's check digits are wrong.")
    return errors


class PayoutMethodChange(PayoutDestination):
    """A request to change where a creator is paid, and its decision. Append-only:
    a decision fills `status`, `decided_by`, `decided_at` once.

    Asked for by the creator (API) or by finance (admin); applied to the profile only
    when a finance user other than the requester and the creator confirms it, and
    then paid to only after the cool-off (`PayoutRules.method_cooloff_days`).
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Waiting for confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded by a newer request"

    creator = models.ForeignKey(
        CreatorProfile, on_delete=models.PROTECT, related_name="method_changes"
    )
    # The creator's user, kept here so the database itself refuses self-confirmation.
    creator_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    payout_method = models.CharField(
        max_length=8,
        choices=[c for c in CreatorProfile.PayoutMethod.choices if c[0]],
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.REQUESTED
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True, help_text="Why it is asked.")
    decision_note = models.CharField(
        max_length=300, blank=True, help_text="Why it was rejected."
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [
            (
                "confirm_payoutmethodchange",
                "Can confirm or reject payout method changes",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["creator"],
                condition=Q(status="requested"),
                name="payouts_payoutmethodchange_one_pending_per_creator",
            ),
            models.CheckConstraint(
                condition=Q(status="requested", decided_at__isnull=True)
                | (~Q(status="requested") & Q(decided_at__isnull=False)),
                name="payouts_payoutmethodchange_decided_once",
            ),
            models.CheckConstraint(
                condition=~Q(status="confirmed")
                | (
                    Q(decided_by__isnull=False)
                    & ~Q(decided_by=F("requested_by"))
                    & ~Q(decided_by=F("creator_user"))
                ),
                name="payouts_payoutmethodchange_confirmed_by_another",
            ),
        ]

    def __str__(self):
        return f"{self.creator}: {self.get_payout_method_display()} ({self.status})"

    def clean(self):
        if errors := payout_destination_errors(self):
            raise ValidationError(errors)


class LevelChange(models.Model):
    """A record of a creator moving level: by the daily recomputation or by finance."""

    creator = models.ForeignKey(
        CreatorProfile, on_delete=models.CASCADE, related_name="level_changes"
    )
    from_level = models.ForeignKey(
        CreatorLevel, on_delete=models.PROTECT, null=True, related_name="+"
    )
    to_level = models.ForeignKey(
        CreatorLevel, on_delete=models.PROTECT, related_name="+"
    )
    diamonds_30d = models.PositiveBigIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=200)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self):
        return f"{self.creator}: level {self.to_level.number} ({self.reason})"


class GiftSend(models.Model):
    """One gift (or combo) sent to a creator, with the terms it was sent on.

    The price, quantity, share and the exact split are stamped: editing the gift or
    the level later never changes what this send paid or earned.
    """

    class Placement(models.TextChoices):
        LIVE = "live", "Live stream"
        COMMENT = "comment", "Video comment"

    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gifts_sent"
    )
    creator = models.ForeignKey(
        CreatorProfile, on_delete=models.PROTECT, related_name="gifts_received"
    )
    gift = models.ForeignKey(Gift, on_delete=models.PROTECT, related_name="sends")
    quantity = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(99)]
    )
    coin_price = models.PositiveIntegerField(help_text="Price of one gift, stamped.")
    coins = models.PositiveBigIntegerField(help_text="Coins spent: price × quantity.")
    share_percent = models.DecimalField(max_digits=5, decimal_places=2)
    creator_diamond_units = models.PositiveBigIntegerField(
        help_text=f"Creator's part in 1/{DIAMOND_SCALE:,} diamonds."
    )
    platform_diamond_units = models.PositiveBigIntegerField(
        help_text=f"Platform's part in 1/{DIAMOND_SCALE:,} diamonds."
    )
    placement = models.CharField(max_length=8, choices=Placement.choices)
    stream_id = models.CharField(max_length=64, blank=True)
    video_id = models.CharField(max_length=64, blank=True)
    comment = models.CharField(max_length=500, blank=True)
    idempotency_key = models.CharField(max_length=200)
    request_fingerprint = fingerprint_field()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "idempotency_key"], name="payouts_giftsend_key_once"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1, quantity__lte=99),
                name="payouts_giftsend_quantity_in_range",
            ),
            models.CheckConstraint(
                condition=Q(coins=F("coin_price") * F("quantity")),
                name="payouts_giftsend_coins_are_price_times_quantity",
            ),
            models.CheckConstraint(
                condition=Q(
                    creator_diamond_units=F("coins") * DIAMOND_SCALE
                    - F("platform_diamond_units")
                ),
                name="payouts_giftsend_split_is_exact",
            ),
            models.CheckConstraint(
                condition=(Q(placement="live") & ~Q(stream_id="") & Q(video_id=""))
                | (Q(placement="comment") & ~Q(video_id="") & Q(stream_id="")),
                name="payouts_giftsend_place_matches_placement",
            ),
        ]
        indexes = [
            models.Index(
                fields=["creator", "-created_at"], name="payouts_giftsend_creator"
            ),
            models.Index(
                fields=["stream_id", "-created_at"], name="payouts_giftsend_stream"
            ),
            models.Index(
                fields=["sender", "-created_at"], name="payouts_giftsend_sender"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.gift.name} to {self.creator}"


class StreamGifter(models.Model):
    """Running total of coins one sender gave in one live stream: the leaderboard."""

    stream_id = models.CharField(max_length=64)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    coins = models.PositiveBigIntegerField(default=0)
    reached_at = models.DateTimeField(
        help_text="When the total last grew: ties go to the earlier."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stream_id", "sender"],
                name="payouts_streamgifter_once_per_stream",
            ),
        ]
        indexes = [
            models.Index(
                fields=["stream_id", "-coins", "reached_at"], name="payouts_leaderboard"
            ),
        ]

    def __str__(self):
        return f"{self.stream_id}: {self.sender} {self.coins} coins"


class DiamondCashRate(models.Model):
    """What one diamond is worth in a payout currency from `effective_at` on.

    Append-only: a new rate is a new row; a payout stamps the rate it used.
    """

    currency = models.CharField(max_length=3, default="USD")
    rate = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        validators=[MinValueValidator(Decimal("0.000001"))],
        help_text="Cash per diamond, e.g. 0.005.",
    )
    effective_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["currency", "-effective_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rate__gt=0), name="payouts_diamondcashrate_rate_positive"
            ),
            models.UniqueConstraint(
                fields=["currency", "effective_at"],
                name="payouts_diamondcashrate_one_per_moment",
            ),
        ]

    def __str__(self):
        return (
            f"1 diamond = {self.rate} {self.currency} from {self.effective_at:%Y-%m-%d}"
        )

    def clean(self):
        if errors := _currency_errors(self.currency):
            raise ValidationError(errors)


class PayoutRules(models.Model):
    """Limits and fees of payouts in one currency, edited by finance with history."""

    currency = models.CharField(max_length=3, unique=True)
    minimum_cashout = MinorUnitsDecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    fee_fixed = MinorUnitsDecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    fee_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("50"))],
    )
    daily_maximum = MinorUnitsDecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="Most one creator may cash out per UTC day (gross).",
    )
    second_approval_from = MinorUnitsDecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="A payout that brings the creator's gross over the last 24 hours "
        "to this amount or more needs a second approver.",
    )
    method_cooloff_days = models.PositiveSmallIntegerField(
        default=5, help_text="Days after a payout-method change before paying to it."
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "payout rules"
        constraints = [
            models.CheckConstraint(
                condition=Q(minimum_cashout__gt=0, fee_fixed__gte=0)
                & Q(fee_percent__gte=0, fee_percent__lte=50)
                & Q(daily_maximum__gte=F("minimum_cashout")),
                name="payouts_payoutrules_amounts_sane",
            ),
        ]

    def __str__(self):
        return f"Payout rules ({self.currency})"

    def clean(self):
        errors = _currency_errors(self.currency)
        if self.second_approval_from is not None and self.second_approval_from < 0:
            errors["second_approval_from"] = "Zero or more (zero: every payout)."
        if (
            self.daily_maximum is not None
            and self.minimum_cashout is not None
            and self.daily_maximum < self.minimum_cashout
        ):
            # Said beside the field; the check constraint would only name itself.
            errors["daily_maximum"] = "At least the minimum cash-out."
        if errors:
            raise ValidationError(errors)


class Payout(models.Model):
    """A creator's cash-out: diamonds held from request, paid or returned at the end.

    The rate, fee and cash amounts are stamped at request; every change of state is
    a `PayoutEvent` with who, when and why.
    """

    # The states and the moves between them are one table, in payouts/states.py.
    Status = PayoutStatus
    OPEN = OPEN

    creator = models.ForeignKey(
        CreatorProfile, on_delete=models.PROTECT, related_name="payouts"
    )
    # The creator's user, kept here so the database itself can refuse self-approval.
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    diamond_units = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=12, decimal_places=6)
    gross_amount = MinorUnitsDecimalField(max_digits=14, decimal_places=2)
    fee_amount = MinorUnitsDecimalField(max_digits=14, decimal_places=2)
    net_amount = MinorUnitsDecimalField(max_digits=14, decimal_places=2)
    needs_second_approval = models.BooleanField(default=False)
    method = models.CharField(max_length=8, choices=CreatorProfile.PayoutMethod.choices)
    destination = models.CharField(max_length=120, help_text="E-mail or IBAN paid to.")
    method_changed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.REQUESTED
    )
    reference = models.CharField(max_length=40, unique=True)
    idempotency_key = models.CharField(max_length=200)
    request_fingerprint = fingerprint_field()
    first_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    second_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    provider_id = models.CharField(max_length=80, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["requested_at", "id"]
        permissions = [("approve_payout", "Can approve, reject and retry payouts")]
        constraints = [
            models.UniqueConstraint(
                fields=["creator", "idempotency_key"], name="payouts_payout_key_once"
            ),
            models.UniqueConstraint(
                fields=["creator"],
                condition=Q(status__in=[status.value for status in OPEN]),
                name="payouts_payout_one_open_per_creator",
            ),
            models.CheckConstraint(
                condition=Q(diamond_units__gt=0, net_amount__gt=0)
                & Q(gross_amount=F("fee_amount") + F("net_amount")),
                name="payouts_payout_amounts_add_up",
            ),
            models.CheckConstraint(
                condition=Q(second_approver__isnull=True)
                | ~Q(second_approver=F("first_approver")),
                name="payouts_payout_second_approver_differs",
            ),
            models.CheckConstraint(
                condition=(
                    Q(first_approver__isnull=True) | ~Q(first_approver=F("requester"))
                )
                & (
                    Q(second_approver__isnull=True) | ~Q(second_approver=F("requester"))
                ),
                name="payouts_payout_not_approved_by_requester",
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "requested_at"], name="payouts_payout_queue"
            ),
        ]

    def __str__(self):
        return f"Payout {self.reference}: {self.net_amount} {self.currency}"


class PayoutEvent(models.Model):
    """One step in a payout's life: the audit trail. Append-only."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(
        max_length=16, choices=Payout.Status.choices, blank=True
    )
    to_status = models.CharField(max_length=16, choices=Payout.Status.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.payout.reference}: {self.from_status or '—'} → {self.to_status}"


class SandboxPayoutRecord(models.Model):
    """What the sandbox payout provider was sent, per payout reference.

    It pays a reference at most once however often it is sent, like a real batch
    payout API keyed by the sender's item id; `times_received` counts the sends.
    """

    reference = models.CharField(max_length=40, unique=True)
    outcome = models.CharField(max_length=8)
    amount = MinorUnitsDecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    times_received = models.PositiveIntegerField(default=0)
    times_paid = models.PositiveIntegerField(default=0)
    first_received_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.reference}: {self.outcome} ×{self.times_received}"


class MoneyDashboard(Payout):
    """An admin entry for finance's money dashboard; it has no rows of its own."""

    class Meta:
        proxy = True
        verbose_name = "money dashboard"
        verbose_name_plural = "money dashboard"
