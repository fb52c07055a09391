"""The admin's dead ends: its 403 and 404 in its own look with a way back, no
"View site" to nowhere, a favicon, and `make run` on the port it was given."""

import shutil
import subprocess

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command

from accounts.roles import CATALOG_EDITORS, SUPPORT
from wallets.tests.factories import staff_create, user_create

pytestmark = pytest.mark.django_db

HEADER = "Gift economy back-office"


def test_a_page_a_role_may_not_open_is_a_403_in_the_admins_look(client):
    editor = staff_create(CATALOG_EDITORS, username="cat")
    client.force_login(editor)
    someone = user_create()

    response = client.get(
        f"/admin/accounts/user/{someone.pk}/change/",
        HTTP_REFERER="http://testserver/admin/catalog/gift/?q=rose",
    )

    assert response.status_code == 403
    html = response.content.decode()
    assert HEADER in html and 'id="user-tools"' in html
    assert "signed in as <strong>cat</strong> (Catalog editors)" in html
    assert 'href="http://testserver/admin/catalog/gift/?q=rose"' in html  # back
    assert 'href="/admin/" id="go-home"' in html
    assert someone.username not in html


@pytest.mark.parametrize(
    "referer",
    ["https://evil.example/phish", "javascript:alert(1)", "http://testserver/admin/x/"],
)
def test_the_way_back_is_only_to_another_page_of_ours(client, referer):
    client.force_login(staff_create(CATALOG_EDITORS))

    html = client.get("/admin/x/", HTTP_REFERER=referer).content.decode()

    assert 'id="go-back"' not in html
    assert 'href="/admin/"' in html


def test_an_unknown_admin_address_is_a_404_in_the_admins_look(client):
    client.force_login(staff_create(SUPPORT))

    response = client.get("/admin/wallets/nothing-here/")

    assert response.status_code == 404
    html = response.content.decode()
    assert HEADER in html and 'id="user-tools"' in html
    assert "<code>/admin/wallets/nothing-here/</code>" in html
    assert 'href="/admin/"' in html


def test_a_404_outside_the_admin_has_the_look_without_a_menu(client):
    response = client.get("/no-such-page/<script>")

    assert response.status_code == 404
    html = response.content.decode()
    assert HEADER in html
    assert 'id="user-tools"' not in html
    assert "<code>/no-such-page/&lt;script&gt;</code>" in html  # echoed, escaped


def test_the_api_keeps_its_own_error_answers(client):
    response = client.get("/api/v1/no-such-endpoint/")

    assert response.status_code == 404
    assert HEADER not in response.content.decode()


def test_the_admin_has_no_view_site_link_to_a_404(client):
    client.force_login(staff_create(SUPPORT))

    html = client.get("/admin/").content.decode()

    assert "View site" not in html
    assert client.get("/").status_code == 404  # what "View site" used to open


def test_the_favicon_is_a_vendored_static_file_named_by_every_admin_page(client):
    client.force_login(staff_create(SUPPORT))

    html = client.get("/admin/").content.decode()
    redirect = client.get("/favicon.ico")

    assert '<link rel="icon" href="/static/core/favicon.svg"' in html
    assert redirect.status_code == 301
    assert redirect["Location"] == "/static/core/favicon.ico"
    for name in ("core/favicon.svg", "core/favicon.ico"):
        assert finders.find(name), name
    with open(finders.find("core/favicon.ico"), "rb") as icon:
        assert icon.read(4) == b"\x00\x00\x01\x00"  # an ICO file


def test_the_demo_logins_print_the_admin_address_they_are_served_at(capsys, settings):
    settings.DEBUG = True

    call_command("seed_demo", admin_url="http://127.0.0.1:8021/admin/")

    assert "admin at http://127.0.0.1:8021/admin/" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_uses_and_prints_the_port_it_is_given():
    planned = subprocess.run(
        ["make", "-n", "run", "PORT=8021"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert "seed_demo --admin-url http://127.0.0.1:8021/admin/" in planned
    assert "Admin: http://127.0.0.1:8021/admin/" in planned
    assert "runserver 127.0.0.1:8021" in planned
    assert "8000" not in planned
