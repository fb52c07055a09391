"""Coin subscriptions: tiers creators offer, within limits staff set; viewers'
subscriptions to them; and each period's charge (docs/subscriptions.md)."""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from gifting.models import CreatorProfile, TakenBack
from wallets.models import Purchase, Transfer

# A period is 30 days: every period the same length, so renewals fall due at the
# same time of day and never on a day some months lack.
PERIOD = datetime.timedelta(days=30)
# After a renewal finds too few coins, it is retried for this long, then lapses.
GRACE = datetime.timedelta(days=3)
RETRY_EVERY = datetime.timedelta(hours=12)


class TierPriceLimit(models.Model):
    """The coin prices a creator's tier of this rank may be set to; staff set them,
    and their history is kept (a tier's price is checked against the limits in
    force when it is set, and a subscription stamps the price it pays)."""

    rank = models.PositiveSmallIntegerField(
        unique=True, help_text="1 for the first tier a creator offers, 2, 3, ..."
    )
    name = models.CharField(max_length=40, help_text='e.g. "Tier 1".')
    min_coins = models.PositiveIntegerField()
    max_coins = models.PositiveIntegerField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["rank"]
        verbose_name = "tier price limit"
        constraints = [
            models.CheckConstraint(
                condition=Q(rank__gte=1), name="subscriptions_tierpricelimit_rank"
            ),
            models.CheckConstraint(
                condition=Q(min_coins__gte=1, max_coins__gte=F("min_coins")),
                name="subscriptions_tierpricelimit_range",
            ),
        ]

    def __str__(self):
        return f"{self.name}: {self.min_coins:,} to {self.max_coins:,} coins"

    def clean(self):
        if self.min_coins and self.max_coins and self.max_coins < self.min_coins:
            raise ValidationError(
                {"max_coins": "The highest price is at least the lowest."}
            )
        if self.min_coins == 0:
            raise ValidationError({"min_coins": "A tier costs at least one coin."})

    def allows(self, coins: int) -> bool:
        return self.min_coins <= coins <= self.max_coins


class Tier(models.Model):
    """A subscription a creator offers at one rank, for a coin price per period.

    A price change applies to new subscribers; a subscription keeps the price it
    was started at."""

    creator = models.ForeignKey(
        CreatorProfile, on_delete=models.PROTECT, related_name="subscription_tiers"
    )
    limit = models.ForeignKey(
        TierPriceLimit, on_delete=models.PROTECT, related_name="tiers"
    )
    name = models.CharField(max_length=60)
    coin_price = models.PositiveIntegerField()
    is_active = models.BooleanField(
        default=True, help_text="Offered to new subscribers."
    )
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()

    class Meta:
        ordering = ["creator_id", "limit__rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["creator", "limit"], name="subscriptions_tier_one_per_rank"
            ),
            models.CheckConstraint(
                condition=Q(coin_price__gt=0), name="subscriptions_tier_price_positive"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.coin_price:,} coins)"


