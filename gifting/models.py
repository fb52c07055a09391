"""Gifting: creators, their levels and shares, gift sends and stream leaderboards.

These models were born in `payouts` and moved here (issue 13); their tables keep the
`payouts_` names they were created with (docs/decisions.md), so no row moved.
"""

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
from simple_history.models import HistoricalRecords

from accounts.models import adult_born_by
from catalog.models import GIFT_QUANTITY_MAX, Gift, Region
from core import display
from core.fields import MinorUnitsMoneyField
from core.idempotency import fingerprint_field
from wallets.models import DIAMOND_SCALE, LedgerAccount, Purchase, Transfer

MIN_FOLLOWERS_TO_RECEIVE = 1000
IBAN_FORMAT = RegexValidator(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$", "Not an IBAN.")
BIC_FORMAT = RegexValidator(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$", "Not a BIC.")


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

    history = HistoricalRecords(table_name="payouts_historicalcreatorlevel")

    class Meta:
        db_table = "payouts_creatorlevel"
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
        share = display.number(self.share_percent)
        return f"Level {self.number} · {self.name} ({share}%)"

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


class CreatorProfileQuerySet(models.QuerySet):
    def eligible_on(self, day: datetime.date):
        """Who may receive gifts on `day`: whose `ineligibility_reason` is None."""
        return self.filter(
            suspended=False,
            gifts_enabled=True,
            follower_count__gte=MIN_FOLLOWERS_TO_RECEIVE,
            user__birth_date__lte=adult_born_by(day),
        )


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

    objects = CreatorProfileQuerySet.as_manager()

    # Follower counts change all day; history is for what staff and creators set.
    history = HistoricalRecords(
        excluded_fields=["follower_count"],
        table_name="payouts_historicalcreatorprofile",
    )

    class Meta:
        db_table = "payouts_creatorprofile"
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
        """Why this creator may not receive gifts on `day`, or None when they may.

        The same rule as `CreatorProfile.objects.eligible_on(day)`, which filters by it.
        """
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


# Where money is paid: read masked by most staff, so never filtered on from an
# address (`core.admin.UnfilterableFieldsMixin`).
PAYOUT_DESTINATION_FIELDS = (
    "paypal_email",
    "bank_account_holder",
    "bank_iban",
    "bank_bic",
)
PAYOUT_FIELDS = ("payout_method", *PAYOUT_DESTINATION_FIELDS)


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
        db_table = "payouts_levelchange"
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

    # No index of their own: the (sender, key), (sender, -created_at) and
    # (creator, -created_at) indexes lead with them, and each index is one more
    # write on every gift.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="gifts_sent",
        db_index=False,
    )
    creator = models.ForeignKey(
        CreatorProfile,
        on_delete=models.PROTECT,
        related_name="gifts_received",
        db_index=False,
    )
    gift = models.ForeignKey(Gift, on_delete=models.PROTECT, related_name="sends")
    quantity = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(GIFT_QUANTITY_MAX)]
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
    # Stamped: the earnings hold goes by the region the coins were bought in, as
    # it was when the gift was sent (a later change of home region moves nothing).
    # An id, not a foreign key: a key would check (and lock) the region's row and
    # want an index, on every gift sent.
    sender_region_id = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Id of the sender's home region when sent: its earnings hold "
        "applies.",
    )

    # Stamped on a sponsored gift only; the one-statement path leaves both to the
    # database's defaults. No index of its own: the (campaign, sender) index leads.
    campaign = models.ForeignKey(
        "SponsorCampaign",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="gift_sends",
        db_index=False,
    )
    subsidy_coins = models.PositiveBigIntegerField(
        default=0,
        db_default=0,
        help_text="Of the coins, what a sponsor's campaign paid; the sender the rest.",
    )

    class Meta:
        db_table = "payouts_giftsend"
        ordering = ["-created_at", "-id"]
        permissions = [("export_giftsend", "Can export the gift send list")]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "idempotency_key"], name="payouts_giftsend_key_once"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1, quantity__lte=GIFT_QUANTITY_MAX),
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
            models.CheckConstraint(
                condition=Q(campaign__isnull=True, subsidy_coins=0)
                | Q(
                    campaign__isnull=False,
                    subsidy_coins__gt=0,
                    subsidy_coins__lte=F("coins"),
                ),
                name="gifting_giftsend_subsidy_from_a_campaign",
            ),
        ]
        indexes = [
            models.Index(
                fields=["creator", "-created_at"], name="payouts_giftsend_creator"
            ),
            models.Index(
                fields=["campaign", "sender"],
                condition=Q(campaign__isnull=False),
                name="gifting_giftsend_campaign",
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
    """Running total of coins one sender gave one creator in one live stream: the
    stream's leaderboard. Keyed by creator too: two creators may use the same
    stream id, and each has a board of their own. The row with an empty stream id
    is the sender's total to the creator over all time (every placement)."""

    # No index of its own: the (creator, stream, sender) key leads with it.
    creator = models.ForeignKey(
        "CreatorProfile", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    stream_id = models.CharField(max_length=64)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    coins = models.PositiveBigIntegerField(default=0)
    reached_at = models.DateTimeField(
        help_text="When the total last grew: ties go to the earlier."
    )

    class Meta:
        db_table = "payouts_streamgifter"
        constraints = [
            models.UniqueConstraint(
                fields=["creator", "stream_id", "sender"],
                name="gifting_streamgifter_once_per_creator_stream",
            ),
        ]
        indexes = [
            models.Index(
                fields=["creator", "stream_id", "-coins", "reached_at"],
                name="gifting_stream_leaderboard",
            ),
        ]

    def __str__(self):
        return f"{self.creator_id}/{self.stream_id}: {self.sender} {self.coins} coins"


# The hold when no rule of finance's is in force (settings.EARNINGS_HOLD_DAYS).
EARNINGS_HOLD_MAX_DAYS = 90


class RegionRule(models.Model):
    """A rule for `region` (or, with no region, every region without a rule of its
    own) from `effective_from` on. Append-only: a change is a new row taking effect
    now or later, never earlier, set by someone with a reason."""

    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    effective_from = models.DateTimeField(
        help_text="When it takes effect: now or later, never in the past."
    )
    reason = models.TextField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    set_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["-effective_from", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_from__gte=F("set_at")),
                name="%(app_label)s_%(class)s_not_backdated",
            ),
            models.CheckConstraint(
                condition=~Q(reason=""), name="%(app_label)s_%(class)s_says_why"
            ),
            models.UniqueConstraint(
                fields=["region", "effective_from"],
                condition=Q(region__isnull=False),
                name="%(app_label)s_%(class)s_one_per_region_moment",
            ),
            models.UniqueConstraint(
                fields=["effective_from"],
                condition=Q(region__isnull=True),
                name="%(app_label)s_%(class)s_one_global_per_moment",
            ),
        ]

    def __str__(self):
        where = self.region.code if self.region_id else "All regions"
        return f"{where}: {self.terms} from {self.effective_from:%Y-%m-%d %H:%M}"


class EarningsHold(RegionRule):
    """How many days a gift's diamonds stay on hold before the creator may cash them
    out, for gifts sent from `region` (or, with no region, from any region without a
    rule of its own) from `effective_from` on.

    Append-only: a change is a new row taking effect now or later, never earlier, so
    a gift's hold is the rule in force when it was sent and editing the hold never
    un-holds or re-holds a past gift (docs/holds.md).
    """

    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Gifts bought in this region; empty: every region without a rule.",
    )
    days = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(EARNINGS_HOLD_MAX_DAYS)],
        help_text="Days a gift's diamonds are held; 0 turns the hold off.",
    )

    class Meta(RegionRule.Meta):
        verbose_name = "earnings hold"
        constraints = [
            models.CheckConstraint(
                condition=Q(days__gte=0, days__lte=EARNINGS_HOLD_MAX_DAYS),
                name="gifting_earningshold_days_in_range",
            ),
            *RegionRule.Meta.constraints,
        ]

    @property
    def terms(self) -> str:
        return f"{self.days} days"


class HoldRecoveryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Hold recoveries are append-only.")

    def delete(self):
        raise TypeError("Hold recoveries are append-only.")


class TakenBack(models.Model):
    """What a store refund took back from one earning still on hold: the creator's
    earning from `paid_coins` of the refunded purchase. A concrete record adds the
    purchase, the earning and the transfer (their reverse names differ).
    Append-only; what the hold saved is the sum of these."""

    paid_coins = models.PositiveIntegerField(
        help_text="Paid coins of the refunded purchase taken to have paid for it."
    )
    diamond_units = models.PositiveBigIntegerField(
        help_text=f"Creator's diamonds taken back, in 1/{DIAMOND_SCALE:,}."
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = HoldRecoveryQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]


class HoldRecovery(TakenBack):
    """Diamonds a store refund took back from a gift still on hold, moved back by
    `transfer`."""

    purchase = models.ForeignKey(
        Purchase, on_delete=models.PROTECT, related_name="hold_recoveries"
    )
    gift_send = models.ForeignKey(
        GiftSend, on_delete=models.PROTECT, related_name="hold_recoveries"
    )
    transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, related_name="hold_recovery"
    )

    class Meta(TakenBack.Meta):
        verbose_name_plural = "hold recoveries"
        constraints = [
            models.UniqueConstraint(
                fields=["purchase", "gift_send"],
                name="gifting_holdrecovery_once_per_purchase_gift",
            ),
            models.CheckConstraint(
                condition=Q(paid_coins__gt=0, diamond_units__gt=0),
                name="gifting_holdrecovery_something_recovered",
            ),
        ]

    def __str__(self):
        return f"Purchase #{self.purchase_id}: gift #{self.gift_send_id} taken back"


