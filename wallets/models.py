from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from djmoney.money import Money
from simple_history.models import HistoricalRecords

from accounts.models import User
from catalog.models import BundlePrice, CoinBundle, Region
from core import display
from core.fields import MinorUnitsMoneyField
from core.idempotency import fingerprint_field

from .units import DIAMOND_SCALE as DIAMOND_SCALE


class Unit(models.TextChoices):
    COIN = "coin", "Coins"
    DIAMOND = "diamond", "Diamonds"


def unit_display(unit: str, units: int, *, signed: bool = False) -> str:
    """An amount of the ledger in its unit: "1,000 coins", "0.5 diamonds"."""
    if unit == Unit.DIAMOND:
        return display.diamonds(units, signed=signed, unit=True)
    return display.coins(units, signed=signed, unit="coin")


def amount_display(kind: str, units: int, *, signed: bool = False) -> str:
    """A user account's amount as people read it: "1,000 coins", "0.5 diamonds"."""
    if kind == AccountKind.DIAMONDS:
        return display.diamonds(units, signed=signed, unit=True)
    noun = "bonus coin" if kind == AccountKind.BONUS_COINS else "coin"
    return display.coins(units, signed=signed, unit=noun)


class AccountKind(models.TextChoices):
    PAID_COINS = "paid_coins", "Paid coins"
    BONUS_COINS = "bonus_coins", "Bonus coins"
    DIAMONDS = "diamonds", "Diamonds"
    COIN_ISSUANCE = "coin_issuance", "System: coins sold"
    BONUS_ISSUANCE = "bonus_issuance", "System: bonus coins granted"
    COIN_REFUNDS = "coin_refunds", "System: coins refunded"
    COINS_SPENT = "coins_spent", "System: coins spent on gifts"
    DIAMOND_ISSUANCE = "diamond_issuance", "System: diamonds issued"
    PLATFORM_REVENUE = "platform_revenue", "System: platform revenue"
    PAYOUT_HOLD = "payout_hold", "System: payout hold"
    PAID_OUT = "paid_out", "System: paid out"
    BONUS_ADJUSTMENTS = "bonus_adjustments", "System: bonus coin adjustments"
    DIAMOND_ADJUSTMENTS = "diamond_adjustments", "System: diamond adjustments"
    SPONSOR_FUNDING = "sponsor_funding", "System: coins funded by sponsors"
    SPONSOR_BUDGET = "sponsor_budget", "Sponsor campaign budget"


USER_ACCOUNT_KINDS = (
    AccountKind.PAID_COINS,
    AccountKind.BONUS_COINS,
    AccountKind.DIAMONDS,
)
COIN_ACCOUNT_KINDS = (
    AccountKind.PAID_COINS,
    AccountKind.BONUS_COINS,
    AccountKind.COIN_ISSUANCE,
    AccountKind.BONUS_ISSUANCE,
    AccountKind.COIN_REFUNDS,
    AccountKind.COINS_SPENT,
    AccountKind.BONUS_ADJUSTMENTS,
    AccountKind.SPONSOR_FUNDING,
    AccountKind.SPONSOR_BUDGET,
)
# Accounts of no user that keep a cached balance, never below zero, like a user's:
# one per sponsor campaign (gifting.SponsorCampaign), whose gift subsidies must not
# overdraw it under any concurrency.
CACHED_SYSTEM_KINDS = (AccountKind.SPONSOR_BUDGET,)


class LedgerAccount(models.Model):
    """Holds one unit for a user or for the platform; only transfers move its balance.

    `balance` is cached for user accounts, kept in step by the transfer service and
    never below zero (a database constraint). System accounts keep no cached balance:
    every purchase and gift would queue on their row lock; their balance is the sum of
    their transfers (see `selectors.system_balances`). A sponsor campaign's budget
    has no owner but is cached and never below zero, as a user's coins are.
    """

    Kind = AccountKind
    USER_KINDS = USER_ACCOUNT_KINDS
    COIN_KINDS = COIN_ACCOUNT_KINDS
    CACHED_SYSTEM_KINDS = CACHED_SYSTEM_KINDS

    kind = models.CharField(max_length=20, choices=Kind.choices)
    unit = models.CharField(max_length=8, choices=Unit.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
    )
    balance = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner__isnull=True) | Q(balance__gte=0),
                name="wallets_ledgeraccount_user_balance_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=CACHED_SYSTEM_KINDS) | Q(balance__gte=0),
                name="wallets_ledgeraccount_sponsor_budget_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(owner__isnull=False)
                | Q(kind__in=CACHED_SYSTEM_KINDS)
                | Q(balance=0),
                name="wallets_ledgeraccount_system_balance_not_cached",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=USER_ACCOUNT_KINDS, owner__isnull=False)
                    | (~Q(kind__in=USER_ACCOUNT_KINDS) & Q(owner__isnull=True))
                ),
                name="wallets_ledgeraccount_owner_matches_kind",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=COIN_ACCOUNT_KINDS, unit=Unit.COIN)
                    | (~Q(kind__in=COIN_ACCOUNT_KINDS) & Q(unit=Unit.DIAMOND))
                ),
                name="wallets_ledgeraccount_unit_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["owner", "kind"],
                condition=Q(owner__isnull=False),
                name="wallets_ledgeraccount_one_per_owner_kind",
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(owner__isnull=True) & ~Q(kind__in=CACHED_SYSTEM_KINDS),
                name="wallets_ledgeraccount_one_per_system_kind",
            ),
        ]

    def __str__(self):
        if self.owner_id is None:
            return self.get_kind_display()
        return f"{self.owner} · {self.get_kind_display()}"

    @property
    def is_system(self) -> bool:
        """Keeps no cached balance: postings leave its row alone."""
        return self.owner_id is None and self.kind not in CACHED_SYSTEM_KINDS

    @classmethod
    def unit_for(cls, kind: str) -> str:
        return Unit.COIN if kind in cls.COIN_KINDS else Unit.DIAMOND


class TransferQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError(
            "Transfers are append-only: post a correcting transfer instead."
        )

    def delete(self):
        raise TypeError(
            "Transfers are append-only: post a correcting transfer instead."
        )


class Transfer(models.Model):
    """Moves `amount` of one unit from `debit_account` (its balance falls) to
    `credit_account` (its balance rises).

    Append-only: never updated or deleted; a correction is a new transfer.
    """

    class Kind(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        PURCHASE_BONUS = "purchase_bonus", "Purchase bonus"
        REFUND = "refund", "Refund"
        BONUS_CLAWBACK = "bonus_clawback", "Bonus taken back on refund"
        SPEND = "spend", "Coins spent"
        GIFT = "gift", "Gift"
        GIFT_EARNING = "gift_earning", "Gift earning"
        GIFT_PLATFORM_SHARE = "gift_platform_share", "Platform share of a gift"
        PAYOUT_HOLD = "payout_hold", "Held for a payout"
        PAYOUT_RELEASE = "payout_release", "Payout hold released"
        PAYOUT = "payout", "Paid out"
        ADJUSTMENT = "adjustment", "Manual adjustment"
        HOLD_TAKE_BACK = "hold_take_back", "Taken back from the earnings hold"
        SPONSOR_FUNDING = "sponsor_funding", "Sponsor funding"
        GIFT_SUBSIDY = "gift_subsidy", "Gift subsidized by a sponsor"
        SUBSCRIPTION = "subscription", "Subscription"
        SUBSCRIPTION_EARNING = "sub_earning", "Subscription earning"
        SUBSCRIPTION_PLATFORM_SHARE = (
            "sub_platform_share",
            ("Platform share of a subscription"),
        )
        SUBSCRIPTION_REFUND = "sub_refund", "Subscription charge refunded"
        SUBSCRIPTION_EARNING_BACK = (
            "sub_earning_back",
            "Subscription earning taken back on refund",
        )
        SUBSCRIPTION_PLATFORM_BACK = (
            "sub_platform_back",
            "Platform share of a refunded subscription",
        )

    debit_account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="debits"
    )
    credit_account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="credits"
    )
    unit = models.CharField(max_length=8, choices=Unit.choices)
    amount = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reference = models.CharField(
        max_length=64, help_text="What caused it, e.g. purchase:42."
    )
    idempotency_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = TransferQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("export_transfer", "Can export the transfer list")]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="wallets_transfer_amount_positive"
            ),
            models.CheckConstraint(
                condition=~Q(debit_account=F("credit_account")),
                name="wallets_transfer_between_two_accounts",
            ),
            # A constraint, not unique=True: on PostgreSQL that would add a second,
            # pattern-matching index that every one of a gift's four inserts pays for.
            models.UniqueConstraint(
                fields=["idempotency_key"], name="wallets_transfer_key_once"
            ),
        ]
        indexes = [
            models.Index(fields=["reference"], name="wallets_transfer_reference"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()}: {self.amount_display}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError("Transfers are append-only: post a correcting transfer.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Transfers are append-only: post a correcting transfer.")

    @property
    def amount_display(self) -> str:
        return unit_display(self.unit, self.amount)


class PendingCredit(models.Model):
    """A credit to a busy account, posted but not yet folded into its cached balance.

    Thousands of viewers gifting one creator would otherwise queue on the creator's
    balance row. The account's balance is its cached `balance` plus its pending
    credits; `ledger.pending_credits_fold` moves them in, in the background.
    """

    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="pending_credits"
    )
    transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, related_name="pending_credit"
    )
    amount = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="wallets_pendingcredit_amount_positive"
            ),
        ]

    def __str__(self):
        return f"{self.amount} pending for account {self.account_id}"


