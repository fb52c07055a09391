"""Creators join: the platform's account facts (a service token) and a user's
creator applications (docs/creators.md). Thin: validate, call a service, answer."""

import datetime

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import HasServiceScope, ServiceTokenAuthentication
from accounts.models import ServiceToken, User
from catalog.models import Region
from core.api.pagination import NewestFirst

from ..models import CreatorApplication
from ..services import applications as services

# A report from the future would shut out every later one until then.
AS_OF_LEEWAY = datetime.timedelta(minutes=5)


class AccountFactsSerializer(serializers.Serializer):
    follower_count = serializers.IntegerField(
        min_value=0, max_value=2_000_000_000, help_text="Followers on the platform."
    )
    birth_date = serializers.DateField(
        allow_null=True, help_text="Verified by the platform; null: unknown."
    )
    suspended = serializers.BooleanField(help_text="Suspended on the platform.")
    region = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Region.objects.all(),
        allow_null=True,
        help_text="Region code (e.g. US); decides which eligibility rule applies. "
        "Required, null when unknown: a report replaces the stored facts whole, so a "
        "left-out region would silently move the user to the global rule.",
    )
    as_of = serializers.DateTimeField(
        help_text="When the platform read these facts: a report older than the "
        "stored one is ignored (`applied: false`)."
    )

    def validate_as_of(self, value):
        if value > timezone.now() + AS_OF_LEEWAY:
            raise serializers.ValidationError("Facts cannot be from the future.")
        return value

    def validate_birth_date(self, value):
        if value is not None and value > timezone.now().date():
            raise serializers.ValidationError("A birth date cannot be in the future.")
        return value


class AccountFactsItemSerializer(AccountFactsSerializer):
    user_id = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The user's id here."
    )


class AccountFactsBatchSerializer(serializers.Serializer):
    facts = AccountFactsItemSerializer(
        many=True,
        min_length=1,
        max_length=services.FACTS_BATCH_MAX,
        help_text="One report per user, each user at most once.",
    )

    def validate_facts(self, items):
        ids = [item["user_id"] for item in items]
        known = set(User.objects.filter(pk__in=ids).values_list("pk", flat=True))
        seen, errors = set(), []
        for user_id in ids:
            if user_id not in known:
                errors.append({"user_id": ["No such user."]})
            elif user_id in seen:
                errors.append({"user_id": ["This user appears twice."]})
            else:
                errors.append({})
            seen.add(user_id)
        if any(errors):
            raise serializers.ValidationError(errors)
        return items


class FactsResultSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(help_text="The user's id here.")
    applied = serializers.BooleanField(
        help_text="False: the stored facts are as new or newer; nothing changed."
    )


class FactsBatchResultSerializer(serializers.Serializer):
    results = FactsResultSerializer(
        many=True, help_text="Per report, in the order sent."
    )


def _report(user_id: int, data: dict) -> services.FactsReport:
    return services.FactsReport(
        user_id=user_id,
        follower_count=data["follower_count"],
        birth_date=data["birth_date"],
        suspended=data["suspended"],
        region=data.get("region"),
        as_of=data["as_of"],
    )


SERVICE_ERRORS = {
    status.HTTP_401_UNAUTHORIZED: OpenApiResponse(
        description="No service token, or a revoked one (a user's token is none)."
    ),
    status.HTTP_403_FORBIDDEN: OpenApiResponse(
        description="The service token's scope is not `account_facts`."
    ),
}


class ServiceView(APIView):
    """Another service's endpoint: only its token, for `service_scope`."""

    authentication_classes = [ServiceTokenAuthentication]
    permission_classes = [HasServiceScope]
    service_scope = ServiceToken.Scope.ACCOUNT_FACTS