class SponsorCampaign(models.Model):
    """A brand pays for part of a gift: while it runs, in its regions, each gift
    sent costs the sender `subsidy_coins` less (at most the gift's price), up to
    `per_user_cap_coins` of subsidy per sender, paid from the campaign's `budget`
    (a ledger account funded by `SponsorFunding`s). When the budget or the sender's
    cap cannot cover a send's whole subsidy, the sender pays the full price.
    """

    name = models.CharField(max_length=80)
    sponsor_name = models.CharField(max_length=80, help_text="The paying brand.")
    gift = models.ForeignKey(
        Gift, on_delete=models.PROTECT, related_name="sponsor_campaigns"
    )
    regions = models.ManyToManyField(
        Region, blank=True, help_text="None chosen: every region."
    )
    subsidy_coins = models.PositiveIntegerField(
        validators=[MinValueValidator(1)],
        help_text="Coins the sponsor pays of each gift sent (at most its price).",
    )
    per_user_cap_coins = models.PositiveBigIntegerField(
        validators=[MinValueValidator(1)],
        help_text="Most coins of subsidy one sender gets in this campaign.",
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    budget = models.OneToOneField(
        LedgerAccount,
        on_delete=models.PROTECT,
        related_name="sponsor_campaign",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(subsidy_coins__gt=0, per_user_cap_coins__gt=0),
                name="gifting_sponsorcampaign_amounts_positive",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="gifting_sponsorcampaign_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["gift", "ends_at"], name="gifting_sponsor_gift"),
        ]

    def __str__(self):
        return f"{self.name} ({self.sponsor_name})"

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The campaign must end after it starts."})


class SponsorFundingQuerySet(models.QuerySet):
    def delete(self):
        raise TypeError("Fundings are never deleted: reject a wrong one.")


class SponsorFunding(models.Model):
    """Money a brand paid for a campaign, and the coins it buys the campaign's
    budget. Recorded by one finance user, it moves nothing until a second,
    different one confirms it (the coins are minted then, from the sponsor funding
    system account) or rejects it. Only that one decision ever changes a row.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Waiting"
        APPROVED = "approved", "Confirmed"
        REJECTED = "rejected", "Rejected"

    campaign = models.ForeignKey(
        SponsorCampaign, on_delete=models.PROTECT, related_name="fundings"
    )
    coins = models.PositiveBigIntegerField(validators=[MinValueValidator(1)])
    money_received = MinorUnitsMoneyField(
        max_digits=14, decimal_places=2, default_currency=None
    )
    payment_reference = models.CharField(
        max_length=100, help_text="The brand's payment as the bank shows it."
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.REQUESTED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=200, blank=True)
    transfer = models.OneToOneField(
        "wallets.Transfer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = SponsorFundingQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("approve_sponsorfunding", "Can confirm a sponsor funding")]
        constraints = [
            models.CheckConstraint(
                condition=Q(coins__gt=0, money_received__gt=0),
                name="gifting_sponsorfunding_amounts_positive",
            ),
            models.CheckConstraint(
                condition=~Q(decided_by=F("requested_by")) | ~Q(status="approved"),
                name="gifting_sponsorfunding_confirmed_by_another",
            ),
            models.CheckConstraint(
                condition=Q(
                    status="requested", decided_by__isnull=True, transfer__isnull=True
                )
                | Q(status="approved", decided_by__isnull=False, transfer__isnull=False)
                | Q(status="rejected", decided_by__isnull=False, transfer__isnull=True),
                name="gifting_sponsorfunding_state_consistent",
            ),
        ]

    def __str__(self):
        return f"Funding #{self.pk} of {self.campaign_id}: {self.coins:,} coins"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError("A funding changes only by its decision (the services).")
        super().save(*args, **kwargs)


GIFTER_LEVEL_MAX = 50


class GifterLevel(models.Model):
    """A gifter level (1 to 50) and the coins a user must have gifted to reach it.

    Staff edit the thresholds; every change is kept in history. A user's level is
    computed when read from their coins gifted (`GifterTotal`), so a change applies
    to everyone at once and nothing is recomputed. Thresholds rise strictly with
    the level (`services.gifter_levels.gifter_level_errors`, checked on save).
    """

    number = models.PositiveSmallIntegerField(
        unique=True,
        validators=[MinValueValidator(1), MaxValueValidator(GIFTER_LEVEL_MAX)],
    )
    coins_needed = models.PositiveBigIntegerField(
        help_text="Coins gifted, all time, that reach this level; level 1 needs 0."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(number__gte=1, number__lte=GIFTER_LEVEL_MAX),
                name="gifting_gifterlevel_number_in_range",
            ),
            models.CheckConstraint(
                condition=Q(number=1, coins_needed=0)
                | Q(number__gt=1, coins_needed__gt=0),
                name="gifting_gifterlevel_first_needs_nothing",
            ),
        ]

    def __str__(self):
        return f"Gifter level {self.number}: {display.number(self.coins_needed)} coins"


class GifterTotal(models.Model):
    """Coins a user has given in gifts, all time: what their gifter level goes by.

    Added to in the gift send's own transaction (the sender's rows are locked by
    the debit already), so it always equals the sum of the sender's gift sends'
    coins less what sponsors paid of them. Bonus coins count; subsidies do not.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="+",
    )
    coins = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.user_id}: {self.coins} coins gifted"


