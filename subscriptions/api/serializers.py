from rest_framework import serializers

from wallets.serializers import WalletSerializer

from ..models import Subscription, Tier, TierPriceLimit


class TierSerializer(serializers.ModelSerializer):
    rank = serializers.IntegerField(
        source="limit.rank", read_only=True, help_text="The staff's tier rank."
    )

    class Meta:
        model = Tier
        fields = ["id", "creator", "rank", "name", "coin_price", "is_active"]
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": "The tier's id, to subscribe with."},
            "creator": {"help_text": "The creator's id."},
            "name": {"help_text": "The creator's name for it."},
            "coin_price": {
                "help_text": "Coins per 30-day period, for new subscribers."
            },
        }


class TierCreateSerializer(serializers.Serializer):
    rank = serializers.SlugRelatedField(
        slug_field="rank",
        queryset=TierPriceLimit.objects.all(),
        source="limit",
        help_text="Which of the staff's tier ranks (1, 2, 3...): its price limits.",
    )
    name = serializers.CharField(max_length=60, help_text="Your name for the tier.")
    coin_price = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        help_text="Coins per 30-day period, within the rank's limits.",
    )


class TierUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=60, required=False, help_text="Your name for the tier."
    )
    coin_price = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        help_text="For new subscribers; existing ones keep the price they pay.",
    )
    is_active = serializers.BooleanField(
        required=False, help_text="Offered to new subscribers."
    )


class TierLimitSerializer(serializers.ModelSerializer):
    class Meta:
        model = TierPriceLimit
        fields = ["rank", "name", "min_coins", "max_coins"]
        read_only_fields = fields
        extra_kwargs = {
            "min_coins": {
                "help_text": "The lowest price a tier of this rank may have."
            },
            "max_coins": {
                "help_text": "The highest price a tier of this rank may have."
            },
        }


class SubscribeSerializer(serializers.Serializer):
    tier = serializers.PrimaryKeyRelatedField(
        queryset=Tier.objects.select_related(
            "creator__user", "creator__level", "limit"
        ),
        help_text="The tier's id.",
    )
    coin_price = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        help_text="The tier's price you were shown: if the creator has changed it "
        "since, nothing is charged and the answer is 409 `price_changed` with the "
        "current `coin_price`.",
    )


class SubscriptionSerializer(serializers.ModelSerializer):
    tier_name = serializers.CharField(
        source="tier.name", read_only=True, help_text="The tier's name."
    )
    creator_name = serializers.CharField(
        source="creator.display_name", read_only=True, help_text="The creator's name."
    )

    class Meta:
        model = Subscription
        fields = [
            "id",
            "creator",
            "creator_name",
            "tier",
            "tier_name",
            "coin_price",
            "status",
            "period",
            "period_starts_at",
            "period_ends_at",
            "next_charge_at",
            "grace_until",
            "cancelled_at",
            "ended_at",
            "notice",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": "The subscription's id."},
            "creator": {"help_text": "The creator's id."},
            "tier": {"help_text": "The tier's id."},
            "status": {
                "help_text": "active (paid), grace (a renewal found too few coins: "
                "retried), ended (cancelled or the creator may no longer receive), "
                "lapsed (grace ran out)."
            },
            "period_starts_at": {"help_text": "Start of the last paid period."},
            "period_ends_at": {
                "help_text": "End of the last paid period: active until then."
            },
            "grace_until": {"help_text": "In grace: when it lapses unless renewed."},
            "cancelled_at": {"help_text": "When it was cancelled, if it was."},
            "ended_at": {"help_text": "When it ended or lapsed."},
            "created_at": {"help_text": "When it was subscribed."},
            "notice": {
                "help_text": "Why a renewal failed (grace), lapsed or ended; empty "
                "while all is well."
            },
            "next_charge_at": {
                "help_text": "The next renewal or retry (for a cancelled one, when "
                "it ends); null once over."
            },
        }


class SubscribeResultSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer(help_text="The subscription.")
    wallet = WalletSerializer(help_text="The subscriber's wallet after the charge.")


class SubscriberCountsSerializer(serializers.Serializer):
    active = serializers.IntegerField(help_text="Subscribers with a paid period.")
    in_grace = serializers.IntegerField(
        help_text="Subscribers whose renewal is being retried."
    )
    total = serializers.IntegerField(help_text="Both together.")