class Subscription(models.Model):
    """A viewer's subscription to a creator's tier.

    Paid through `period_ends_at` (period number `period`). It renews at
    `next_charge_at`; a renewal with too few coins enters a grace period, retried,
    then lapses. Cancelled, it stays active until the paid period ends.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        GRACE = "grace", "In grace period"
        ENDED = "ended", "Ended"
        LAPSED = "lapsed", "Lapsed"

    LIVE = (Status.ACTIVE, Status.GRACE)

    subscriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscriptions"
    )
    creator = models.ForeignKey(
        CreatorProfile, on_delete=models.PROTECT, related_name="subscriptions"
    )
    tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, related_name="subscriptions"
    )
    coin_price = models.PositiveIntegerField(help_text="Per period, as subscribed.")
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.ACTIVE
    )
    period = models.PositiveIntegerField(default=1, help_text="The last paid period.")
    period_starts_at = models.DateTimeField()
    period_ends_at = models.DateTimeField()
    next_charge_at = models.DateTimeField(null=True, blank=True)
    renewal_queued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the beat last queued it for renewal: not queued again "
        "within SUBSCRIPTION_RENEWAL_REQUEUE_AFTER.",
    )
    grace_until = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    notice = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=200)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            (
                "revenue_subscription",
                "Can read subscription revenue and subscribers' request keys",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "idempotency_key"],
                name="subscriptions_subscription_key_once",
            ),
            # One live subscription per viewer and creator: a second subscribe,
            # even one racing the first, fails here.
            models.UniqueConstraint(
                fields=["subscriber", "creator"],
                condition=Q(status__in=["active", "grace"]),
                name="subscriptions_subscription_one_live",
            ),
            models.CheckConstraint(
                condition=Q(coin_price__gt=0),
                name="subscriptions_subscription_price_positive",
            ),
            models.CheckConstraint(
                condition=Q(period__gte=1), name="subscriptions_subscription_period"
            ),
            models.CheckConstraint(
                condition=Q(period_ends_at__gt=F("period_starts_at")),
                name="subscriptions_subscription_period_order",
            ),
            # Live ones have a next charge; over ones none.
            models.CheckConstraint(
                condition=Q(
                    status__in=["active", "grace"], next_charge_at__isnull=False
                )
                | Q(status__in=["ended", "lapsed"], next_charge_at__isnull=True),
                name="subscriptions_subscription_next_charge",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_charge_at"],
                condition=Q(status__in=["active", "grace"]),
                name="subscriptions_due",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.subscriber} → {self.creator}"


class SubscriptionChargeQuerySet(models.QuerySet):
    """Charges and what they drew on are a record: append-only."""

    def update(self, **kwargs):
        raise TypeError("Subscription charges are append-only.")

    def delete(self):
        raise TypeError("Subscription charges are append-only.")


class SubscriptionCharge(models.Model):
    """One period of a subscription, paid: the coins it took and the split it used,
    stamped. Append-only; the database charges a period at most once."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="charges"
    )
    period = models.PositiveIntegerField()
    subscriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    creator = models.ForeignKey(
        CreatorProfile, on_delete=models.PROTECT, related_name="subscription_charges"
    )
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="+")
    coins = models.PositiveIntegerField()
    bonus_coins = models.PositiveIntegerField(help_text="Of `coins`, bonus coins.")
    paid_coins = models.PositiveIntegerField(help_text="Of `coins`, paid coins.")
    share_percent = models.DecimalField(max_digits=5, decimal_places=2)
    creator_diamond_units = models.PositiveBigIntegerField()
    platform_diamond_units = models.PositiveBigIntegerField()
    period_starts_at = models.DateTimeField()
    period_ends_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Stamped, as a gift send stamps it: the earnings hold goes by the subscriber's
    # home region when charged (docs/holds.md); named as the gift send's field so
    # the hold's segments filter both. An id, not a foreign key, as there.
    sender_region_id = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Id of the subscriber's home region when charged: its earnings "
        "hold applies.",
    )

    objects = SubscriptionChargeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period"],
                name="subscriptions_charge_period_once",
            ),
            models.CheckConstraint(
                condition=Q(coins__gt=0), name="subscriptions_charge_coins_positive"
            ),
            models.CheckConstraint(
                condition=Q(coins=F("bonus_coins") + F("paid_coins")),
                name="subscriptions_charge_coins_add_up",
            ),
            # A coin is 10,000 diamond units: the split adds up exactly.
            models.CheckConstraint(
                condition=Q(
                    creator_diamond_units__gt=0,
                    creator_diamond_units=F("coins") * 10_000
                    - F("platform_diamond_units"),
                ),
                name="subscriptions_charge_split_exact",
            ),
        ]
        indexes = [
            # The earnings hold reads a creator's charges of the last hold days.
            models.Index(
                fields=["creator", "created_at"], name="subscriptions_charge_held"
            ),
        ]

    def __str__(self):
        return f"Subscription #{self.subscription_id}, period {self.period}"


