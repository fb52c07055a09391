from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import (
    AnonRateThrottle,
    ScopedRateThrottle,
    UserRateThrottle,
)


class MoneyMovingThrottle(ScopedRateThrottle):
    """Per-user rate limit on requests that move money; reads are not counted.

    Views name their scope (`throttle_scope`); the rates are settings. A request
    over the limit is a 429 with Retry-After.
    """

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)


class LeaderboardAnonThrottle(AnonRateThrottle):
    """Anonymous reads of leaderboards, per client address: each may query the
    database (a board not cached yet)."""

    scope = "leaderboards_anon"


class LeaderboardUserThrottle(UserRateThrottle):
    """Signed-in reads of leaderboards, per user."""

    scope = "leaderboards"


LEADERBOARD_THROTTLES = [LeaderboardAnonThrottle, LeaderboardUserThrottle]
