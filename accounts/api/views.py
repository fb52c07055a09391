from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .serializers import TokenRequestSerializer, TokenSerializer


class TokenView(APIView):
    """Exchange a username and password for the client app's API token."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_token_create",
        request=TokenRequestSerializer,
        responses={
            status.HTTP_200_OK: TokenSerializer,
            status.HTTP_400_BAD_REQUEST: OpenApiResponse(
                description="Missing fields, or the credentials do not match a user."
            ),
            status.HTTP_429_TOO_MANY_REQUESTS: OpenApiResponse(
                description="Locked after repeated failures; try again after the "
                "cool-off or ask staff to unlock."
            ),
        },
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        # Fields of the wrong shape or length are a 400 before any login attempt.
        TokenRequestSerializer(data=request.data).is_valid(raise_exception=True)
        # Django's own request: django-axes marks a locked-out login on it, and its
        # middleware then answers 429 (DRF's wrapper would hide the mark).
        serializer = AuthTokenSerializer(
            data=request.data, context={"request": request._request}
        )
        serializer.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response(TokenSerializer({"token": token.key}).data)
