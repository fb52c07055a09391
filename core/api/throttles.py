from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import ScopedRateThrottle


class MoneyMovingThrottle(ScopedRateThrottle):
    """Per-user rate limit on requests that move money; reads are not counted.

    Views name their scope (`throttle_scope`); the rates are settings. A request
    over the limit is a 429 with Retry-After.
    """

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)
