from decimal import Decimal

from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied
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
from core.api.responses import (
    NOT_A_CREATOR,
    ONLY_CREATORS,
    creator_read,
    present_or_forbidden,
)
from core.api.throttles import MoneyMovingThrottle
from gifting.models import CreatorProfile
from gifting.selectors import creator_earnings, creator_of
from wallets.units import diamonds_from_units, units_from_diamonds

from .. import selectors, services
from ..models import Payout
from ..providers import PayoutResult, payout_provider
from .serializers import (
    CreatorEarningsSerializer,
    PayoutCreateSerializer,
    PayoutMethodRequestSerializer,
    PayoutMethodSerializer,
    PayoutResultSerializer,
    PayoutSerializer,
    ProviderCallbackResultSerializer,
    ProviderCallbackSerializer,
)


class NewestFirstRequested(NewestFirst):
    ordering = ("-requested_at", "-id")


def _signed_in_creator(request):
    return present_or_forbidden(creator_of(request.user), ONLY_CREATORS)


def _level_data(level):
    if level is None:
        return None
    return {
        "number": level.number,
        "name": level.name,
        "share_percent": level.share_percent,
        "min_diamonds_30d": level.min_diamonds_30d,
    }


class CreatorEarningsView(APIView):
    @creator_read(
        "The signed-in creator's earnings", CreatorEarningsSerializer, "creator"
    )
    def get(self, request):
        creator = _signed_in_creator(request)
        earnings = creator_earnings(creator=creator)
        rate = selectors.cash_rate_current(currency="USD", when=timezone.now())
        to_next = None
        if earnings.next_level is not None:
            earned_30d = diamonds_from_units(earnings.earned_30d_units)
            missing = earnings.next_level.min_diamonds_30d - earned_30d
            to_next = max(missing, Decimal("0"))
        data = {
            "diamonds": diamonds_from_units(earnings.diamond_units),
            "available": diamonds_from_units(earnings.available_units),
            "on_hold": diamonds_from_units(earnings.hold.on_hold_units),
            "on_hold_frees": [
                {"on": day, "diamonds": diamonds_from_units(units)}
                for day, units in earnings.hold.frees
            ],
            # Gross at today's rate, as a payout of it all would get; fees come on top.
            "cash_value": services.payout_gross(
                diamond_units=earnings.diamond_units, rate=rate.rate
            )
            if rate
            else None,
            "cash_currency": "USD",
            "level": _level_data(earnings.level),
            "next_level": _level_data(earnings.next_level),
            "diamonds_to_next_level": to_next,
            "earned_today": diamonds_from_units(earnings.earned_today_units),
            "earned_7_days": diamonds_from_units(earnings.earned_7d_units),
            "earned_30_days": diamonds_from_units(earnings.earned_30d_units),
        }
        return Response(CreatorEarningsSerializer(data).data)


def _payout_method_data(creator: CreatorProfile) -> dict:
    pending = selectors.payout_method_pending(creator_ids=[creator.id]).get(creator.id)
    rules = selectors.payout_rules(currency="USD")
    return {
        "payout_method": creator.payout_method,
        "destination": selectors.destination_masked(creator.destination),
        "changed_at": creator.payout_method_changed_at,
        "cooloff_ends": selectors.payout_method_cooloff_ends(creator=creator),
        "cooloff_days": rules.method_cooloff_days if rules else 0,
        "pending": None
        if pending is None
        else {
            "id": pending.id,
            "payout_method": pending.payout_method,
            "destination": selectors.destination_masked(pending.destination),
            "requested_at": pending.requested_at,
            "status": pending.status,
        },
    }


class CreatorPayoutMethodView(APIView):
    throttle_classes = [MoneyMovingThrottle]
    throttle_scope = "payouts"

    @extend_schema(
        summary="The signed-in creator's payout method",
        description="Destinations are masked; `pending` is a change waiting for "
        "finance.",
        responses={
            status.HTTP_200_OK: PayoutMethodSerializer,
            status.HTTP_403_FORBIDDEN: OpenApiResponse(description="Not a creator."),
        },
        tags=["creator"],
    )
    def get(self, request):
        return Response(
            PayoutMethodSerializer(
                _payout_method_data(_signed_in_creator(request))
            ).data
        )

    @extend_schema(
        summary="Ask to be paid somewhere else",
        description=(
            "PayPal (`paypal_email`) or a bank account (`bank_account_holder`, "
            "`bank_iban`, `bank_bic`). Nothing changes until a finance user confirms "
            "it; payouts go to it once the cool-off after the confirmation has "
            "passed. A newer request replaces one still waiting."
        ),
        request=PayoutMethodRequestSerializer,
        responses={
            status.HTTP_201_CREATED: PayoutMethodSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="A field is missing or wrong: `{field: [message]}`."
            ),
            status.HTTP_403_FORBIDDEN: OpenApiResponse(description="Not a creator."),
        },
        tags=["creator"],
    )
    def post(self, request):
        creator = _signed_in_creator(request)
        form = PayoutMethodRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.payout_method_change_request(
            creator=creator, actor=request.user, **form.validated_data
        )
        return Response(
            PayoutMethodSerializer(_payout_method_data(creator)).data,
            status=status.HTTP_201_CREATED,
        )


class PayoutViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    throttle_classes = [MoneyMovingThrottle]
    throttle_scope = "payouts"
    serializer_class = PayoutSerializer
    pagination_class = NewestFirstRequested
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Payout.objects.none()
        return selectors.payouts_with_rejection_reason(
            Payout.objects.filter(creator=_signed_in_creator(self.request))
        )

    @extend_schema(
        summary="Ask to cash out diamonds",
        description=(
            "Holds the diamonds and stamps the rate, fee and cash amount; finance then "
            "approves. A repeat of the same request with the same `Idempotency-Key` "
            "returns the first payout with `200`; another request with a used key is "
            "a `422`."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=PayoutCreateSerializer,
        responses={
            status.HTTP_201_CREATED: PayoutResultSerializer,
            status.HTTP_200_OK: PayoutResultSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="Below the minimum, above the balance or the daily "
                "maximum, not verified, no payout method."
            ),
            status.HTTP_403_FORBIDDEN: NOT_A_CREATOR,
            status.HTTP_409_CONFLICT: OpenApiResponse(
                description="A payout is already in progress."
            ),
            status.HTTP_422_UNPROCESSABLE_ENTITY: KEY_REUSED,
        },
        tags=["payouts"],
    )
    def create(self, request):
        creator = _signed_in_creator(request)
        key = idempotency_key_from(request)
        form = PayoutCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        units = None
        if not form.validated_data["all"]:
            # The field's four decimals already refuse anything finer than a unit.
            units = units_from_diamonds(form.validated_data["diamonds"])
        result = services.payout_request(
            creator=creator,
            diamond_units=units,
            currency=form.validated_data["currency"],
            idempotency_key=key,
        )
        body = PayoutResultSerializer({"payout": result.payout}).data
        return created_or_replayed(body, created=result.created)

    @creator_read(
        "The signed-in creator's payouts, newest first",
        PayoutSerializer(many=True),
        "payouts",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @creator_read("One of the signed-in creator's payouts", PayoutSerializer, "payouts")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)


@method_decorator(csrf_exempt, name="dispatch")
class ProviderCallbackView(APIView):
    """Server-to-server: the payout provider reports a result, signed."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="The payout provider's status callback",
        description="Signed by the provider; the sandbox provider's "
        "`X-Provider-Signature` is `t=<unix seconds>,v1=<hex "
        "HMAC-SHA256 of '<t>.' followed by the raw body>`. A bad signature, or one "
        "made more than 5 minutes away from now (a replay), is refused and changes "
        "nothing.",
        parameters=[
            OpenApiParameter(
                "X-Provider-Signature",
                location=OpenApiParameter.HEADER,
                required=True,
                description="t=<unix seconds>,v1=<hex HMAC-SHA256>.",
            )
        ],
        request=ProviderCallbackSerializer,
        responses={
            status.HTTP_200_OK: ProviderCallbackResultSerializer,
            status.HTTP_403_FORBIDDEN: OpenApiResponse(description="Bad signature."),
        },
        auth=[],
        tags=["payouts"],
    )
    def post(self, request):
        signature = request.headers.get("X-Provider-Signature", "")
        # A signature is ASCII; anything else is no signature (and compare_digest
        # refuses non-ASCII text with a TypeError).
        if not signature.isascii() or not payout_provider().verify_callback(
            request.body, signature
        ):
            raise PermissionDenied("Bad signature.")
        form = ProviderCallbackSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        recorded = services.payout_results_record(
            results=[
                PayoutResult(
                    reference=data["reference"],
                    paid=data["status"] == "paid",
                    provider_id=data["provider_id"],
                    reason=data["reason"],
                )
            ]
        )
        return Response(
            ProviderCallbackResultSerializer({"recorded": recorded > 0}).data
        )
