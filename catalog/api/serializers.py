from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import languages, pricing
from ..models import BundlePrice, Gift, Region


@extend_schema_field({"type": "string", "pattern": "^[A-Za-z]{2}$"})
class RegionQueryField(serializers.SlugRelatedField):
    """A region code in a query, in either case: upper-cased before the lookup."""


@extend_schema_field({"type": "string", "pattern": "^([A-Za-z]{2})?$"})
class OptionalRegionQueryField(RegionQueryField):
    """As RegionQueryField; empty (`?region=`) is as if not sent."""


class GiftListQuerySerializer(serializers.Serializer):
    region = OptionalRegionQueryField(
        slug_field="code",
        queryset=Region.objects.filter(is_active=True),
        required=False,
        error_messages={"does_not_exist": "Unknown or inactive region: {value}."},
        help_text=(
            "ISO 3166-1 code of the client's region, e.g. US. Without it, only gifts "
            "offered in every region are listed."
        ),
    )
    placement = serializers.ChoiceField(
        choices=[Gift.Placement.LIVE, Gift.Placement.COMMENT],
        required=False,
        # Empty (`?placement=`) is as if not sent, and documented so.
        allow_blank=True,
        help_text="Only gifts that can be sent there: `live` or `comment`.",
    )

    def to_internal_value(self, data):
        data = data.copy()
        if isinstance(data.get("region"), str):
            data["region"] = data["region"].upper()
        return super().to_internal_value(data)


class SponsorSerializer(serializers.Serializer):
    name = serializers.CharField(
        source="sponsor_name", help_text="The sponsoring brand."
    )
    starts_at = serializers.DateTimeField(
        source="sponsor_starts_at",
        allow_null=True,
        help_text="Campaign start, or null.",
    )
    ends_at = serializers.DateTimeField(
        source="sponsor_ends_at", allow_null=True, help_text="Campaign end, or null."
    )


@extend_schema_field({"type": "string"})
class TranslatedField(serializers.Field):
    """A translated gift field in the answer's language (the `language` in the
    context), English where that translation is empty."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, instance):
        language = self.context.get("language", languages.DEFAULT)
        return languages.text(instance, self.field_name, language)


class GiftSerializer(serializers.ModelSerializer):
    name = TranslatedField(
        help_text="Display name, in the answer's language (`Content-Language`)."
    )
    description = TranslatedField(
        help_text="Short text shown with the gift, in the answer's language."
    )
    coin_price = serializers.IntegerField(help_text="Price of one gift in coins.")
    icon_url = serializers.SerializerMethodField(help_text="Icon image, or null.")
    animation_url = serializers.SerializerMethodField(help_text="Animation, or null.")
    sound_url = serializers.SerializerMethodField(help_text="Sound, or null.")
    sponsor = serializers.SerializerMethodField(
        help_text="The sponsor while its campaign runs, else null."
    )
    regions = serializers.SlugRelatedField(
        many=True,
        read_only=True,
        slug_field="code",
        help_text="Region codes it is offered in; empty means every region.",
    )
    available_now = serializers.SerializerMethodField(
        help_text="Whether it can be sent now (active and inside its window)."
    )

    class Meta:
        model = Gift
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "coin_price",
            "category",
            "placement",
            "sort_order",
            "icon_url",
            "animation_url",
            "sound_url",
            "sponsor",
            "regions",
            "available_from",
            "available_until",
            "available_now",
        ]
        extra_kwargs = {
            "id": {"help_text": "Numeric id of the gift."},
            "slug": {"help_text": "Stable text id, used in URLs."},
            "category": {"help_text": "Tier the client groups gifts by."},
        }

    def _file_url(self, field) -> str | None:
        if not field:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(field.url) if request else field.url

    def get_icon_url(self, gift) -> str | None:
        return self._file_url(gift.icon)

    def get_animation_url(self, gift) -> str | None:
        return self._file_url(gift.animation)

    def get_sound_url(self, gift) -> str | None:
        return self._file_url(gift.sound)

    @extend_schema_field(SponsorSerializer(allow_null=True))
    def get_sponsor(self, gift):
        if not gift.sponsor_running_at(self.context["now"]):
            return None
        return SponsorSerializer(gift).data

    def get_available_now(self, gift) -> bool:
        return gift.is_available_at(self.context["now"])


class BundleListQuerySerializer(serializers.Serializer):
    region = RegionQueryField(
        slug_field="code",
        queryset=Region.objects.filter(is_active=True),
        error_messages={"does_not_exist": "Unknown or inactive region: {value}."},
        help_text="ISO 3166-1 code of the client's region, e.g. JP.",
    )
    channel = serializers.ChoiceField(
        choices=BundlePrice.Channel.values,
        help_text="Store the client buys in: `app` (in-app) or `web` (web store).",
    )

    def to_internal_value(self, data):
        data = data.copy()
        if isinstance(data.get("region"), str):
            data["region"] = data["region"].upper()
        return super().to_internal_value(data)


class LocalPriceSerializer(serializers.Serializer):
    """A bundle price row read as the money the client charges."""

    amount = serializers.SerializerMethodField(
        help_text='Amount as a decimal string in the currency\'s digits: "0.99", "480".'
    )
    currency = serializers.CharField(
        source="price.currency.code", help_text="ISO 4217 code, e.g. JPY."
    )
    formatted = serializers.SerializerMethodField(
        help_text='The price as shoppers in the region read it, e.g. "$0.99", "￥480".'
    )

    def get_amount(self, row: BundlePrice) -> str:
        return pricing.amount_text(row.price)

    def get_formatted(self, row: BundlePrice) -> str:
        return pricing.price_format(price=row.price, region=row.region)


class BundleOnSaleSerializer(serializers.Serializer):
    """A bundle on sale, from the price row in force (with its bundle)."""

    id = serializers.IntegerField(
        source="bundle.id", help_text="Numeric id of the bundle."
    )
    sku = serializers.CharField(
        source="bundle.sku", help_text="Store product id, e.g. coins_100."
    )
    coins = serializers.IntegerField(source="bundle.coins", help_text="Coins bought.")
    bonus_coins = serializers.IntegerField(
        source="bundle.bonus_coins", help_text="Bonus coins every buyer also gets."
    )
    price = LocalPriceSerializer(
        source="*", help_text="Price in force now in the region and channel."
    )
