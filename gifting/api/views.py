from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.idempotency import (
    IDEMPOTENCY_KEY,
    KEY_REUSED,
    created_or_replayed,
    idempotency_key_from,
)
from core.api.pagination import NewestFirst
from core.api.responses import NOT_A_CREATOR, ONLY_CREATORS, present_or_forbidden
from core.api.throttles import MoneyMovingThrottle
from wallets.serializers import wallet_data

from .. import selectors, services
from ..models import GiftSend
from ..selectors import creator_of
from .serializers import (
    GiftSendCreateSerializer,
    GiftSendResultSerializer,
    GiftSendSerializer,
    LeaderboardEntrySerializer,
    LeaderboardQuerySerializer,
    gift_send_data,
)


class GiftSendCreateView(APIView):
    throttle_classes = [MoneyMovingThrottle]
    throttle_scope = "gift_sends"

    @extend_schema(
        summary="Send a gift to a creator",
        description=(
            "Coins leave the sender (bonus coins first), the creator earns diamonds at "
            "their level's share. A repeat of the same request with the same "
            "`Idempotency-Key` returns the first gift send with `200` and moves "
            "nothing; another request with a used key is a `422`."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=GiftSendCreateSerializer,
        responses={
            status.HTTP_201_CREATED: GiftSendResultSerializer,
            status.HTTP_200_OK: GiftSendResultSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="A field is wrong, the gift or creator refuses it, or "
                "`region` is not the sender's home region: `{field: [message]}`."
            ),
            status.HTTP_403_FORBIDDEN: OpenApiResponse(description="Sender under 18."),
            status.HTTP_409_CONFLICT: OpenApiResponse(
                description="Not enough coins: `{detail, code, balance, needed}`."
            ),
            status.HTTP_422_UNPROCESSABLE_ENTITY: KEY_REUSED,
        },
        tags=["gifts"],
    )
    def post(self, request):
        key = idempotency_key_from(request)
        form = GiftSendCreateSerializer(
            data=request.data, context={"sender": request.user}
        )
        form.is_valid(raise_exception=True)
        result = services.gift_send(
            sender=request.user, idempotency_key=key, **form.validated_data
        )
        # As GiftSendResultSerializer describes it (the schema's), built directly.
        body = {
            "gift_send": gift_send_data(result.gift_send),
            "wallet": wallet_data(request.user, balances=result.wallet),
        }
        return created_or_replayed(body, created=result.created)


class LeaderboardView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Top gifters of a live stream",
        parameters=[LeaderboardQuerySerializer],
        responses={
            status.HTTP_200_OK: LeaderboardEntrySerializer(many=True),
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="`limit` is not a whole number from 1 to 100."
            ),
        },
        tags=["gifts"],
    )
    def get(self, request, stream_id):
        query = LeaderboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        entries = selectors.stream_leaderboard(
            stream_id=stream_id, limit=query.validated_data["limit"]
        )
        rows = [
            {
                "rank": rank,
                "display_name": _public_name(entry.sender),
                "coins": entry.coins,
            }
            for rank, entry in enumerate(entries, start=1)
        ]
        return Response(LeaderboardEntrySerializer(rows, many=True).data)


def _public_name(user) -> str:
    # Never the username: that is half of a login.
    creator = getattr(user, "creator", None)
    return creator.display_name if creator else user.public_name


def _signed_in_creator(request):
    return present_or_forbidden(creator_of(request.user), ONLY_CREATORS)


@extend_schema(
    summary="Gifts the signed-in creator received, newest first",
    description="Cursor-paginated: follow `next`; `limit` sets the page size.",
    responses={
        status.HTTP_200_OK: GiftSendSerializer(many=True),
        status.HTTP_403_FORBIDDEN: NOT_A_CREATOR,
    },
    tags=["creator"],
)
class CreatorGiftListView(ListAPIView):
    serializer_class = GiftSendSerializer
    pagination_class = NewestFirst
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return GiftSend.objects.none()
        creator = _signed_in_creator(self.request)
        return GiftSend.objects.filter(creator=creator).select_related("gift")
