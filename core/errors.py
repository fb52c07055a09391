class ServiceError(Exception):
    """A service's refusal: says what is wrong, to a person and to the API client.

    `field` names the input at fault (the API answers `{field: [message]}`); without
    one the API answers `{"detail": message, "code": code}`.
    """

    status_code = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        extra: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.extra = extra or {}