class SubscriptionChargeLot(models.Model):
    """The paid coins a charge drew from one purchase (`wallets.ledger` reads
    them under the subscriber's coin locks). A refund of the charge gives them back
    to that purchase; a store refund of the purchase finds the charges it paid for.
    Written with the charge, never changed."""

    charge = models.ForeignKey(
        SubscriptionCharge, on_delete=models.PROTECT, related_name="lots"
    )
    purchase = models.ForeignKey(
        Purchase, on_delete=models.PROTECT, related_name="subscription_lots"
    )
    paid_coins = models.PositiveIntegerField()

    objects = SubscriptionChargeQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["charge", "purchase"], name="subscriptions_lot_once"
            ),
            models.CheckConstraint(
                condition=Q(paid_coins__gt=0), name="subscriptions_lot_positive"
            ),
        ]

    def __str__(self):
        return f"{self.paid_coins} paid coins of purchase #{self.purchase_id}"


class ChargeHoldRecovery(TakenBack):
    """Diamonds a store refund took back from a subscription charge still on hold
    (as `gifting.HoldRecovery` for a gift), moved back by `transfer`."""

    purchase = models.ForeignKey(
        Purchase, on_delete=models.PROTECT, related_name="charge_hold_recoveries"
    )
    charge = models.ForeignKey(
        SubscriptionCharge, on_delete=models.PROTECT, related_name="hold_recoveries"
    )
    transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, related_name="charge_hold_recovery"
    )

    class Meta(TakenBack.Meta):
        verbose_name_plural = "charge hold recoveries"
        constraints = [
            models.UniqueConstraint(
                fields=["purchase", "charge"],
                name="subscriptions_chargehold_once_per_purchase",
            ),
            models.CheckConstraint(
                condition=Q(paid_coins__gt=0, diamond_units__gt=0),
                name="subscriptions_chargehold_something_recovered",
            ),
        ]

    def __str__(self):
        return f"Purchase #{self.purchase_id}: charge #{self.charge_id} taken back"


class ChargeRefund(models.Model):
    """A refund of one period's charge: asked for by staff for the subscriber,
    granted by a second finance user (docs/subscriptions.md, *Refunds*). What it
    moved is stamped when it is granted."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Waiting for approval"
        REFUNDED = "refunded", "Refunded"
        REJECTED = "rejected", "Rejected"

    charge = models.ForeignKey(
        SubscriptionCharge, on_delete=models.PROTECT, related_name="refunds"
    )
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.REQUESTED
    )
    reason = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    window_ends_at = models.DateTimeField(
        help_text="The end of the refund window the charge was made under; asked "
        "for before it."
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    bonus_coins = models.PositiveIntegerField(
        default=0, help_text="Bonus coins given back."
    )
    paid_coins = models.PositiveIntegerField(
        default=0, help_text="Paid coins given back, to the purchases they came from."
    )
    creator_units = models.PositiveBigIntegerField(
        default=0, help_text="Creator's diamonds taken back."
    )
    platform_units = models.PositiveBigIntegerField(
        default=0, help_text="Platform's share taken back."
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [
            ("approve_chargerefund", "Can grant or reject a subscription refund"),
        ]
        constraints = [
            # One refund open or granted per charge; a rejected one may be asked again.
            models.UniqueConstraint(
                fields=["charge"],
                condition=Q(status__in=["requested", "refunded"]),
                name="subscriptions_refund_once",
            ),
            # Four eyes: nobody grants what they asked for.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="subscriptions_refund_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(status="requested", decided_at__isnull=True)
                | Q(~Q(status="requested"), decided_at__isnull=False),
                name="subscriptions_refund_decided_at",
            ),
        ]

    def __str__(self):
        return f"Refund of {self.charge}"
