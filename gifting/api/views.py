from django.shortcuts import get_object_or_404
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
from core.api.throttles import LEADERBOARD_THROTTLES, MoneyMovingThrottle
from wallets.serializers import wallet_data

from .. import selectors, services
from ..gifter_levels import gifter_standing
from ..models import CreatorProfile, GiftSend
from ..selectors import creator_of
from .serializers import (
    CreatorLeaderboardQuerySerializer,
    CreatorLeaderboardSerializer,
    GifterLevelSerializer,
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
    throttle_classes = LEADERBOARD_THROTTLES

    @extend_schema(
        summary="Top gifters of a stream id, across creators (deprecated)",
        description=(
            "Deprecated: two creators using the same stream id share this board. Use "
            "`GET /api/v1/creators/{id}/leaderboard/?period=stream&stream_id=…`, "
            "named in the `Link` header. Kept while clients move."
        ),
        deprecated=True,
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
        response = Response(LeaderboardEntrySerializer(entries, many=True).data)
        response["Deprecation"] = "true"
        response["Link"] = (
            "</api/v1/creators/{id}/leaderboard/?period=stream>; "
            'rel="successor-version"'
        )
        return response


class CreatorLeaderboardView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = LEADERBOARD_THROTTLES

    @extend_schema(
        summary="A creator's top gifters: on a stream, today, this week, month, ever",
        description=(
            "Ranked by coins given (a sponsor's share of a gift is not the sender's); "
            "a tie goes to who reached the total first. Periods are UTC; weeks are "
            "ISO weeks from Monday. `me` is the signed-in viewer's own place, also "
            "when outside the top."
        ),
        parameters=[CreatorLeaderboardQuerySerializer],
        responses={
            status.HTTP_200_OK: CreatorLeaderboardSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="`period`, `stream_id` or `limit` is wrong: "
                "`{field: [message]}`."
            ),
            status.HTTP_404_NOT_FOUND: OpenApiResponse(description="No such creator."),
        },
        tags=["gifts"],
    )
    def get(self, request, creator_id):
        query = CreatorLeaderboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        get_object_or_404(CreatorProfile.objects.only("id"), id=creator_id)
        viewer = request.user
        board = selectors.creator_leaderboard(
            creator_id=creator_id,
            viewer_id=viewer.id if viewer.is_authenticated else None,
            **query.validated_data,
        )
        body = {
            "period": board.board.period,
            "stream_id": board.board.stream_id,
            "starts_at": board.board.starts_at,
            "ends_at": board.board.ends_at,
            "entries": board.entries,
            "me": None
            if board.me is None
            else {"rank": board.me[0], "coins": board.me[1]},
        }
        return Response(CreatorLeaderboardSerializer(body).data)


class GifterLevelView(APIView):
    @extend_schema(
        summary="Your gifter level (1 to 50) and progress to the next",
        description="Levels go by the coins you gave in gifts, all time; staff set "
        "the coins each level needs.",
        responses={status.HTTP_200_OK: GifterLevelSerializer},
        tags=["gifts"],
    )
    def get(self, request):
        standing = gifter_standing(user_id=request.user.id)
        return Response(GifterLevelSerializer(standing).data)


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