class AccountFacts(models.Model):
    """What the main platform last said about a user's account (docs/creators.md).

    One row per user, replaced whole only by a report with a later `as_of`, so a
    report delivered late never overwrites a newer one. The platform is the source
    of these facts: staff do not edit them.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_facts"
    )
    follower_count = models.PositiveIntegerField()
    birth_date = models.DateField(
        null=True, blank=True, help_text="As the platform verified it; empty: unknown."
    )
    suspended = models.BooleanField(
        default=False, help_text="Suspended on the platform."
    )
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    as_of = models.DateTimeField(help_text="When the platform read these facts.")
    reported_at = models.DateTimeField(default=timezone.now)
    reported_by = models.ForeignKey(
        "accounts.ServiceToken",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name_plural = "account facts"
        ordering = ["-as_of", "-id"]

    def __str__(self):
        return f"{self.user}: {self.follower_count:,} followers as of {self.as_of}"


class EligibilityRule(RegionRule):
    """Who may become a creator in `region` (or, with no region, in any region
    without a rule of its own) from `effective_from` on: the age, the followers,
    and whether every application waits for a person.

    Append-only, like `EarningsHold`: a change is a new row taking effect now or
    later; an application stamps the rule it was decided by. A rule may only be
    stricter than the platform's floor (18+, `MIN_FOLLOWERS_TO_RECEIVE`), which
    gift sends keep checking (docs/creators.md).
    """

    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Applicants in this region; empty: every region without a rule.",
    )
    min_age = models.PositiveSmallIntegerField(
        default=18, validators=[MinValueValidator(18), MaxValueValidator(99)]
    )
    min_followers = models.PositiveIntegerField(
        default=MIN_FOLLOWERS_TO_RECEIVE,
        validators=[MinValueValidator(MIN_FOLLOWERS_TO_RECEIVE)],
    )
    review_all = models.BooleanField(
        "review every application",
        default=False,
        help_text="Send every application to the review queue, even one that "
        "meets the rule.",
    )
    facts_max_age_days = models.PositiveSmallIntegerField(
        "facts at most (days old)",
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Older platform facts send the application to review.",
    )

    class Meta(RegionRule.Meta):
        constraints = [
            models.CheckConstraint(
                condition=Q(min_age__gte=18, min_age__lte=99),
                name="gifting_eligibilityrule_adults_only",
            ),
            models.CheckConstraint(
                condition=Q(min_followers__gte=MIN_FOLLOWERS_TO_RECEIVE),
                name="gifting_eligibilityrule_followers_floor",
            ),
            models.CheckConstraint(
                condition=Q(facts_max_age_days__gte=1, facts_max_age_days__lte=365),
                name="gifting_eligibilityrule_facts_age_in_range",
            ),
            *RegionRule.Meta.constraints,
        ]

    @property
    def terms(self) -> str:
        review = ", every application reviewed" if self.review_all else ""
        return (
            f"{self.min_age}+, {self.min_followers:,} followers, facts at most "
            f"{self.facts_max_age_days} days old{review}"
        )


class CreatorApplication(models.Model):
    """A user asks to become a creator. The rule in force decides at once, or the
    application waits in the review queue for a person with the permission (never
    the applicant). The facts and the rule it was decided on are stamped.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        APPROVED = "approved", "Approved"
        REFUSED = "refused", "Refused"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="creator_applications",
        db_index=False,  # the (user, -created_at) index leads with it
    )
    display_name = models.CharField(max_length=60)
    status = models.CharField(max_length=8, choices=Status.choices)
    follower_count = models.PositiveIntegerField(null=True, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    platform_suspended = models.BooleanField(null=True, blank=True)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    facts_as_of = models.DateTimeField(
        null=True, blank=True, help_text="Empty: the platform reported nothing."
    )
    rule = models.ForeignKey(
        EligibilityRule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="applications",
        help_text="Empty: the built-in default rule.",
    )
    rule_terms = models.CharField(max_length=200)
    reasons = models.JSONField(
        default=list, blank=True, help_text="[{code, message}]: why it was refused."
    )
    review_reason = models.CharField(max_length=200, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(
        max_length=200, blank=True, help_text="The reviewer's words to the applicant."
    )
    creator = models.OneToOneField(
        CreatorProfile,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="application",
    )
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("decide_creatorapplication", "Can approve or refuse creator applications")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status="pending"),
                name="gifting_creatorapplication_one_open_per_user",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("user")),
                name="gifting_creatorapplication_not_self_decided",
            ),
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True)
                | Q(status="approved", creator__isnull=False, decided_at__isnull=False)
                | Q(status="refused", creator__isnull=True, decided_at__isnull=False),
                name="gifting_creatorapplication_state_consistent",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="gifting_app_queue"),
            models.Index(fields=["user", "-created_at"], name="gifting_app_user"),
        ]

    def __str__(self):
        return f"Application #{self.pk} by {self.user}: {self.get_status_display()}"
