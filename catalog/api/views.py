from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.functional import cached_property
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from .. import languages, selectors
from ..models import Gift
from .conditional import ConditionalGetMixin
from .serializers import (
    BundleListQuerySerializer,
    BundleOnSaleSerializer,
    GiftListQuerySerializer,
    GiftSerializer,
)

NOT_MODIFIED = OpenApiResponse(
    description="Not Modified: the `If-None-Match` ETag still matches."
)
LANGUAGE_PARAMETERS = [
    OpenApiParameter(
        "Accept-Language",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description=(
            "Languages the client reads, with q-values, e.g. `de-AT, en;q=0.5`. "
            "Names and descriptions come in the first supported one ("
            + ", ".join(f"`{code}`" for code in languages.codes())
            + "; a region variant reads its language: `de-AT` is `de`), field by "
            "field in English where a translation is missing; English without "
            "a match."
        ),
    ),
    OpenApiParameter(
        "Content-Language",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[200, 304],
        description="The language the answer is in, e.g. `de`.",
    ),
]


@extend_schema_view(
    list=extend_schema(
        summary="Gifts a client may send now",
        description=(
            "Active gifts inside their availability window, offered in the region, "
            "ordered by sort order, named in the client's language "
            "(`Accept-Language`). Send the last `ETag` as `If-None-Match` to get "
            "`304 Not Modified` while nothing changed in that language."
        ),
        parameters=[GiftListQuerySerializer, *LANGUAGE_PARAMETERS],
        responses={
            status.HTTP_200_OK: GiftSerializer(many=True),
            status.HTTP_304_NOT_MODIFIED: NOT_MODIFIED,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="An unknown region or placement, by field."
            ),
        },
        tags=["catalog"],
    ),
    retrieve=extend_schema(
        summary="One gift by slug",
        description=(
            "Any active gift, also outside its window (see `available_now`), named "
            "in the client's language (`Accept-Language`)."
        ),
        parameters=LANGUAGE_PARAMETERS,
        responses={
            status.HTTP_200_OK: GiftSerializer,
            status.HTTP_304_NOT_MODIFIED: NOT_MODIFIED,
            status.HTTP_404_NOT_FOUND: OpenApiResponse(
                description="No such active gift."
            ),
        },
        tags=["catalog"],
    ),
)
class GiftViewSet(ConditionalGetMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = GiftSerializer
    # The catalog is public: no token is looked up, so every answer is the same for
    # everyone and can be served from memory.
    authentication_classes = []
    permission_classes = [AllowAny]
    lookup_field = "slug"
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        if self.action == "list":
            query = GiftListQuerySerializer(data=self.request.query_params)
            query.is_valid(raise_exception=True)
            gifts = selectors.gift_list_for_client(
                when=self.now,
                region=query.validated_data.get("region"),
                placement=query.validated_data.get("placement") or None,
            )
        else:
            gifts = Gift.objects.filter(is_active=True)
        return gifts.prefetch_related("regions")

    def list(self, request, *args, **kwargs):
        return self.cached_list(request, lambda: super(GiftViewSet, self).list(request))

    @cached_property
    def language(self) -> str:
        # One of the supported few, so caches and tags cannot be flooded by headers.
        return languages.from_accept_language(
            self.request.META.get("HTTP_ACCEPT_LANGUAGE")
        )

    def answer_variant(self) -> str:
        return self.language

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code in (200, 304):
            response["Content-Language"] = self.language
        patch_vary_headers(response, ["Accept-Language"])
        return response

    def next_change_after(self, now):
        return selectors.gift_next_change_after(now)

    @cached_property
    def now(self):
        # One moment per request, so the list and each item agree on "now".
        return timezone.now()

    def get_serializer_context(self):
        return {
            **super().get_serializer_context(),
            "now": self.now,
            "language": self.language,
        }


class BundleViewSet(ConditionalGetMixin, viewsets.ViewSet):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Coin bundles on sale in a region and store",
        description=(
            "Active bundles with a price in force now for the region and channel, "
            "ordered by sort order. Both parameters are required. Send the last "
            "`ETag` as `If-None-Match` to get `304 Not Modified` while nothing "
            "changed."
        ),
        parameters=[BundleListQuerySerializer],
        responses={
            status.HTTP_200_OK: BundleOnSaleSerializer(many=True),
            status.HTTP_304_NOT_MODIFIED: NOT_MODIFIED,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="A missing, unknown or inactive region, or a bad "
                "channel, by field."
            ),
        },
        tags=["catalog"],
    )
    def list(self, request):
        return self.cached_list(request, lambda: self._list(request))

    def _list(self, request):
        query = BundleListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        on_sale = selectors.bundles_on_sale(
            region=query.validated_data["region"],
            channel=query.validated_data["channel"],
            when=timezone.now(),
        )
        rows = [price for _, price in on_sale]
        return Response(BundleOnSaleSerializer(rows, many=True).data)

    def next_change_after(self, now):
        return selectors.bundle_price_next_after(now)
