"""Demo logins for a local run: one per staff role and two client users."""

import datetime

from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework.authtoken.models import Token

from .models import User
from .roles import CATALOG_EDITORS, FINANCE, SUPPORT

STAFF = [
    # (username, role, superuser)
    ("admin", "Operators (superuser)", True),
    ("catalog", CATALOG_EDITORS, False),
    ("finance", FINANCE, False),
    ("support", SUPPORT, False),
]
CLIENTS = [
    ("viewer", datetime.date(1995, 4, 2)),
    ("creator", datetime.date(1990, 9, 17)),
]


def demo_password(username: str) -> str:
    return f"{username}-demo"


@transaction.atomic
def demo_users_create() -> list[dict[str, str]]:
    """Create or reset the demo users; returns what to print for each."""
    logins = []
    for username, role, superuser in STAFF:
        user, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        user.is_staff = True
        user.is_superuser = superuser
        user.set_password(demo_password(username))
        user.save()
        if not superuser:
            user.groups.set([Group.objects.get(name=role)])
        logins.append(
            {"role": role, "username": username, "password": demo_password(username)}
        )
    for username, birth_date in CLIENTS:
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@example.com", "birth_date": birth_date},
        )
        user.set_password(demo_password(username))
        user.save()
        token, _ = Token.objects.get_or_create(user=user)
        logins.append(
            {
                "role": f"client ({username})",
                "username": username,
                "password": demo_password(username),
                "token": token.key,
            }
        )
    return logins
