import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from accounts.demo import demo_password, demo_users_create
from accounts.models import User
from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT

pytestmark = pytest.mark.django_db

# Admin page -> which demo logins may open it; everyone else gets 403.
ADMIN_ACCESS = {
    "/admin/catalog/gift/": {"admin", "catalog", "finance", "support"},
    "/admin/catalog/gift/add/": {"admin", "catalog"},
    "/admin/catalog/gift/import/": {"admin", "catalog"},
    "/admin/catalog/gift/export/": {"admin", "catalog", "finance", "support"},
    "/admin/catalog/giftpricechange/add/": {"admin", "catalog"},
    "/admin/catalog/region/add/": {"admin", "catalog"},
    "/admin/accounts/user/": {"admin", "finance", "support"},
    "/admin/accounts/user/add/": {"admin"},
    "/admin/auth/group/": {"admin"},
    "/admin/authtoken/tokenproxy/": {"admin"},
    "/admin/django_celery_beat/periodictask/": {
        "admin",
        "catalog",
        "finance",
        "support",
    },
    "/admin/django_celery_beat/periodictask/add/": {"admin"},
    "/admin/wallets/homeregion/": {"admin", "finance", "support"},
    "/admin/wallets/homeregion/set/": {"admin", "support"},
    "/admin/reports/userlookup/": {"admin", "finance", "support"},
}
STAFF_LOGINS = ("admin", "catalog", "finance", "support")


def test_roles_exist_with_their_permissions():
    perms = {
        group.name: set(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.all()
    }
    assert {
        "add_gift",
        "change_gift",
        "delete_gift",
        "change_giftpricechange",
    } <= perms[CATALOG_EDITORS]
    assert "view_user" not in perms[CATALOG_EDITORS]
    assert {"view_gift", "view_user"} <= perms[FINANCE]
    # Support reads everything and may only set a user's spending limits and home
    # region, decide creator applications (the review queue) and ask for a
    # subscription charge's refund (finance grants it).
    writable = {c for c in perms[SUPPORT] if not c.startswith("view_")}
    assert writable == {
        "add_spendinglimitoverride",
        "change_spendinglimitoverride",
        "change_homeregion",
        "decide_creatorapplication",
        "add_chargerefund",
    }
    assert {"add_chargerefund", "approve_chargerefund"} <= perms[FINANCE]
    assert "decide_creatorapplication" not in perms[FINANCE]
    assert "change_homeregion" not in perms[FINANCE]


@pytest.mark.parametrize("username", STAFF_LOGINS)
def test_each_demo_login_reaches_the_admin_with_its_role_and_no_more(client, username):
    demo_users_create()
    login = client.post(
        "/admin/login/",
        {"username": username, "password": demo_password(username), "next": "/admin/"},
    )
    assert login.status_code == 302

    assert client.get("/admin/").status_code == 200
    for url, allowed in ADMIN_ACCESS.items():
        expected = 200 if username in allowed else 403
        assert client.get(url).status_code == expected, url


def test_demo_clients_are_not_staff_and_have_tokens(client):
    logins = {login["username"]: login for login in demo_users_create()}

    for username in ("viewer", "creator"):
        user = User.objects.get(username=username)
        assert not user.is_staff
        assert user.auth_token.key == logins[username]["token"]
        assert user.is_adult_on(user.date_joined.date())
    login = client.post(
        "/admin/login/", {"username": "viewer", "password": "viewer-demo"}
    )
    assert login.status_code == 200  # the admin's login form refuses non-staff
    assert client.get("/admin/").status_code == 302


def test_demo_command_prints_a_login_per_role_and_can_run_twice(capsys, settings):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")

    out = capsys.readouterr().out
    for role in (CATALOG_EDITORS, FINANCE, SUPPORT):
        assert role in out
    assert User.objects.filter(username="catalog").count() == 1


def test_demo_command_refuses_in_production_mode(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="refused with DJANGO_DEBUG=0"):
        call_command("seed_demo")
    assert not User.objects.exists()
