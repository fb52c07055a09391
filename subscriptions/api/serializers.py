from rest_framework import serializers

from wallets.serializers import WalletSerializer

from ..models import Subscription, Tier, TierPriceLimit


class TierSerializer(serializers.ModelSerializer):
    rank = serializers.IntegerField(source="limit.rank", read_only=True)

    class Meta:
        model = Tier
        fields = ["id", "creator", "rank", "name", "coin_price", "is_active"]
        read_only_fields = fields


class TierCreateSerializer(serializers.Serializer):
    rank = serializers.SlugRelatedField(
        slug_field="rank",
        queryset=TierPriceLimit.objects.all(),
        source="limit",
        help_text="Which of the staff's tier ranks (1, 2, 3...): its price limits.",
    )
    name = serializers.CharField(max_length=60)
    coin_price = serializers.IntegerField(min_value=1, max_value=2**31 - 1)


class TierUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=60, required=False)
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


class SubscribeSerializer(serializers.Serializer):
    tier = serializers.PrimaryKeyRelatedField(
        queryset=Tier.objects.select_related(
            "creator__user", "creator__level", "limit"
        ),
        help_text="The tier's id.",
    )


class SubscriptionSerializer(serializers.ModelSerializer):
    tier_name = serializers.CharField(source="tier.name", read_only=True)
    creator_name = serializers.CharField(source="creator.display_name", read_only=True)

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
    subscription = SubscriptionSerializer()
    wallet = WalletSerializer()


class SubscriberCountsSerializer(serializers.Serializer):
    active = serializers.IntegerField()
    in_grace = serializers.IntegerField()
    total = serializers.IntegerField()
