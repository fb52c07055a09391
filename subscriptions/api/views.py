from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.idempotency import (
    IDEMPOTENCY_KEY,
    KEY_REUSED,
    created_or_replayed,
    idempotency_key_from,
)
from core.api.pagination import NewestFirst
from core.api.responses import NOT_A_CREATOR, present_or_forbidden
from core.api.throttles import MoneyMovingThrottle
from gifting.models import CreatorProfile
from gifting.selectors import creator_of
from wallets.serializers import wallet_data

from .. import selectors, services
from ..models import Subscription, Tier, TierPriceLimit
from .serializers import (
    SubscriberCountsSerializer,
    SubscribeResultSerializer,
    SubscribeSerializer,
    SubscriptionSerializer,
    TierCreateSerializer,
    TierLimitSerializer,
    TierSerializer,
    TierUpdateSerializer,
)

TAGS = ["subscriptions"]
ONLY_CREATORS = "Only creators offer subscriptions."
NOT_FOUND = OpenApiResponse(description="No such subscription of yours.")


def _signed_in_creator(request):
    return present_or_forbidden(creator_of(request.user), ONLY_CREATORS)


class CreatorTierListView(APIView):
    @extend_schema(
        summary="A creator's subscription tiers on offer",
        description="Only tiers a viewer can subscribe to now: switched on, priced "
        "within the rank's limits, and none while the creator may not receive "
        "subscriptions (suspended, too young, too few followers).",
        responses={
            status.HTTP_200_OK: TierSerializer(many=True),
            status.HTTP_404_NOT_FOUND: OpenApiResponse(description="No such creator."),
        },
        tags=TAGS,
    )
    def get(self, request, creator_id):
        # The creator first, as the leaderboard does: an unknown (or out of range)
        # id is a 404, never a query the database cannot take.
        creator = get_object_or_404(
            CreatorProfile.objects.select_related("user"), id=creator_id
        )
        tiers = selectors.tiers_offered(creator=creator, day=timezone.now().date())
        return Response(TierSerializer(tiers, many=True).data)


