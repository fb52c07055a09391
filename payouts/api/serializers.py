from decimal import Decimal

from rest_framework import serializers

from wallets.units import diamonds_from_units

from ..models import Payout
from ..selectors import payout_rejection_reason


class LevelSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="Level number.")
    name = serializers.CharField(help_text="Level name.")
    share_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, help_text="Share of a gift's value earned."
    )
    min_diamonds_30d = serializers.IntegerField(
        help_text="Diamonds over 30 days that qualify."
    )


class HoldFreeingSerializer(serializers.Serializer):
    on = serializers.DateField(help_text="The UTC day these diamonds leave the hold.")
    diamonds = serializers.DecimalField(
        max_digits=24, decimal_places=4, help_text="Diamonds freed that day."
    )


class CreatorEarningsSerializer(serializers.Serializer):
    diamonds = serializers.DecimalField(
        max_digits=24, decimal_places=4, help_text="Diamond balance."
    )
    available = serializers.DecimalField(
        max_digits=24,
        decimal_places=4,
        help_text="Diamonds that can be cashed out now: the balance less the hold.",
    )
    on_hold = serializers.DecimalField(
        max_digits=24,
        decimal_places=4,
        help_text="Diamonds from recent gifts still on hold (the earnings hold).",
    )
    on_hold_frees = HoldFreeingSerializer(
        many=True, help_text="When the diamonds on hold free, soonest first."
    )
    cash_value = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        allow_null=True,
        help_text="The balance's gross cash value at today's rate, before fees.",
    )
    cash_currency = serializers.CharField(help_text="Currency of the cash value.")
    level = LevelSerializer(help_text="The creator's level now.")
    next_level = LevelSerializer(allow_null=True, help_text="The next level, or null.")
    diamonds_to_next_level = serializers.DecimalField(
        max_digits=24,
        decimal_places=4,
        allow_null=True,
        help_text="Diamonds still to earn in 30 days to reach the next level.",
    )
    earned_today = serializers.DecimalField(
        max_digits=24, decimal_places=4, help_text="Diamonds earned today (UTC)."
    )
    earned_7_days = serializers.DecimalField(
        max_digits=24, decimal_places=4, help_text="Diamonds earned in the last 7 days."
    )
    earned_30_days = serializers.DecimalField(
        max_digits=24,
        decimal_places=4,
        help_text="Diamonds earned in the last 30 days.",
    )


class PayoutCreateSerializer(serializers.Serializer):
    diamonds = serializers.DecimalField(
        max_digits=20,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        required=False,
        help_text="How many diamonds to cash out; leave out with `all`.",
    )
    all = serializers.BooleanField(
        default=False, help_text="Cash out the whole diamond balance."
    )
    currency = serializers.ChoiceField(
        choices=["USD"], default="USD", help_text="Payout currency."
    )

    def validate(self, data):
        if data["all"] == ("diamonds" in data):
            raise serializers.ValidationError(
                {"diamonds": ["Give a number of diamonds, or all: true (not both)."]}
            )
        return data


class PayoutSerializer(serializers.ModelSerializer):
    diamonds = serializers.SerializerMethodField(help_text="Diamonds cashed out.")
    rejection_reason = serializers.SerializerMethodField(
        help_text="Why finance rejected it (the diamonds went back); null unless "
        "`status` is `rejected`."
    )

    class Meta:
        model = Payout
        fields = [
            "id",
            "reference",
            "status",
            "diamonds",
            "currency",
            "rate",
            "gross_amount",
            "fee_amount",
            "net_amount",
            "method",
            "rejection_reason",
            "requested_at",
            "updated_at",
        ]
        extra_kwargs = {
            "id": {"help_text": "Payout id."},
            "reference": {"help_text": "Reference the provider is given."},
            "status": {"help_text": "Where the payout is in its life."},
            "currency": {"help_text": "Payout currency."},
            "rate": {"help_text": "Cash per diamond, as stamped at request."},
            "gross_amount": {"help_text": "Diamonds × rate, rounded down to the cent."},
            "fee_amount": {"help_text": "Fixed fee plus percent fee."},
            "net_amount": {"help_text": "What is sent: gross − fee."},
            "method": {"help_text": "paypal or bank."},
            "requested_at": {"help_text": "When it was asked for."},
            "updated_at": {"help_text": "Last change."},
        }

    def get_diamonds(self, payout) -> str:
        return str(diamonds_from_units(payout.diamond_units))

    def get_rejection_reason(self, payout) -> str | None:
        if payout.status != Payout.Status.REJECTED:
            return None
        # A list reads it with its payouts (selectors.payouts_with_rejection_reason).
        if hasattr(payout, "rejection_reason"):
            return payout.rejection_reason
        return payout_rejection_reason(payout)


class PayoutResultSerializer(serializers.Serializer):
    payout = PayoutSerializer(help_text="The payout (or the first one for this key).")


class ProviderCallbackSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=40, help_text="The payout reference.")
    status = serializers.ChoiceField(choices=["paid", "failed"], help_text="Outcome.")
    provider_id = serializers.CharField(
        max_length=80, required=False, default="", help_text="The provider's id."
    )
    reason = serializers.CharField(
        max_length=200, required=False, default="", help_text="Why it failed."
    )


class ProviderCallbackResultSerializer(serializers.Serializer):
    recorded = serializers.BooleanField(
        help_text="False when the payout was not processing (already final): no change."
    )


class PayoutMethodRequestSerializer(serializers.Serializer):
    payout_method = serializers.ChoiceField(
        choices=["paypal", "bank"], help_text="Where to be paid."
    )
    paypal_email = serializers.EmailField(
        required=False, allow_blank=True, max_length=254, help_text="For paypal."
    )
    bank_account_holder = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="For bank."
    )
    bank_iban = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=42,
        help_text="For bank; spaces are dropped.",
    )
    bank_bic = serializers.CharField(
        required=False, allow_blank=True, max_length=11, help_text="For bank."
    )

    def to_internal_value(self, data):
        # Text is text, as the schema says: a number is refused, not read as "0".
        if isinstance(data, dict):
            errors = {
                name: ["Send text."]
                for name in self.fields
                if name in data and not isinstance(data[name], str)
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class PayoutMethodPendingSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The change's id.")
    payout_method = serializers.CharField(help_text="`paypal` or `bank`.")
    destination = serializers.CharField(help_text="Masked.")
    requested_at = serializers.DateTimeField(help_text="When it was asked for.")
    status = serializers.CharField(help_text="`requested`: waiting for finance.")


class PayoutMethodSerializer(serializers.Serializer):
    payout_method = serializers.CharField(help_text="`paypal`, `bank` or empty.")
    destination = serializers.CharField(help_text="Masked, e.g. `j***@example.com`.")
    changed_at = serializers.DateTimeField(
        allow_null=True, help_text="When the last change was confirmed."
    )
    cooloff_ends = serializers.DateTimeField(
        allow_null=True, help_text="No payout goes to this method before then."
    )
    pending = PayoutMethodPendingSerializer(
        allow_null=True,
        help_text="A change waiting for finance's confirmation; the cool-off "
        "starts again when it is confirmed.",
    )
    cooloff_days = serializers.IntegerField(
        help_text="Days after a confirmed change before payouts go to it."
    )
