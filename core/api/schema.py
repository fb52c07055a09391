"""The API schema documents every status an operation really answers.

drf-spectacular documents what each view declares; the answers that come from the
framework around the view (no token, a bad cursor or page size, a body the parsers
refuse, a throttle, a database that dropped the connection) are added here once,
for every operation they apply to, so the schema a client or a fuzzer reads matches
the server.
"""

from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import AllowAny

BAD_INPUT = "A field or parameter is wrong: `{field: [message]}`."
NO_TOKEN = "No token, or not a valid one."
TOO_LARGE = "The body is larger than the upload limit (5 MB)."
UNSUPPORTED = "The body is not JSON, a form or multipart, or cannot be read as one."
NOT_FOUND = "Not found (or not yours), or a `cursor` that is not one of ours."
THROTTLED = "Too many requests: retry after `Retry-After` seconds."
UNAVAILABLE = (
    "Nothing was recorded (the database dropped the connection): retry with the "
    "same `Idempotency-Key`."
)


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        view = self.view
        paginated = self._is_list_view() and getattr(view, "pagination_class", None)
        has_path_parameter = "{" in self.path
        writes = self.method == "POST"

        def add(code: str, description: str) -> None:
            responses.setdefault(code, {"description": description})

        if writes or paginated:
            add("400", BAD_INPUT)
        if view.authentication_classes and not any(
            isinstance(permission, AllowAny) for permission in view.get_permissions()
        ):
            add("401", NO_TOKEN)
        if paginated or has_path_parameter:
            add("404", NOT_FOUND)
        if writes:
            add("413", TOO_LARGE)
            add("415", UNSUPPORTED)
        if writes and getattr(view, "throttle_scope", None):
            add("429", THROTTLED)
            add("503", UNAVAILABLE)
        return dict(sorted(responses.items()))
