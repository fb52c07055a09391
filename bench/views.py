from rest_framework.response import Response
from rest_framework.views import APIView


class BareView(APIView):
    """The floor every API request stands on: middleware, DRF and token
    authentication, which is one indexed read (the token joined to its user).

    Every scenario's throughput is reported as a ratio to this one.
    """

    def get(self, request):
        return Response({"user": request.user.id})
