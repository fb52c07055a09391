from django.db import transaction
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User

# A gift send or a purchase issues about this many statements; the floor runs at most.
MAX_STATEMENTS = 64


class BareView(APIView):
    """The floor every API request stands on: middleware, DRF and token
    authentication (the default's: the lookup is kept per process, no read on a hit).

    Every scenario's throughput is reported as a ratio to this one.
    """

    def get(self, request):
        return Response({"user": request.user.id})


class FloorView(APIView):
    """The floor under an endpoint that issues `?statements=N` ORM statements: the
    bare request plus N - 1 one-row indexed reads in one transaction. N counts the
    token lookup, which a cached token now skips here as in the endpoint it bounds.

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
            for _ in range(statements - 1):
                found += User.objects.filter(pk=request.user.pk).exists()
        return Response({"user": request.user.id, "reads": found})
