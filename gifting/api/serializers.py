from rest_framework import serializers

from catalog.models import GIFT_QUANTITY_MAX
from wallets.serializers import WalletSerializer
from wallets.units import diamonds_from_units

from ..leaderboards import Period
from ..models import GiftSend
from ..selectors import gift_send_subjects


class GiftSendCreateSerializer(serializers.Serializer):
    """The request's shape; `validate` finds what it names, in one statement
    (`selectors.gift_send_subjects`): a related field per object would read each
    with a query of its own, on the busiest request there is."""

    gift = serializers.CharField(max_length=80, help_text="The gift's slug, e.g. rose.")
    creator = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The receiving creator's id."
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
    region = serializers.CharField(
        max_length=2,
        required=False,
        allow_null=True,
        default=None,
        help_text="The sender's home region code, optional: if sent it must be "
        "the home region (set by the first coin purchase). Region-limited gifts go "
        "by the home region, whatever is sent.",
    )

    def validate(self, attrs):
        region_code = attrs["region"]
        found = gift_send_subjects(
            sender_id=self.context["sender"].id,
            gift_slug=attrs["gift"],
            creator_id=attrs["creator"],
            region_code=region_code,
        )
        errors = {}
        if found.gift is None:
            errors["gift"] = [f"Unknown gift: {attrs['gift']}."]
        if found.creator is None:
            errors["creator"] = [f"Unknown creator: {attrs['creator']}."]
        if region_code is not None and found.region is None:
            errors["region"] = [f"Unknown or inactive region: {region_code}."]
        if errors:
            raise serializers.ValidationError(errors)
        return {
            **attrs,
            "gift": found.gift,
            "creator": found.creator,
            "region": found.region,
            "facts": found.facts,
        }


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


# The answer to every gift send, built directly (a ModelSerializer builds its fields
# anew on each use: about a millisecond on the busiest request there is); the same
# fields' own `to_representation` keep each value's format, and a test holds the
# dict equal to `GiftSendSerializer`'s output, which documents it.
_SHARE = serializers.DecimalField(max_digits=5, decimal_places=2)
_WHEN = serializers.DateTimeField()


def gift_send_data(send: GiftSend) -> dict:
    """`GiftSendSerializer(send).data`, without the serializer."""
    return {
        "id": send.id,
        "gift": send.gift.slug,
        "creator": send.creator_id,
        "quantity": send.quantity,
        "coin_price": send.coin_price,
        "coins": send.coins,
        "share_percent": _SHARE.to_representation(send.share_percent),
        "creator_diamonds": str(diamonds_from_units(send.creator_diamond_units)),
        "placement": send.placement,
        "stream_id": send.stream_id,
        "video_id": send.video_id,
        "comment": send.comment,
        "created_at": _WHEN.to_representation(send.created_at),
    }


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


class CreatorLeaderboardQuerySerializer(LeaderboardQuerySerializer):
    period = serializers.ChoiceField(
        choices=Period.choices,
        default=Period.ALL,
        help_text="stream (needs `stream_id`), day, week (ISO, from Monday), month "
        "(all UTC) or all time.",
    )
    stream_id = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        help_text="The live stream, with `period=stream` only.",
    )

    def validate(self, attrs):
        if attrs["period"] == Period.STREAM and not attrs["stream_id"]:
            raise serializers.ValidationError(
                {"stream_id": ["Name the stream for its board."]}
            )
        if attrs["period"] != Period.STREAM and attrs["stream_id"]:
            raise serializers.ValidationError(
                {"stream_id": ["A stream has a board of its own: use period=stream."]}
            )
        return attrs


class LeaderboardMeSerializer(serializers.Serializer):
    rank = serializers.IntegerField(
        allow_null=True, help_text="Your place; null when you gave nothing here."
    )
    coins = serializers.IntegerField(help_text="Coins you gave on this board.")


class CreatorLeaderboardSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=Period.choices, help_text="The board's.")
    stream_id = serializers.CharField(help_text="The stream, for period=stream.")
    starts_at = serializers.DateTimeField(
        allow_null=True, help_text="The period's start (UTC); null for all time."
    )
    ends_at = serializers.DateTimeField(
        allow_null=True, help_text="The period's end, excluded; null for all time."
    )
    entries = LeaderboardEntrySerializer(many=True, help_text="Best first.")
    me = LeaderboardMeSerializer(
        allow_null=True, help_text="The signed-in viewer's place; null when anonymous."
    )


class GifterLevelSerializer(serializers.Serializer):
    level = serializers.IntegerField(help_text="1 to 50.")
    coins_gifted = serializers.IntegerField(
        help_text="Coins you gave in gifts, all time (bonus coins count; what a "
        "sponsor paid does not)."
    )
    level_coins = serializers.IntegerField(help_text="Coins gifted this level needs.")
    next_level = serializers.IntegerField(
        allow_null=True, help_text="Null at the top level."
    )
    next_level_coins = serializers.IntegerField(
        allow_null=True, help_text="Coins gifted the next level needs."
    )
    coins_to_next_level = serializers.IntegerField(
        allow_null=True, help_text="Coins still to give to reach the next level."
    )
    progress_percent = serializers.IntegerField(
        help_text="Of the way from this level to the next, rounded down."
    )
