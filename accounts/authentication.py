import threading
from collections import OrderedDict
from time import monotonic
from typing import NamedTuple

from django.conf import settings
from django.db import connections, router
from django.db.models.base import ModelState
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import (
    BaseAuthentication,
    TokenAuthentication,
    get_authorization_header,
)
from rest_framework.authtoken.models import Token
from rest_framework.permissions import BasePermission

from .models import ServiceToken, User
from .services import service_key_hash


class _Entry(NamedTuple):
    expires: float
    user_id: int
    user_fields: dict
    token_fields: dict


def _fields_of(instance) -> dict:
    return {
        name: value
        for name, value in instance.__dict__.items()
        if name != "_state"  # the instance's own; a copy gets a fresh one
    }


def _instance_from(model, fields: dict, db: str):
    # What unpickling or `copy.copy` does, without Model.__init__: the field values
    # are immutable (ints, strings, dates), so copies share them safely.
    instance = model.__new__(model)
    instance.__dict__.update(fields)
    instance._state = ModelState()
    instance._state.adding = False
    instance._state.db = db
    return instance


class TokenCache:
    """Successful token lookups, kept in this process for `TOKEN_CACHE_SECONDS`.

    An entry's lifetime runs from the database read and a hit never extends it, so
    a token revoked or a user changed elsewhere is read again within that time.
    Only lookups that authenticated are kept, and at most `max_entries`, so bad
    keys cannot grow it. Changes made in this process forget the entries at once
    (`accounts.signals`).
    """

    def __init__(self):
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        # Bumped by every forget: a lookup that read the database before a forget
        # must not store what it read after it.
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple) -> _Entry | None:
        # Lock-free: single OrderedDict operations are atomic under the GIL.
        entry = self._entries.get(key)
        if entry is None or entry.expires <= monotonic():
            return None
        return entry

    def put(self, key: tuple, entry: _Entry, *, generation: int) -> None:
        max_entries = settings.TOKEN_CACHE_MAX_ENTRIES
        with self._lock:
            if generation != self.generation:
                return
            self._entries.pop(key, None)
            # All entries share one lifetime, so the oldest expire first.
            while self._entries and len(self._entries) >= max_entries:
                self._entries.popitem(last=False)
            self._entries[key] = entry

    def forget_key(self, token_key: str) -> None:
        with self._lock:
            self.generation += 1
            for key in [key for key in self._entries if key[1] == token_key]:
                del self._entries[key]

    def forget_user(self, user_id: int) -> None:
        with self._lock:
            self.generation += 1
            for key in [
                key for key, entry in self._entries.items() if entry.user_id == user_id
            ]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()


tokens = TokenCache()


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication with the lookup kept in this process.

    The header, the `Token` keyword and every refusal are DRF's; only a lookup that
    succeeded is remembered, for `TOKEN_CACHE_SECONDS` (0 reads every time). Each
    request gets its own User and Token built from the remembered values, so what
    one request sets on them (permission caches, attributes) never reaches another.
    """

    def authenticate_credentials(self, key):
        if settings.TOKEN_CACHE_SECONDS <= 0:
            return super().authenticate_credentials(key)
        db = router.db_for_read(Token)
        # The database's name too: a test database and the real one never share.
        cache_key = (connections[db].settings_dict["NAME"], key)
        entry = tokens.get(cache_key)
        if entry is not None and entry.user_fields["is_active"]:
            user = _instance_from(User, entry.user_fields, db)
            token = _instance_from(Token, entry.token_fields, db)
            token._state.fields_cache = {"user": user}
            return user, token
        # Taken before the read, so no entry outlives TOKEN_CACHE_SECONDS from it.
        generation, read_at = tokens.generation, monotonic()
        user, token = super().authenticate_credentials(key)
        tokens.put(
            cache_key,
            _Entry(
                expires=read_at + settings.TOKEN_CACHE_SECONDS,
                user_id=user.pk,
                user_fields=_fields_of(user),
                token_fields=_fields_of(token),
            ),
            generation=generation,
        )
        return user, token


class ServiceCaller:
    """Who a service token's request is: a service, never a user. It has no
    permissions, so no user endpoint and no admin page serves it."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = id = None

    def __init__(self, token):
        self.token = token
        self.username = f"service:{token.name}"

    def __str__(self):
        return self.username

    def has_perm(self, perm, obj=None) -> bool:
        return False


class ServiceTokenAuthentication(BaseAuthentication):
    """`Authorization: Service <key>`: another service's token, looked up by the
    key's hash on every request (a revoked key fails at once). Only the service
    endpoints use it; a user's `Token` there is no credential, and a service key
    is no `Token` on user endpoints."""

    keyword = "Service"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid service header: `Service <key>` with no spaces in the key."
            )
        try:
            key = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid service key.") from None
        token = ServiceToken.objects.filter(
            key_hash=service_key_hash(key), revoked_at__isnull=True
        ).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked service key.")
        return ServiceCaller(token), token

    def authenticate_header(self, request):
        return self.keyword


class HasServiceScope(BasePermission):
    """The request carries a service token for the view's `service_scope`."""

    message = "This service token's scope does not cover this endpoint."

    def has_permission(self, request, view):
        token = request.auth
        return isinstance(token, ServiceToken) and token.scope == view.service_scope


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    target_class = ServiceTokenAuthentication
    name = "serviceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Service <key>`: a service token (`manage.py "
            "service_token_create`), never a user's.",
        }
