from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
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
from core.api.throttles import MoneyMovingThrottle

from .. import selectors, services
from ..models import Purchase, RefundRequest, Transfer
from ..serializers import WalletSerializer, wallet_data
from ..stores import payment_store
from .serializers import (
    PurchaseCreateSerializer,
    PurchaseResultSerializer,
    PurchaseSerializer,
    RefundRequestCreateSerializer,
    RefundRequestResultSerializer,
    RefundRequestSerializer,
    StoreNotificationResultSerializer,
    StoreNotificationSerializer,
    WalletTransferSerializer,
    purchase_result_data,
)


class WalletView(APIView):
    @extend_schema(
        summary="The signed-in user's balances",
        responses={status.HTTP_200_OK: WalletSerializer},
        tags=["wallet"],
    )
    def get(self, request):
        return Response(wallet_data(request.user))


@extend_schema(
    summary="The signed-in user's transfers, newest first",
    description="Cursor-paginated: follow `next`; `limit` sets the page size (50, at "
    "most 200).",
    tags=["wallet"],
)
class WalletTransferListView(ListAPIView):
    serializer_class = WalletTransferSerializer
    pagination_class = NewestFirst
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Transfer.objects.none()
        return selectors.transfers_for_user(user=self.request.user)


class PurchaseViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    throttle_classes = [MoneyMovingThrottle]
    throttle_scope = "purchases"
    serializer_class = PurchaseSerializer
    pagination_class = NewestFirst
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Purchase.objects.none()
        return Purchase.objects.filter(user=self.request.user).select_related(
            "bundle", "region"
        )

    @extend_schema(
        summary="Buy a coin bundle with a store receipt",
        description=(
            "The server prices the bundle at this moment; the receipt is verified "
            "with the store. A repeat of the same request with the same "
            "`Idempotency-Key`, or of the same store transaction, returns the first "
            "purchase with `200`; another request with a used key is a `422`."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=PurchaseCreateSerializer,
        responses={
            status.HTTP_201_CREATED: PurchaseResultSerializer,
            status.HTTP_200_OK: PurchaseResultSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="A field is wrong, the bundle is not on sale there, the "
                "region is not the user's home region, or the store rejected the "
                "receipt: `{field: [message]}`."
            ),
            status.HTTP_403_FORBIDDEN: OpenApiResponse(
                description="Under 18, a spending limit reached, or spending in "
                "another currency that cannot be converted: `{detail, code}`."
            ),
            status.HTTP_409_CONFLICT: OpenApiResponse(
                description="The receipt was already used by another purchase."
            ),
            status.HTTP_422_UNPROCESSABLE_ENTITY: KEY_REUSED,
            status.HTTP_503_SERVICE_UNAVAILABLE: OpenApiResponse(
                description="The store did not answer; retry with the same key."
            ),
        },
        tags=["purchases"],
    )
    def create(self, request, *args, **kwargs):
        key = idempotency_key_from(request)
        form = PurchaseCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = services.purchase_record(
            user=request.user, idempotency_key=key, **form.validated_data
        )
        body = purchase_result_data(result.purchase, wallet_data(request.user))
        return created_or_replayed(body, created=result.created)

    @extend_schema(
        summary="Ask for a refund of one of the signed-in user's purchases",
        description=(
            "The purchase's refund rule (its region's, in force when it was bought) "
            "decides. Within the rule's self-service days an unused purchase is "
            "refunded at once: `201`, `status: granted`, its coins taken back. "
            "Within the refund window but past those days, or in a region where "
            "finance decides every refund: `202`, `status: queued`, with why "
            "(`review`); finance approves or declines it (`GET "
            "/api/v1/refund-requests/` shows the outcome). What nobody could grant "
            "is a `409` `{detail, code}` and records nothing: `coins_used` (some "
            "of its coins, or its bonus coins, were spent), `refund_window_passed`, "
            "`refunded_by_store` (in-app purchases in that region are refunded by "
            "the App Store or Google Play), `already_refunded`, "
            "`refund_already_requested` (one request per purchase). Another user's "
            "purchase is a `404`. A repeat with the same `Idempotency-Key` and "
            "body returns the first request with `200`; the key with another body "
            "is a `422`."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=RefundRequestCreateSerializer,
        responses={
            status.HTTP_201_CREATED: RefundRequestResultSerializer,
            status.HTTP_202_ACCEPTED: RefundRequestResultSerializer,
            status.HTTP_200_OK: RefundRequestResultSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="A field or the Idempotency-Key header is wrong: "
                "`{field: [message]}`."
            ),
            status.HTTP_404_NOT_FOUND: OpenApiResponse(
                description="No such purchase of the signed-in user."
            ),
            status.HTTP_409_CONFLICT: OpenApiResponse(
                description="The purchase cannot be refunded, or was already "
                "asked for: `{detail, code}`; nothing was recorded."
            ),
            status.HTTP_422_UNPROCESSABLE_ENTITY: KEY_REUSED,
        },
        tags=["purchases"],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="refund-requests",
        throttle_scope="refund_requests",
    )
    def refund_requests(self, request, pk=None):
        purchase = self.get_object()
        key = idempotency_key_from(request)
        form = RefundRequestCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = services.refund_request_create(
            purchase=purchase,
            user=request.user,
            reason=form.validated_data["reason"],
            idempotency_key=key,
        )
        body = {
            "refund_request": RefundRequestSerializer(result.request).data,
            "wallet": wallet_data(request.user),
        }
        if not result.created:
            answer = status.HTTP_200_OK
        elif result.request.status == RefundRequest.Status.QUEUED:
            answer = status.HTTP_202_ACCEPTED
        else:
            answer = status.HTTP_201_CREATED
        return Response(body, status=answer)

    @extend_schema(
        summary="The signed-in user's purchases, newest first", tags=["purchases"]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="One of the signed-in user's purchases", tags=["purchases"])
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)