class TierLimitListView(APIView):
    @extend_schema(
        summary="The price limits of each tier rank, set by staff",
        responses={status.HTTP_200_OK: TierLimitSerializer(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        return Response(
            TierLimitSerializer(TierPriceLimit.objects.all(), many=True).data
        )


class SubscriptionListCreateView(ListAPIView):
    serializer_class = SubscriptionSerializer
    pagination_class = NewestFirst
    filter_backends = []
    throttle_classes = [MoneyMovingThrottle]
    throttle_scope = "subscriptions"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Subscription.objects.none()
        return Subscription.objects.filter(subscriber=self.request.user).select_related(
            "tier", "creator"
        )

    @extend_schema(
        summary="My subscriptions, newest first",
        description="Each with its status, the end of the paid period and, in a "
        "grace period or after it lapsed, the `notice` saying why.",
        tags=TAGS,
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Subscribe to a creator's tier",
        description=(
            "The first period's coins leave the subscriber at once (bonus coins "
            "first), the creator earns diamonds at their level's share. It renews "
            "every 30 days at the price subscribed. `coin_price` is the price you "
            "were shown: if the creator changed it since, nothing moves and the "
            "answer is 409 `price_changed` with the current `coin_price`. A repeat "
            "with the same "
            "`Idempotency-Key` returns the first subscription with `200` and moves "
            "nothing."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=SubscribeSerializer,
        responses={
            status.HTTP_201_CREATED: SubscribeResultSerializer,
            status.HTTP_200_OK: SubscribeResultSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="`{tier: [message]}`: unknown, not offered, the "
                "creator may not receive subscriptions, or yourself."
            ),
            status.HTTP_403_FORBIDDEN: OpenApiResponse(description="Under 18."),
            status.HTTP_409_CONFLICT: OpenApiResponse(
                description="Already subscribed to this creator "
                "(`already_subscribed`), the tier's price is no longer the "
                "`coin_price` sent (`price_changed`, with the current `coin_price`), "
                "or not enough coins (`insufficient_balance`, with balance and "
                "needed)."
            ),
            status.HTTP_422_UNPROCESSABLE_ENTITY: KEY_REUSED,
        },
        tags=TAGS,
    )
    def post(self, request):
        key = idempotency_key_from(request)
        form = SubscribeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = services.subscription_subscribe(
            subscriber=request.user,
            tier=form.validated_data["tier"],
            coin_price=form.validated_data["coin_price"],
            idempotency_key=key,
        )
        body = {
            "subscription": SubscriptionSerializer(result.subscription).data,
            "wallet": wallet_data(request.user),
        }
        return created_or_replayed(body, created=result.created)


def _mine(request, pk) -> Subscription:
    return get_object_or_404(
        Subscription.objects.select_related("tier", "creator"),
        pk=pk,
        subscriber=request.user,
    )


class SubscriptionDetailView(APIView):
    @extend_schema(
        summary="One of my subscriptions",
        responses={status.HTTP_200_OK: SubscriptionSerializer, 404: NOT_FOUND},
        tags=TAGS,
    )
    def get(self, request, pk):
        return Response(SubscriptionSerializer(_mine(request, pk)).data)


class SubscriptionCancelView(APIView):
    @extend_schema(
        summary="Cancel one of my subscriptions",
        description="No further charge; it stays active until the paid period "
        "ends. In a grace period it ends at once. Cancelling again is a no-op.",
        request=None,
        responses={
            status.HTTP_200_OK: SubscriptionSerializer,
            404: NOT_FOUND,
            status.HTTP_409_CONFLICT: OpenApiResponse(description="Already over."),
        },
        tags=TAGS,
    )
    def post(self, request, pk):
        subscription = services.subscription_cancel(subscription=_mine(request, pk))
        return Response(SubscriptionSerializer(subscription).data)


class SubscriptionResumeView(APIView):
    @extend_schema(
        summary="Resume (un-cancel) one of my subscriptions",
        description="A cancelled subscription still in its paid period renews "
        "again at the period's end; nothing is charged now and the period is kept. "
        "Resuming one not cancelled is a no-op.",
        request=None,
        responses={
            status.HTTP_200_OK: SubscriptionSerializer,
            404: NOT_FOUND,
            status.HTTP_409_CONFLICT: OpenApiResponse(
                description="Cannot be resumed: `not_live` (already over) or "
                "`period_over` (the paid period has ended)."
            ),
        },
        tags=TAGS,
    )
    def post(self, request, pk):
        subscription = services.subscription_resume(
            subscription=_mine(request, pk), subscriber=request.user
        )
        return Response(SubscriptionSerializer(subscription).data)


class CreatorTiersView(APIView):
    throttle_classes = [MoneyMovingThrottle]
    throttle_scope = "subscriptions"

    @extend_schema(
        summary="My tiers (creator)",
        responses={
            status.HTTP_200_OK: TierSerializer(many=True),
            status.HTTP_403_FORBIDDEN: NOT_A_CREATOR,
        },
        tags=["creator"],
    )
    def get(self, request):
        creator = _signed_in_creator(request)
        tiers = Tier.objects.filter(creator=creator).select_related("limit")
        return Response(TierSerializer(tiers, many=True).data)

    @extend_schema(
        summary="Offer a tier (creator)",
        description="At a rank staff set, priced within its limits "
        "(`GET /api/v1/subscription-tier-limits/`). Only a creator who may receive "
        "gifts may offer one.",
        request=TierCreateSerializer,
        responses={
            status.HTTP_201_CREATED: TierSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="`{field: [message]}`: a price outside the rank's "
                "limits, a rank already offered, or not eligible."
            ),
            status.HTTP_403_FORBIDDEN: NOT_A_CREATOR,
        },
        tags=["creator"],
    )
    def post(self, request):
        creator = _signed_in_creator(request)
        form = TierCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        tier = services.tier_create(creator=creator, **form.validated_data)
        return Response(TierSerializer(tier).data, status=status.HTTP_201_CREATED)


class CreatorTierDetailView(APIView):
    throttle_classes = [MoneyMovingThrottle]
    throttle_scope = "subscriptions"

    @extend_schema(
        summary="Edit one of my tiers (creator)",
        request=TierUpdateSerializer,
        responses={
            status.HTTP_200_OK: TierSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="`{coin_price: [message]}`: outside the rank's limits, "
                "or a price change while you may not receive subscriptions."
            ),
            status.HTTP_403_FORBIDDEN: NOT_A_CREATOR,
            404: OpenApiResponse(description="No such tier of yours."),
        },
        tags=["creator"],
    )
    def patch(self, request, pk):
        creator = _signed_in_creator(request)
        tier = get_object_or_404(Tier, pk=pk, creator=creator)
        form = TierUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        tier = services.tier_update(tier=tier, **form.validated_data)
        return Response(TierSerializer(tier).data)


class CreatorSubscribersView(APIView):
    @extend_schema(
        summary="How many subscribe to me (creator)",
        responses={
            status.HTTP_200_OK: SubscriberCountsSerializer,
            status.HTTP_403_FORBIDDEN: NOT_A_CREATOR,
        },
        tags=["creator"],
    )
    def get(self, request):
        creator = _signed_in_creator(request)
        return Response(selectors.subscriber_counts(creator=creator))
