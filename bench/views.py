from django.db import transaction
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User

from .models import HordakWallet
from .peer import hordak_coins_spend

# A gift send or a purchase issues about this many statements; the floor runs at most.
MAX_STATEMENTS = 64
MAX_TRANSFER_COINS = 1_000_000


class BareView(APIView):
    """The floor every API request stands on: middleware, DRF, token
    authentication and one indexed read.

    The token lookup is kept per process (no read on a hit), so the read is made
    here: the issue's targets were set against a bare request that read the
    database once, and an endpoint that serves money always does. Every scenario's
    throughput is reported as a ratio to this one.
    """

    def get(self, request):
        found = User.objects.filter(pk=request.user.pk).exists()
        return Response({"user": request.user.id, "reads": int(found)})


class FloorView(APIView):
    """The floor under an endpoint that makes `?statements=N` round trips to the
    database: the bare request with N one-row indexed reads (bare's one among
    them) in one transaction.

    Reads are the cheapest statements there are, so no endpoint issuing N statements
    through the ORM can be faster than this on the same stack: its ratio to `bare`
    bounds what such an endpoint can reach.
    """

    def get(self, request):
        try:
            statements = int(request.query_params.get("statements", "1"))
        except ValueError:
            raise ValidationError({"statements": ["A whole number."]}) from None
        if not 1 <= statements <= MAX_STATEMENTS:
            raise ValidationError({"statements": [f"1 to {MAX_STATEMENTS}."]})
        found = 0
        with transaction.atomic():
            for _ in range(statements):
                found += User.objects.filter(pk=request.user.pk).exists()
        return Response({"user": request.user.id, "reads": found})


class HordakTransferSerializer(serializers.Serializer):
    coins = serializers.IntegerField(min_value=1, max_value=MAX_TRANSFER_COINS)


class HordakTransferView(APIView):
    """The peer of a gift send: the same coins leaving the sender, posted as one
    two-leg django-hordak transfer (bench/peer.py). `{"coins": n}` answers 201 with
    the coins left; too few coins is a 409, as for a gift."""

    def post(self, request):
        form = HordakTransferSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            left = hordak_coins_spend(user=request.user, **form.validated_data)
        except HordakWallet.DoesNotExist:
            raise NotFound("Only benchmark senders have a hordak wallet.") from None
        return Response({"coins": left}, status=status.HTTP_201_CREATED)
