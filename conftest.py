import os

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from accounts.models import User
from accounts.roles import CATALOG_EDITORS, FINANCE, SUPPORT


@pytest.fixture(scope="session", autouse=True)
def _pgbouncer_lets_the_test_database_go(request):
    """Behind PgBouncer (CI's PostgreSQL run) the pooler keeps server connections
    to the test database, and dropping it at the end would fail: before it is
    dropped, PgBouncer's admin console (PGBOUNCER_ADMIN_URL) closes them."""
    admin_url = os.environ.get("PGBOUNCER_ADMIN_URL")
    if not admin_url:
        yield
        return
    request.getfixturevalue("django_db_setup")
    from django.db import connection

    name = connection.settings_dict["NAME"]
    yield
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'KILL "{name}"')
        admin.execute(f'RESUME "{name}"')


@pytest.fixture(autouse=True)
def _fast_hashing_and_private_media(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _no_earnings_hold(settings):
    """Most tests pay out what a gift just earned; the hold's own tests
    (payouts/tests/test_holds.py) turn it on."""
    settings.EARNINGS_HOLD_DAYS = 0


@pytest.fixture(autouse=True)
def _no_rate_limits(monkeypatch):
    """Tests fire requests far faster than people; the throttle tests set their own."""
    from django.core.cache import cache

    from core.api.throttles import LEADERBOARD_THROTTLES, MoneyMovingThrottle

    cache.clear()
    for throttle in LEADERBOARD_THROTTLES:
        monkeypatch.setattr(throttle, "THROTTLE_RATES", {throttle.scope: None})
    monkeypatch.setattr(
        MoneyMovingThrottle,
        "THROTTLE_RATES",
        {
            "purchases": None,
            "gift_sends": None,
            "payouts": None,
            "refund_requests": None,
            "subscriptions": None,
        },
    )


@pytest.fixture(autouse=True)
def _fresh_catalog_answers():
    """A test's database rolls back without signals: forget the kept answers."""
    from catalog.api.conditional import answers

    answers.clear()


@pytest.fixture(autouse=True)
def _fresh_token_lookups():
    """Likewise the token lookups each process keeps (accounts/authentication.py)."""
    from accounts.authentication import tokens

    tokens.clear()


def _staff(username: str, role: str) -> User:
    user = User.objects.create_user(username=username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def catalog_editor(db):
    return _staff("cat-editor", CATALOG_EDITORS)


@pytest.fixture
def finance_user(db):
    return _staff("fin", FINANCE)


@pytest.fixture
def support_user(db):
    return _staff("sup", SUPPORT)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def eager_celery():
    """Run tasks in-process for this test, also where a real broker is configured."""
    from config.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved
