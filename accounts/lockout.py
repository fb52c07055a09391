"""Login lock-out (django-axes): per username and address, and per address.

Axes locks one username at one address after `AXES_FAILURE_LIMIT` failures. An
address guessing a few passwords each for many usernames never reaches that, so it
is also locked once its failures across usernames reach
`AXES_ADDRESS_FAILURE_LIMIT`. A successful login resets only its own username's
count (AXES_RESET_ON_SUCCESS), never the address's.
"""

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_lockout_message
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpResponse, JsonResponse

API_PREFIX = "/api/"


class LoginLockoutHandler(AxesDatabaseHandler):
    def get_failures(self, request, credentials=None) -> int:
        failures = super().get_failures(request, credentials)
        address_failures = (
            AccessAttempt.objects.filter(
                ip_address=request.axes_ip_address,
                attempt_time__gte=get_cool_off_threshold(request),
            ).aggregate(total=Sum("failures_since_start"))["total"]
            or 0
        )
        if address_failures >= settings.AXES_ADDRESS_FAILURE_LIMIT:
            # Counted as the username's limit reached: axes then locks as it does.
            return max(failures, settings.AXES_FAILURE_LIMIT)
        return failures


def lockout_response(request, original_response=None, credentials=None):
    """The API's lock-out is a JSON error like every other; the admin's a page."""
    cool_off = get_cool_off(request)
    if not request.path.startswith(API_PREFIX):
        return HttpResponse(get_lockout_message(), status=429)
    minutes = int(cool_off.total_seconds() // 60)
    response = JsonResponse(
        {
            "detail": f"Too many failed logins: try again in {minutes} minutes, "
            "or ask staff to unlock.",
            "code": "locked_out",
        },
        status=429,
    )
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