class Promotion(models.Model):
    """Extra coins on a purchase: a first-purchase bonus or a time-boxed campaign."""

    class Kind(models.TextChoices):
        FIRST_PURCHASE = "first_purchase", "First-purchase bonus"
        CAMPAIGN = "campaign", "Campaign"

    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    bonus_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[
            MinValueValidator(Decimal("0.01")),
            MaxValueValidator(Decimal("500")),
        ],
        help_text="Extra coins as a percent of the bundle's coins, rounded down.",
    )
    regions = models.ManyToManyField(
        Region, blank=True, help_text="None chosen: every region."
    )
    channel = models.CharField(
        max_length=8,
        choices=BundlePrice.Channel.choices,
        blank=True,
        help_text="Empty: both stores.",
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-starts_at", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(bonus_percent__gt=0, bonus_percent__lte=500),
                name="wallets_promotion_bonus_percent_in_range",
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(ends_at__gt=F("starts_at")),
                name="wallets_promotion_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.name} (+{self.bonus_percent}%)"

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The campaign must end after it starts."})


class Purchase(models.Model):
    """Coins bought from a store, priced by the server at that moment.

    Also the lot its paid coins are spent from: `paid_coins_remaining` falls as they
    are spent (oldest purchase first), so "unused" is exact.
    """

    class Store(models.TextChoices):
        APPLE = "apple", "App Store"
        GOOGLE = "google", "Google Play"
        WEB = "web", "Web store"

    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        REFUNDED = "refunded", "Refunded"

    class RefundSource(models.TextChoices):
        FINANCE = "finance", "Finance"
        STORE = "store", "Store notification"
        REQUEST = "request", "The buyer's request, within the rules"

    CHANNEL_OF_STORE = {
        Store.APPLE: BundlePrice.Channel.APP,
        Store.GOOGLE: BundlePrice.Channel.APP,
        Store.WEB: BundlePrice.Channel.WEB,
    }

    # No index of its own: the (user, created_at) and (user, key) indexes lead with
    # it, and a gift that spends paid coins rewrites every index of its lot.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="purchases",
        db_index=False,
    )
    bundle = models.ForeignKey(CoinBundle, on_delete=models.PROTECT, related_name="+")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=8, choices=BundlePrice.Channel.choices)
    store = models.CharField(max_length=8, choices=Store.choices)
    store_transaction_id = models.CharField(max_length=128)
    idempotency_key = models.CharField(max_length=200)
    request_fingerprint = fingerprint_field()
    bundle_price = models.ForeignKey(
        BundlePrice, on_delete=models.PROTECT, related_name="+"
    )
    price = MinorUnitsMoneyField(max_digits=14, decimal_places=2, default_currency=None)
    coins = models.PositiveIntegerField(help_text="Paid coins credited.")
    bundle_bonus_coins = models.PositiveIntegerField(default=0)
    promotion_bonus_coins = models.PositiveIntegerField(default=0)
    promotions = models.ManyToManyField(
        Promotion,
        blank=True,
        related_name="purchases",
        through="PurchasePromotion",
    )
    paid_coins_remaining = models.PositiveIntegerField()
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.COMPLETED
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    refunded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    refund_source = models.CharField(
        max_length=8, choices=RefundSource.choices, blank=True
    )
    refund_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("refund_purchase", "Can refund a purchase"),
            ("export_purchase", "Can export the purchase list"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "store_transaction_id"],
                name="wallets_purchase_store_transaction_once",
            ),
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                name="wallets_purchase_idempotency_key_once",
            ),
            models.CheckConstraint(
                condition=Q(coins__gt=0), name="wallets_purchase_coins_positive"
            ),
            models.CheckConstraint(
                condition=Q(paid_coins_remaining__lte=F("coins")),
                name="wallets_purchase_remaining_within_coins",
            ),
            models.CheckConstraint(
                condition=Q(status="completed", refunded_at__isnull=True)
                | Q(
                    status="refunded", refunded_at__isnull=False, paid_coins_remaining=0
                ),
                name="wallets_purchase_refund_state_consistent",
            ),
        ]
        indexes = [
            models.Index(
                fields=["user", "created_at"],
                condition=Q(paid_coins_remaining__gt=0),
                name="wallets_purchase_open_lots",
            ),
            # Spending limits sum a user's purchases in every region.
            models.Index(fields=["user", "created_at"], name="wallets_purchase_spend"),
        ]

    def __str__(self):
        return (
            f"Purchase #{self.pk}: {display.coins(self.coins)} coins "
            f"for {display.money(self.price)}"
        )

    @property
    def bonus_coins(self) -> int:
        return self.bundle_bonus_coins + self.promotion_bonus_coins