class AccountFactsBatchView(ServiceView):
    @extend_schema(
        operation_id="service_account_facts_report",
        summary="Report account facts for many users (the platform)",
        description=(
            f"Up to {services.FACTS_BATCH_MAX} users. All or nothing: an unknown "
            "user is a 400 naming the item (`facts[i].user_id`) and stores nothing. "
            "Each report replaces the stored facts only when its `as_of` is later, "
            "so a repeat or a late delivery changes nothing."
        ),
        request=AccountFactsBatchSerializer,
        responses={
            status.HTTP_200_OK: FactsBatchResultSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="`{facts: [{field: [message]}, ...]}` per item."
            ),
            **SERVICE_ERRORS,
        },
        auth=[{"serviceToken": []}],
        tags=["service"],
    )
    def put(self, request):
        form = AccountFactsBatchSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        items = form.validated_data["facts"]
        applied = services.account_facts_report(
            reports=[_report(item["user_id"], item) for item in items],
            token=request.auth,
        )
        results = [
            {"user_id": item["user_id"], "applied": done}
            for item, done in zip(items, applied, strict=True)
        ]
        return Response(FactsBatchResultSerializer({"results": results}).data)


class AccountFactsView(ServiceView):
    @extend_schema(
        operation_id="service_account_facts_report_one",
        summary="Report one user's account facts (the platform)",
        request=AccountFactsSerializer,
        responses={
            status.HTTP_200_OK: FactsResultSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="A field is wrong: `{field: [message]}`."
            ),
            status.HTTP_404_NOT_FOUND: OpenApiResponse(description="No such user."),
            **SERVICE_ERRORS,
        },
        auth=[{"serviceToken": []}],
        tags=["service"],
    )
    def put(self, request, user_id):
        form = AccountFactsSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        if not User.objects.filter(pk=user_id).exists():
            return Response(
                {"detail": "No such user.", "code": "not_found"},
                status=status.HTTP_404_NOT_FOUND,
            )
        [applied] = services.account_facts_report(
            reports=[_report(user_id, form.validated_data)], token=request.auth
        )
        return Response(
            FactsResultSerializer({"user_id": user_id, "applied": applied}).data
        )


class ApplicationCreateSerializer(serializers.Serializer):
    display_name = serializers.CharField(
        max_length=60, help_text="The name viewers will see."
    )


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="too_young, too_few_followers or suspended.")
    message = serializers.CharField(help_text="The reason in words, to show.")


class ApplicationSerializer(serializers.ModelSerializer):
    reasons = ReasonSerializer(
        many=True, help_text="Why the rules refused it (all of them)."
    )
    review_reason = serializers.CharField(help_text="Why it waits for a person.")
    decision_note = serializers.CharField(help_text="The reviewer's words.")

    class Meta:
        model = CreatorApplication
        fields = (
            "id",
            "display_name",
            "status",
            "reasons",
            "review_reason",
            "decision_note",
            "created_at",
            "decided_at",
        )
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": "The application's id."},
            "display_name": {"help_text": "The name viewers will see."},
            "status": {"help_text": "pending (waits for review), approved or refused."},
            "created_at": {"help_text": "When the user applied."},
            "decided_at": {"help_text": "When it was decided; null while pending."},
        }


class ApplicationListCreateView(ListAPIView):
    serializer_class = ApplicationSerializer
    pagination_class = NewestFirst
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CreatorApplication.objects.none()
        return CreatorApplication.objects.filter(user=self.request.user)

    @extend_schema(
        summary="My creator applications, newest first",
        tags=["creator"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Apply to become a creator",
        description=(
            "The rule in force for the applicant's region (the platform's facts) "
            "decides at once (`approved`, or `refused` with every reason), or the "
            "application waits for review (`pending`, with `review_reason`)."
        ),
        request=ApplicationCreateSerializer,
        responses={
            status.HTTP_201_CREATED: ApplicationSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="`display_name` is missing or blank."
            ),
            status.HTTP_409_CONFLICT: OpenApiResponse(
                description="A creator already, or an application is waiting: "
                "`{detail, code}` with `already_creator` or `application_open`."
            ),
            status.HTTP_429_TOO_MANY_REQUESTS: OpenApiResponse(
                description="Refused less than a day ago (`too_soon`)."
            ),
        },
        tags=["creator"],
    )
    def post(self, request):
        form = ApplicationCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        application = services.creator_application_submit(
            user=request.user, display_name=form.validated_data["display_name"]
        )
        return Response(
            ApplicationSerializer(application).data, status=status.HTTP_201_CREATED
        )
