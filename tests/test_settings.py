"""Settings come from the environment; production refuses to start half-set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k3v-9tq!x0s2m#f7d1w8z6r4b5n-yp2c8h1j0l7g3a9e6u5i4o",
    "DJANGO_ALLOWED_HOSTS": "gifts.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DJANGO_")
        and key not in ("DATABASE_URL", "CELERY_BROKER_URL")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean_env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG=0."),
        (
            "DJANGO_ALLOWED_HOSTS",
            "DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG=0",
        ),
    ],
)
def test_production_mode_without_a_required_variable_is_a_one_line_error(
    missing, message
):
    env = {key: value for key, value in PRODUCTION.items() if key != missing}

    result = manage("check", **env)

    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert message in result.stderr


def test_a_malformed_variable_names_itself():
    result = manage("check", DJANGO_DEBUG="maybe")

    assert result.returncode != 0
    assert result.stderr.strip() == (
        "ImproperlyConfigured: DJANGO_DEBUG must be 1 or 0 (got 'maybe')."
    )


def test_check_deploy_reports_nothing_in_production_mode():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def settings_value(expression: str, **env: str) -> str:
    result = manage(
        "shell", "-c", f"from django.conf import settings; print({expression})", **env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_embedded_default_is_sqlite_with_eager_tasks():
    assert settings_value("settings.DATABASES['default']['ENGINE']") == (
        "django.db.backends.sqlite3"
    )
    assert settings_value("settings.CELERY_TASK_ALWAYS_EAGER") == "True"


def test_urls_switch_to_postgresql_and_a_real_broker():
    env = {
        "DATABASE_URL": "postgres://app@db.internal:5432/gifts",
        "CELERY_BROKER_URL": "redis://broker.internal:6379/0",
    }
    assert settings_value("settings.DATABASES['default']['ENGINE']", **env) == (
        "django.db.backends.postgresql"
    )
    assert settings_value("settings.CELERY_TASK_ALWAYS_EAGER", **env) == "False"


def test_sqlite_writers_queue_for_the_lock_and_postgresql_is_left_alone():
    options = "settings.DATABASES['default']['OPTIONS']"
    assert settings_value(options) == (
        "{'transaction_mode': 'IMMEDIATE', 'timeout': 20, "
        "'init_command': 'PRAGMA journal_mode=WAL'}"
    )
    postgresql = {"DATABASE_URL": "postgres://app@db.internal:5432/gifts"}
    assert settings_value(options, **postgresql) == "{}"