# The product's refund terms (14 days, unused coins): the seeded default rule, and
# the terms where no rule is in force at all (a database without the seed).
DEFAULT_REFUND_DAYS = 14
# A window past a year is a typing mistake, not a policy.
REFUND_DAYS_MAX = 365


class RefundRule(models.Model):
    """How a region's purchases are refunded, for purchases made from `effective_at`.

    The rule that governs a purchase is the one in force when it was bought: its
    region's rule with the latest `effective_at` up to then, else the default rule
    (no region) in force then. A rule never starts in the past, and one in force is
    never edited or deleted, so the terms of every purchase are fixed when it is
    bought. "Unused" is not a setting: only a purchase none of whose coins were
    spent is ever granted (`services.purchase_refund`).
    """

    class InApp(models.TextChoices):
        PLATFORM = "platform", "Here, like web-store purchases"
        STORE = "store", "Only by the App Store / Google Play"

    # Indexed by the (region, effective_at) constraint below.
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        help_text="Empty: the default for every region without a rule of its own.",
    )
    window_days = models.PositiveSmallIntegerField(
        "refund window (days)",
        validators=[MaxValueValidator(REFUND_DAYS_MAX)],
        help_text="Days after a purchase in which an unused one may be refunded "
        "(by finance, or at once within the self-service days); 0: never. "
        f"At most {REFUND_DAYS_MAX}.",
    )
    self_service_days = models.PositiveSmallIntegerField(
        "self-service days",
        validators=[MaxValueValidator(REFUND_DAYS_MAX)],
        help_text="Of those, the days in which the buyer's own request is granted at "
        "once, without review (the EU's 14-day withdrawal right); 0: every request "
        "waits for finance.",
    )
    in_app_purchases = models.CharField(
        "in-app purchases refunded",
        max_length=8,
        choices=InApp.choices,
        default=InApp.PLATFORM,
        help_text="Who refunds purchases made in the App Store or Google Play: "
        "where only the store does, nobody here refunds them.",
    )
    effective_at = models.DateTimeField(
        "from",
        blank=True,
        help_text="Governs purchases made from this moment on. Empty: now. Never in "
        "the past: a purchase's terms are those in force when it was bought.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["region__code", "-effective_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    window_days__lte=REFUND_DAYS_MAX,
                    self_service_days__lte=F("window_days"),
                ),
                name="wallets_refundrule_self_service_within_window",
            ),
            models.UniqueConstraint(
                fields=["region", "effective_at"],
                condition=Q(region__isnull=False),
                name="wallets_refundrule_one_per_region_moment",
            ),
            models.UniqueConstraint(
                fields=["effective_at"],
                condition=Q(region__isnull=True),
                name="wallets_refundrule_one_default_per_moment",
            ),
        ]

    def __str__(self):
        where = self.region.code if self.region_id else "Default"
        return (
            f"{where}: {self.window_days} days, {self.self_service_days} self-service, "
            f"from {display.when(self.effective_at)}"
        )

    def save(self, *args, **kwargs):
        # Also past the admin (a shell, a script): the form's check is in clean().
        if not self._state.adding:
            stored = RefundRule.objects.filter(pk=self.pk).first()
            if stored is not None and stored.is_in_force_by(timezone.now()):
                raise TypeError("A rule in force explains past refunds: add a new one.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.is_in_force_by(timezone.now()):
            raise TypeError("A rule in force explains past refunds: add a new one.")
        super().delete(*args, **kwargs)

    def clean(self):
        errors = {}
        now = timezone.now()
        if self.pk is not None and not self._state.adding:
            stored = RefundRule.objects.filter(pk=self.pk).first()
            if stored is not None and stored.is_in_force_by(now):
                raise ValidationError(
                    "This rule is in force and explains purchases made under it: "
                    "add a new rule instead."
                )
        if self.effective_at is None:
            self.effective_at = now
        elif self.effective_at < now:
            errors["effective_at"] = (
                "A rule cannot start in the past: leave it empty for now, or choose "
                "a later moment."
            )
        if (
            self.window_days is not None
            and self.self_service_days is not None
            and self.self_service_days > self.window_days
        ):
            errors["self_service_days"] = (
                f"At most the refund window ({self.window_days} days)."
            )
        if errors:
            raise ValidationError(errors)

    def is_in_force_by(self, moment) -> bool:
        return self.effective_at is not None and self.effective_at <= moment


class RefundRequestQuerySet(models.QuerySet):
    def delete(self):
        raise TypeError("Refund requests are never deleted.")


class RefundRequest(models.Model):
    """A buyer asked for a refund of a purchase (`refund_request_create`).

    Granted at once when the purchase's rule allows it, else queued for finance with
    why; finance approves (the refund happens then) or declines with a reason,
    never on their own purchase. One request per purchase, ever. Append-only: the
    one decision of a queued request is its only change.
    """

    class Status(models.TextChoices):
        GRANTED = "granted", "Granted at once"
        QUEUED = "queued", "Waiting for finance"
        APPROVED = "approved", "Granted by finance"
        DECLINED = "declined", "Declined by finance"

    class Review(models.TextChoices):
        NO_SELF_SERVICE = "no_self_service", "No self-service refunds in the region"
        SELF_SERVICE_PASSED = "self_service_passed", "Past the self-service days"
        IN_APP = "in_app", "Bought in an app store"

    # Both indexed by the unique constraints below.
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.PROTECT,
        related_name="refund_requests",
        db_index=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    reason = models.TextField(
        blank=True, help_text="What the buyer wrote, if anything."
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    rule = models.ForeignKey(
        RefundRule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The rule that governed the purchase; empty: the built-in terms.",
    )
    review = models.CharField(
        max_length=20,
        choices=Review.choices,
        blank=True,
        help_text="Why it waits for finance.",
    )
    review_detail = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)
    # What the refund took back, once granted (its transfers say so too).
    paid_coins_taken_back = models.PositiveIntegerField(null=True, blank=True)
    bonus_coins_taken_back = models.PositiveIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200)
    request_fingerprint = fingerprint_field()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = RefundRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["purchase"], name="wallets_refundrequest_one_per_purchase"
            ),
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                name="wallets_refundrequest_key_once",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["granted", "approved"],
                    paid_coins_taken_back__isnull=False,
                    bonus_coins_taken_back__isnull=False,
                )
                | Q(
                    status__in=["queued", "declined"],
                    paid_coins_taken_back__isnull=True,
                    bonus_coins_taken_back__isnull=True,
                ),
                name="wallets_refundrequest_taken_back_once_granted",
            ),
            models.CheckConstraint(
                condition=Q(
                    status="granted",
                    review="",
                    decided_by__isnull=True,
                    decided_at__isnull=False,
                    decline_reason="",
                )
                | (
                    Q(
                        status="queued",
                        decided_by__isnull=True,
                        decided_at__isnull=True,
                        decline_reason="",
                    )
                    & ~Q(review="")
                )
                | (
                    Q(
                        status="approved",
                        decided_by__isnull=False,
                        decided_at__isnull=False,
                        decline_reason="",
                    )
                    & ~Q(review="")
                )
                | (
                    Q(
                        status="declined",
                        decided_by__isnull=False,
                        decided_at__isnull=False,
                    )
                    & ~Q(review="")
                    & ~Q(decline_reason="")
                ),
                name="wallets_refundrequest_state_consistent",
            ),
            # Four eyes: nobody decides a request for their own purchase.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("user")),
                name="wallets_refundrequest_not_decided_by_its_buyer",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(status="queued"),
                name="wallets_refundrequest_queue",
            ),
        ]

    def __str__(self):
        return f"Refund request #{self.pk} for purchase #{self.purchase_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Refund requests change only by their one decision.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Refund requests are never deleted.")


