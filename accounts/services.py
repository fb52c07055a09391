"""Service tokens: made with the key shown once, revoked for good."""

import hashlib
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ServiceError

from .models import ServiceToken, User

SERVICE_KEY_PREFIX = "svc_"


def service_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def service_token_create(
    *, name: str, scope: str, actor: User | None = None
) -> tuple[ServiceToken, str]:
    """A new token and its key: the key is returned here once and never stored."""
    name = name.strip()
    if not name:
        raise ServiceError("Name the service the token is for.", field="name")
    if scope not in ServiceToken.Scope.values:
        raise ServiceError(
            f"Unknown scope; one of: {', '.join(ServiceToken.Scope.values)}.",
            field="scope",
        )
    key = SERVICE_KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ServiceToken.objects.create(
                name=name,
                scope=scope,
                key_prefix=key[:12],
                key_hash=service_key_hash(key),
                created_by=actor,
            )
    except IntegrityError:
        raise ServiceError(
            "A service token has this name already.", field="name"
        ) from None
    return token, key


@transaction.atomic
def service_tokens_revoke(*, tokens) -> int:
    """Revoke tokens for good (a revoked key never works again); count revoked."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
