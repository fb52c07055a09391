from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
)
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from djmoney.settings import CURRENCY_CHOICES
from simple_history.models import HistoricalRecords

from core import display
from core.fields import MinorUnitsDecimalField
from core.idempotency import fingerprint_field
from gifting.models import CreatorProfile, PayoutDestination, payout_destination_errors

from .states import OPEN, PayoutStatus

CURRENCY_CODES = frozenset(code for code, _ in CURRENCY_CHOICES)
# Who approves, rejects, retries and returns payouts (the Finance group).
APPROVE_PERMISSION = "payouts.approve_payout"


def _currency_errors(currency: str) -> dict:
    if currency in CURRENCY_CODES:
        return {}
    return {"currency": "Use an ISO 4217 currency code, e.g. USD."}


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
        permissions = [
            ("approve_payout", "Can approve, reject and retry payouts"),
            ("export_payout", "Can export the payout list"),
        ]
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
        net = display.money_in(self.net_amount, self.currency)
        return f"Payout {self.reference}: {net}"


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


class ProviderTimeoutRecord(models.Model):
    """One call to the payout provider that timed out. Append-only.

    The batch is retried with backoff and nothing changes state, so without this
    row a provider that keeps timing out would leave no trace; alerts count them.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    payouts = models.PositiveIntegerField(help_text="Payouts in the batch.")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"Provider time-out at {self.at:%Y-%m-%d %H:%M:%S} ({self.payouts})"


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