class PurchasePromotion(models.Model):
    """A promotion a purchase earned. It protects the promotion: deleting one that
    explains a purchase's bonus coins is refused (deactivate it instead)."""

    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE)
    promotion = models.ForeignKey(Promotion, on_delete=models.PROTECT)

    class Meta:
        db_table = "wallets_purchase_promotions"
        constraints = [
            models.UniqueConstraint(
                fields=["purchase", "promotion"],
                name="wallets_purchase_promotions_purchase_id_promotion_id_uniq",
            ),
        ]

    def __str__(self):
        return f"{self.purchase_id}: {self.promotion_id}"


class UnrecoveredStoreRefundQuerySet(models.QuerySet):
    def delete(self):
        raise TypeError("Unrecovered store refunds are never deleted: resolve them.")


class UnrecoveredStoreRefund(models.Model):
    """A store refunded a purchase whose coins were partly spent: the money went back
    to the buyer, and the spent coins cannot come back to the platform.

    Written by the store notification service when it takes back what was left of
    the purchase (the purchase is then refunded), one per purchase; a store's
    repeats only count. The figures are stamped then: what was taken back and what
    was already spent. Never deleted; its resolution, with finance's note, is set once.
    """

    purchase = models.OneToOneField(
        Purchase, on_delete=models.PROTECT, related_name="unrecovered_store_refund"
    )
    store = models.CharField(max_length=8, choices=Purchase.Store.choices)
    price = MinorUnitsMoneyField(
        max_digits=14,
        decimal_places=2,
        default_currency=None,
        help_text="What the buyer paid, and the store gave back.",
    )
    paid_coins_spent = models.PositiveIntegerField(
        help_text="The purchase's paid coins already spent: not recovered."
    )
    bonus_coins_missing = models.PositiveIntegerField(
        help_text="The purchase's bonus coins the buyer no longer held: not recovered."
    )
    paid_coins_recovered = models.PositiveIntegerField(
        default=0,
        help_text="Of the paid coins spent, those whose gifts were still on hold: "
        "the creator's diamonds from them were taken back.",
    )
    diamond_units_recovered = models.PositiveBigIntegerField(
        default=0,
        help_text=f"Creators' diamonds the hold took back, in 1/{DIAMOND_SCALE:,}.",
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_received_at = models.DateTimeField(default=timezone.now)
    notifications = models.PositiveIntegerField(
        default=1, help_text="How many times the store sent this refund."
    )
    refunded_twice = models.BooleanField(
        default=False,
        help_text="The platform had refunded this purchase before the store refunded "
        "it too: the buyer got the whole price back twice.",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    resolution_note = models.TextField(blank=True)

    objects = UnrecoveredStoreRefundQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "unrecovered store refund"
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    resolved_at__isnull=True,
                    resolved_by__isnull=True,
                    resolution_note="",
                )
                | (
                    Q(resolved_at__isnull=False, resolved_by__isnull=False)
                    & ~Q(resolution_note="")
                )
                # Recovered in full by the earnings hold: closed by the platform.
                | (
                    Q(resolved_at__isnull=False, resolved_by__isnull=True)
                    & ~Q(resolution_note="")
                    & Q(
                        paid_coins_recovered=F("paid_coins_spent"),
                        bonus_coins_missing=0,
                        refunded_twice=False,
                    )
                ),
                name="wallets_unrecoveredstorerefund_resolved_with_a_note",
            ),
            models.CheckConstraint(
                condition=Q(paid_coins_recovered__lte=F("paid_coins_spent"))
                & (Q(paid_coins_recovered=0) | Q(diamond_units_recovered__gt=0)),
                name="wallets_unrecoveredstorerefund_recovered_within_spent",
            ),
            models.CheckConstraint(
                condition=Q(notifications__gte=1),
                name="wallets_unrecoveredstorerefund_notified_at_least_once",
            ),
            models.CheckConstraint(
                condition=Q(paid_coins_spent__gt=0)
                | Q(bonus_coins_missing__gt=0)
                | Q(refunded_twice=True),
                name="wallets_unrecoveredstorerefund_something_not_recovered",
            ),
            # Refunded twice, the platform's refund took the coins back already.
            models.CheckConstraint(
                condition=Q(refunded_twice=False)
                | Q(paid_coins_spent=0, bonus_coins_missing=0),
                name="wallets_unrecoveredstorerefund_twice_nothing_spent",
            ),
        ]

    def __str__(self):
        return f"Store refund of purchase #{self.purchase_id} not recovered"

    def delete(self, *args, **kwargs):
        raise TypeError("Unrecovered store refunds are never deleted: resolve them.")

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None

    @property
    def paid_coins_not_recovered(self) -> int:
        """Paid coins spent on gifts that had left the hold: the loss."""
        return self.paid_coins_spent - self.paid_coins_recovered

    # What was not lost was taken back (the refund's transfers say so too); after a
    # platform refund the store's took back nothing: the platform's had.
    @property
    def paid_coins_taken_back(self) -> int:
        if self.refunded_twice:
            return 0
        return self.purchase.coins - self.paid_coins_spent

    @property
    def bonus_coins_taken_back(self) -> int:
        if self.refunded_twice:
            return 0
        return self.purchase.bonus_coins - self.bonus_coins_missing

    @property
    def description(self) -> str:
        if self.refunded_twice:
            purchase = self.purchase
            refunded_at = display.when(purchase.refunded_at)
            return (
                f"Refunded twice: refunded here on {refunded_at} "
                f"({purchase.get_refund_source_display()}), then by "
                f"{self.get_store_display()}; the buyer got "
                f"{display.money(self.price)} back twice."
            )
        coins = display.coins
        paid, bonus = coins(self.purchase.coins), coins(self.purchase.bonus_coins)
        lost = []
        if self.paid_coins_not_recovered:
            lost.append(
                f"{coins(self.paid_coins_not_recovered)} of its {paid} paid coins"
            )
        if self.bonus_coins_missing:
            lost.append(f"{coins(self.bonus_coins_missing)} of its {bonus} bonus coins")
        taken = (
            f"Taken back: {coins(self.paid_coins_taken_back)} paid and "
            f"{coins(self.bonus_coins_taken_back)} bonus coins."
        )
        held = (
            f"The earnings hold recovered {coins(self.paid_coins_recovered)} spent "
            f"paid coins ({display.diamonds(self.diamond_units_recovered, unit=True)}"
            " taken back from creators)."
        )
        if not lost:
            return f"Nothing lost: {held} {taken}"
        text = f"Not recovered, already spent: {' and '.join(lost)}. {taken}"
        return f"{text} {held}" if self.paid_coins_recovered else text

    @property
    def paid_value_not_recovered(self) -> Money:
        """The price of the paid coins spent and not recovered by the earnings
        hold, to the cent (half up); all of it when refunded twice."""
        if self.refunded_twice:
            return self.price
        value = self.price.amount * self.paid_coins_not_recovered / self.purchase.coins
        return Money(
            value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
            self.price.currency,
        )


