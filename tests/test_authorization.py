"""Who may reach what: every role against every API endpoint and admin screen."""

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from accounts.models import User
from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT
from gifting.tests.factories import creator_create
from wallets.tests.factories import user_create

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "user", "creator", "support", "catalog", "finance", "superuser")
EVERYONE = set(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}
CREATOR = {"creator"}

# (method, path) -> the roles that get past authentication and permissions.
API = {
    ("get", "/api/v1/gifts/"): EVERYONE,
    ("get", "/api/v1/bundles/?region=US&channel=app"): EVERYONE,
    ("get", "/api/v1/streams/s1/leaderboard/"): EVERYONE,
    ("get", "/api/v1/wallet/"): SIGNED_IN,
    ("get", "/api/v1/wallet/transfers/"): SIGNED_IN,
    ("get", "/api/v1/purchases/"): SIGNED_IN,
    ("post", "/api/v1/purchases/"): SIGNED_IN,
    ("post", "/api/v1/gift-sends/"): SIGNED_IN,
    ("get", "/api/v1/creator/earnings/"): CREATOR,
    ("get", "/api/v1/creator/gifts/"): CREATOR,
    ("get", "/api/v1/creator/payout-method/"): CREATOR,
    ("post", "/api/v1/creator/payout-method/"): CREATOR,
    ("get", "/api/v1/payouts/"): CREATOR,
    ("post", "/api/v1/payouts/"): CREATOR,
}

STAFF = {"support", "catalog", "finance", "superuser"}
# Admin changelist -> the roles that may open it (everyone else: 403, or the login
# page for people who are not staff).
ADMIN = {
    "catalog/gift": STAFF,
    "catalog/coinbundle": STAFF,
    "catalog/bundleprice": STAFF,
    "catalog/importjob": STAFF,
    "wallets/wallet": {"support", "finance", "superuser"},
    "wallets/transfer": {"support", "finance", "superuser"},
    "wallets/purchase": {"support", "finance", "superuser"},
    "wallets/promotion": STAFF,
    "wallets/spendinglimitoverride": {"support", "finance", "superuser"},
    "wallets/homeregion": {"support", "finance", "superuser"},
    "wallets/unrecoveredstorerefund": {"support", "finance", "superuser"},
    "gifting/creatorprofile": {"support", "finance", "superuser"},
    "gifting/creatorlevel": {"support", "finance", "superuser"},
    "gifting/giftsend": {"support", "finance", "superuser"},
    "payouts/payout": {"support", "finance", "superuser"},
    "reports/moneydashboard": {"finance", "superuser"},
    "reports/userlookup": {"support", "finance", "superuser"},
    "payouts/payoutrules": {"finance", "superuser"},
    "payouts/diamondcashrate": {"finance", "superuser"},
    "payouts/payoutmethodchange": {"finance", "superuser"},
    "accounts/user": {"support", "finance", "superuser"},
    "auth/group": {"superuser"},
    "axes/accessattempt": {"superuser"},
    "audit/auditrecord": {"finance", "superuser"},
}
# Admin add pages: who may create records there.
ADMIN_ADD = {
    "catalog/gift": {"catalog", "superuser"},
    "catalog/coinbundle": {"catalog", "superuser"},
    "catalog/importjob": set(),  # a job is added by uploading a file
    "wallets/transfer": set(),
    "wallets/purchase": set(),
    "wallets/unrecoveredstorerefund": set(),  # written by the store refund service
    "payouts/payout": set(),
    "payouts/diamondcashrate": {"finance", "superuser"},
    "payouts/payoutmethodchange": {"finance", "superuser"},
    "wallets/spendinglimitoverride": {"support", "finance", "superuser"},
    "wallets/homeregion": set(),  # set through its own page, below
    "accounts/user": {"superuser"},
    "audit/auditrecord": set(),
}

# Other admin pages: who may open them.
ADMIN_PAGES = {
    "catalog/importjob/upload/": {"catalog", "superuser"},
    "wallets/homeregion/set/": {"support", "superuser"},
}


def person(role: str) -> User | None:
    if role == "anonymous":
        return None
    if role == "creator":
        return creator_create().user
    if role == "user":
        return user_create()
    if role == "superuser":
        return user_create(is_staff=True, is_superuser=True)
    group = {"support": SUPPORT, "catalog": CATALOG_EDITORS, "finance": FINANCE}[role]
    user = user_create(is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.mark.parametrize("role", ROLES)
def test_api_matrix(role):
    client = APIClient()
    user = person(role)
    if user is not None:
        client.force_authenticate(user)

    for (method, path), allowed in API.items():
        response = getattr(client, method)(
            path,
            {} if method == "post" else None,
            format="json",
            HTTP_IDEMPOTENCY_KEY="k",
        )
        if role in allowed:
            assert response.status_code not in (401, 403), (method, path)
        else:
            assert response.status_code in (401, 403), (
                method,
                path,
                response.status_code,
            )


@pytest.mark.parametrize("role", ROLES)
def test_admin_matrix(client, role):
    user = person(role)
    if user is not None:
        client.force_login(user)

    for model, allowed in ADMIN.items():
        response = client.get(f"/admin/{model}/")
        if role in allowed:
            assert response.status_code == 200, model
        elif role in STAFF:
            assert response.status_code == 403, model
        else:
            assert response.status_code == 302, model  # to the login page
    for model, allowed in ADMIN_ADD.items():
        response = client.get(f"/admin/{model}/add/")
        expected = 200 if role in allowed else (403 if role in STAFF else 302)
        assert response.status_code == expected, f"{model}/add"
    for page, allowed in ADMIN_PAGES.items():
        response = client.get(f"/admin/{page}")
        expected = 200 if role in allowed else (403 if role in STAFF else 302)
        assert response.status_code == expected, page