@extend_schema(
    summary="The signed-in user's refund requests and their outcome, newest first",
    description="Cursor-paginated: follow `next`; `limit` sets the page size (50, at "
    "most 200).",
    tags=["purchases"],
)
class RefundRequestListView(ListAPIView):
    serializer_class = RefundRequestSerializer
    pagination_class = NewestFirst
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RefundRequest.objects.none()
        return RefundRequest.objects.filter(user=self.request.user)


@method_decorator(csrf_exempt, name="dispatch")
class StoreNotificationView(APIView):
    """Server-to-server: a store reports a refund, signed with its secret."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="A store's refund notification",
        description="Signed by the store: the sandbox sends `X-Store-Signature`, the "
        "HMAC-SHA256 of the body. A bad signature is refused and changes nothing. "
        "The store has returned the money: the platform takes back what is left of "
        "the purchase (whatever its age) and answers 200, also for a repeat.",
        parameters=[
            OpenApiParameter(
                "X-Store-Signature",
                location=OpenApiParameter.HEADER,
                required=True,
                description="HMAC-SHA256 of the raw body, hex.",
            ),
            OpenApiParameter(
                "store",
                location=OpenApiParameter.PATH,
                enum=Purchase.Store.values,
                description="The store sending it.",
            ),
        ],
        request=StoreNotificationSerializer,
        responses={
            status.HTTP_200_OK: StoreNotificationResultSerializer,
            status.HTTP_403_FORBIDDEN: OpenApiResponse(description="Bad signature."),
        },
        auth=[],
        tags=["stores"],
    )
    def post(self, request, store):
        if store not in Purchase.Store.values:
            raise NotFound("Unknown store.")
        signature = request.headers.get("X-Store-Signature", "")
        if not payment_store(store).verify_notification(request.body, signature):
            raise PermissionDenied("Bad signature.")
        form = StoreNotificationSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = services.store_refund_notification_handle(
            store=store, transaction_id=form.validated_data["transaction_id"]
        )
        if result is None:
            answer = {"status": "ignored"}
        elif not result.refunded:
            answer = {"status": "already_refunded"}
            if result.shortfall is not None:  # the platform had refunded it
                answer["detail"] = result.shortfall.description
        elif result.shortfall is not None:
            answer = {
                "status": "refunded_partly",
                "detail": result.shortfall.description,
            }
        else:
            answer = {"status": "refunded"}
        return Response(StoreNotificationResultSerializer(answer).data)