class SpendingLimit(models.Model):
    """How much one user may spend on coins in a region, per day and per month."""

    region = models.OneToOneField(Region, on_delete=models.CASCADE, related_name="+")
    daily_limit = MinorUnitsMoneyField(
        max_digits=14, decimal_places=2, default_currency=None
    )
    monthly_limit = MinorUnitsMoneyField(
        max_digits=14, decimal_places=2, default_currency=None
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["region__code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(daily_limit__gt=0, monthly_limit__gte=F("daily_limit")),
                name="wallets_spendinglimit_positive_and_ordered",
            ),
        ]

    def __str__(self):
        return f"{self.region.code}: {self.daily_limit}/day, {self.monthly_limit}/month"

    def clean(self):
        _check_limits_currency(self, self.region if self.region_id else None)


class SpendingLimitOverride(models.Model):
    """A user's own limits in a region, set by support or finance; empty = region's."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+")
    daily_limit = MinorUnitsMoneyField(
        max_digits=14, decimal_places=2, default_currency=None, null=True, blank=True
    )
    monthly_limit = MinorUnitsMoneyField(
        max_digits=14, decimal_places=2, default_currency=None, null=True, blank=True
    )
    reason = models.TextField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "region"],
                name="wallets_spendinglimitoverride_one_per_region",
            ),
            models.CheckConstraint(
                condition=Q(daily_limit__isnull=True) | Q(daily_limit__gte=0),
                name="wallets_spendinglimitoverride_daily_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(monthly_limit__isnull=True) | Q(monthly_limit__gte=0),
                name="wallets_spendinglimitoverride_monthly_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.user} in {self.region.code}"

    def clean(self):
        _check_limits_currency(self, self.region if self.region_id else None)


def _check_limits_currency(limits, region: Region | None) -> None:
    if region is None:
        return
    errors = {}
    for field in ("daily_limit", "monthly_limit"):
        value = getattr(limits, field)
        if value is not None and str(value.currency) != str(region.currency):
            errors[field] = f"Limits in {region.code} are in {region.currency}."
    if errors:
        raise ValidationError(errors)


class HomeRegion(models.Model):
    """The region a user buys coins and sends gifts from: its prices, its spending
    limits and its region-only gifts apply to them, whatever region a request names.

    Set by the user's first purchase (the storefront the store reports, or the region
    that purchase named when the store reports none) or by the platform; changed only
    by support, with a reason (`services.home_region_set`). Audited: every change
    is in *Audit records* with who made it and the row before and after.
    """

    class Source(models.TextChoices):
        STOREFRONT = "storefront", "Storefront of the first purchase"
        FIRST_PURCHASE = "first_purchase", "Region named by the first purchase"
        SUPPORT = "support", "Support"
        PLATFORM = "platform", "Platform"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="home_region"
    )
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices)
    reason = models.TextField(blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    set_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user__username"]
        verbose_name = "home region"
        constraints = [
            models.CheckConstraint(
                condition=~Q(source="support")
                | (Q(set_by__isnull=False) & ~Q(reason="")),
                name="wallets_homeregion_support_says_who_and_why",
            ),
        ]

    def __str__(self):
        return f"{self.user}: {self.region.code}"


class ReconciliationRun(models.Model):
    """The outcome of one check of the ledger's invariants."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    transfers_checked = models.PositiveBigIntegerField(default=0)
    accounts_checked = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]
        permissions = [("run_reconciliationrun", "Can run a reconciliation now")]

    def __str__(self):
        verdict = "clean" if self.is_clean else f"{len(self.problems)} problem(s)"
        return f"Reconciliation {self.started_at:%Y-%m-%d %H:%M}: {verdict}"

    @property
    def is_clean(self) -> bool:
        return not self.problems


