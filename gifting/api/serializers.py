from rest_framework import serializers

from catalog.models import GIFT_QUANTITY_MAX, Gift, Region
from core.api.fields import CodeRelatedField, RegionCodeField
from wallets.serializers import WalletSerializer
from wallets.units import diamonds_from_units

from ..models import CreatorProfile, GiftSend


class GiftSendCreateSerializer(serializers.Serializer):
    gift = CodeRelatedField(
        slug_field="slug",
        queryset=Gift.objects.all(),
        error_messages={"does_not_exist": "Unknown gift: {value}."},
        help_text="The gift's slug, e.g. rose.",
    )
    creator = serializers.PrimaryKeyRelatedField(
        queryset=CreatorProfile.objects.select_related("user", "level"),
        error_messages={"does_not_exist": "Unknown creator: {pk_value}."},
        help_text="The receiving creator's id.",
    )
    quantity = serializers.IntegerField(
        min_value=1,
        max_value=GIFT_QUANTITY_MAX,
        default=1,
        help_text=f"A combo: 1 to {GIFT_QUANTITY_MAX} at once.",
    )
    placement = serializers.ChoiceField(
        choices=GiftSend.Placement.choices, help_text="live or comment."
    )
    stream_id = serializers.CharField(
        max_length=64, required=False, default="", help_text="The live stream (live)."
    )
    video_id = serializers.CharField(
        max_length=64, required=False, default="", help_text="The video (comment)."
    )
    comment = serializers.CharField(
        max_length=500,
        required=False,
        default="",
        allow_blank=True,
        help_text="The comment that carries the gift (comment).",
    )
    region = RegionCodeField(
        slug_field="code",
        queryset=Region.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        default=None,
        error_messages={"does_not_exist": "Unknown or inactive region: {value}."},
        help_text="The sender's home region code, optional: if sent it must be "
        "the home region (set by the first coin purchase). Region-limited gifts go "
        "by the home region, whatever is sent.",
    )


class GiftSendSerializer(serializers.ModelSerializer):
    gift = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text="Gift slug."
    )
    creator = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="Creator id."
    )
    creator_diamonds = serializers.SerializerMethodField(
        help_text="Diamonds the creator earned, to four decimals."
    )

    class Meta:
        model = GiftSend
        fields = [
            "id",
            "gift",
            "creator",
            "quantity",
            "coin_price",
            "coins",
            "share_percent",
            "creator_diamonds",
            "placement",
            "stream_id",
            "video_id",
            "comment",
            "created_at",
        ]
        extra_kwargs = {
            "id": {"help_text": "Gift send id."},
            "quantity": {"help_text": "How many were sent at once."},
            "coin_price": {"help_text": "Price of one, as it was when sent."},
            "coins": {"help_text": "Coins spent."},
            "share_percent": {"help_text": "The creator's share it was sent at."},
            "placement": {"help_text": "live or comment."},
            "stream_id": {"help_text": "The live stream, or empty."},
            "video_id": {"help_text": "The video, or empty."},
            "comment": {"help_text": "The comment, or empty."},
            "created_at": {"help_text": "When it was sent."},
        }

    def get_creator_diamonds(self, send) -> str:
        return str(diamonds_from_units(send.creator_diamond_units))


class GiftSendResultSerializer(serializers.Serializer):
    gift_send = GiftSendSerializer(help_text="The gift send (or the first one).")
    wallet = WalletSerializer(help_text="The sender's balances afterwards.")


class LeaderboardQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=100, default=10, help_text="How many places, 1 to 100."
    )

    def to_internal_value(self, data):
        # An empty ?limit= is no number: refused, not read as the default.
        if data.get("limit") == "":
            raise serializers.ValidationError(
                {"limit": ["A valid integer is required."]}
            )
        return super().to_internal_value(data)


class LeaderboardEntrySerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="1 for the top gifter.")
    display_name = serializers.CharField(help_text="The gifter's public name.")
    coins = serializers.IntegerField(help_text="Coins gifted in this stream.")