class BalanceAdjustmentQuerySet(models.QuerySet):
    def delete(self):
        raise TypeError("Adjustments are never deleted: make a correcting one.")


class BalanceAdjustment(models.Model):
    """A correction finance made to a user's bonus coins or diamonds, and why.

    A credit is a request that moves nothing until a second, different finance user
    approves it; a debit (it mints nothing) applies at once. Nobody adjusts their own
    account. The balance before and after and the transfer are filled when it
    applies. Append-only, like the transfer it records: only the services' one
    decision (approve or reject) ever changes a row. Paid coins are never adjusted by
    hand (they are money and come only from purchases).
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Waiting"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    account_kind = models.CharField(
        max_length=20,
        choices=[
            (AccountKind.BONUS_COINS, AccountKind.BONUS_COINS.label),
            (AccountKind.DIAMONDS, AccountKind.DIAMONDS.label),
        ],
    )
    amount = models.BigIntegerField(
        help_text="Bonus coins, or diamonds in 1/10,000; positive adds, negative "
        "takes away."
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.REQUESTED
    )
    balance_before = models.BigIntegerField(null=True, blank=True)
    balance_after = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="requested by",
    )
    idempotency_key = models.CharField(max_length=200)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who approved or rejected it; for a debit, who made it.",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)
    transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Rows from before four eyes: applied by their actor alone, perhaps on their own
    # account (issue 12). Never set by a service; the rules below exempt only these.
    before_four_eyes = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = BalanceAdjustmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("approve_balanceadjustment", "Can approve and reject balance adjustments")
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0), name="wallets_balanceadjustment_amount_not_zero"
            ),
            models.CheckConstraint(
                condition=Q(balance_before__isnull=True, balance_after__isnull=True)
                | Q(balance_after=F("balance_before") + F("amount")),
                name="wallets_balanceadjustment_after_is_before_plus_amount",
            ),
            models.UniqueConstraint(
                fields=["actor", "idempotency_key"],
                name="wallets_balanceadjustment_key_once",
            ),
            # Only an approved adjustment has moved money, and it has a decider.
            models.CheckConstraint(
                condition=Q(
                    status="requested",
                    decided_by__isnull=True,
                    decided_at__isnull=True,
                    transfer__isnull=True,
                    balance_before__isnull=True,
                )
                | Q(
                    status="approved",
                    decided_by__isnull=False,
                    decided_at__isnull=False,
                    transfer__isnull=False,
                    balance_before__isnull=False,
                    rejection_reason="",
                )
                | (
                    Q(
                        status="rejected",
                        decided_by__isnull=False,
                        decided_at__isnull=False,
                        transfer__isnull=True,
                        balance_before__isnull=True,
                    )
                    & ~Q(rejection_reason="")
                ),
                name="wallets_balanceadjustment_state_consistent",
            ),
            models.CheckConstraint(
                condition=Q(before_four_eyes=True) | ~Q(actor=F("user")),
                name="wallets_balanceadjustment_not_on_own_account",
            ),
            models.CheckConstraint(
                condition=Q(before_four_eyes=True)
                | Q(decided_by__isnull=True)
                | ~Q(decided_by=F("user")),
                name="wallets_balanceadjustment_not_decided_by_its_user",
            ),
            # Four eyes: a credit is approved by someone other than who asked (who
            # may withdraw it); a debit applies at once, made by one person.
            models.CheckConstraint(
                condition=Q(before_four_eyes=True)
                | Q(decided_by__isnull=True)
                | Q(status="rejected")
                | Q(amount__gt=0) & ~Q(decided_by=F("actor"))
                | Q(amount__lt=0, status="approved", decided_by=F("actor")),
                name="wallets_balanceadjustment_credit_approved_by_another",
            ),
            models.CheckConstraint(
                condition=Q(before_four_eyes=False)
                | Q(status="approved", decided_by=F("actor")),
                name="wallets_balanceadjustment_before_four_eyes_applied_alone",
            ),
        ]
        indexes = [
            models.Index(
                fields=["user", "account_kind", "decided_at"],
                condition=Q(status="approved", amount__gt=0),
                name="wallets_balanceadj_credits",
            ),
        ]

    def __str__(self):
        return f"{self.amount:+} {self.account_kind} for {self.user} by {self.actor}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Adjustments are append-only: make a new one.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Adjustments are never deleted: make a correcting one.")

    @property
    def change_display(self) -> str:
        return amount_display(self.account_kind, self.amount, signed=True)


class Wallet(User):
    """A user seen from support's side: balances and history, read-only."""

    class Meta:
        proxy = True
        verbose_name = "wallet"
        verbose_name_plural = "wallets"
