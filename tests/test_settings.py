"""Settings come from the environment; production refuses to start half-set."""

import json
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
    "TRUSTED_PROXY_COUNT": "1",
}


def manage_env(**env: str) -> dict:
    clean_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PAYMENT_STORE_", "PAYOUT_PROVIDER"))
        and key not in ("DATABASE_URL", "CELERY_BROKER_URL")
    }
    return {**clean_env, **env}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=manage_env(**env),
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


def test_export_files_under_media_are_refused(tmp_path):
    result = manage(
        "check",
        DJANGO_MEDIA_ROOT=str(tmp_path),
        DJANGO_EXPORTS_ROOT=str(tmp_path / "exports"),
    )

    assert result.returncode != 0
    assert result.stderr.strip() == (
        "ImproperlyConfigured: DJANGO_EXPORTS_ROOT must lie outside "
        f"DJANGO_MEDIA_ROOT ({tmp_path}): export files are private."
    )


def test_a_negative_token_cache_time_names_itself():
    result = manage("check", TOKEN_CACHE_SECONDS="-1")

    assert result.returncode != 0
    assert result.stderr.strip() == (
        "ImproperlyConfigured: TOKEN_CACHE_SECONDS must be 0 or more (got -1)."
    )


def test_an_unknown_ledger_posting_names_itself():
    result = manage("check", LEDGER_POSTING="sql")

    assert result.returncode != 0
    assert result.stderr.strip() == (
        "ImproperlyConfigured: LEDGER_POSTING must be database or python (got 'sql')."
    )


def test_old_secret_keys_are_read_for_a_rotation_but_never_the_current_one():
    shown = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY_FALLBACKS)",
        **PRODUCTION,
        **LIVE_ADAPTERS,
        DJANGO_SECRET_KEY_FALLBACKS=" old-key-one, old-key-two ,",
    )
    current = manage(
        "check",
        **PRODUCTION,
        DJANGO_SECRET_KEY_FALLBACKS=f"old-key,{PRODUCTION['DJANGO_SECRET_KEY']}",
    )

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().endswith("['old-key-one', 'old-key-two']")
    assert current.returncode != 0
    assert current.stderr.strip() == (
        "ImproperlyConfigured: DJANGO_SECRET_KEY_FALLBACKS must hold the old keys, "
        "not the current one."
    )


def test_transaction_pooling_keeps_no_session_state_between_transactions():
    shown = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DATABASE_PREPARED_STATEMENTS,"
        " settings.DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'])",
        DATABASE_TRANSACTION_POOLING="1",
    )
    both = manage(
        "check", DATABASE_TRANSACTION_POOLING="1", DATABASE_PREPARED_STATEMENTS="1"
    )

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().endswith("False True")
    assert both.returncode != 0
    assert both.stderr.strip().startswith(
        "ImproperlyConfigured: DATABASE_PREPARED_STATEMENTS=1 cannot work with "
        "DATABASE_TRANSACTION_POOLING=1"
    )


def test_an_unknown_display_locale_names_itself():
    result = manage("check", DISPLAY_LOCALE="xx_NOWHERE")

    assert result.returncode != 0
    assert result.stderr.strip() == (
        "ImproperlyConfigured: DISPLAY_LOCALE must be a CLDR locale such as en, "
        "en_GB or de_DE (got 'xx_NOWHERE')."
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "LOG_LEVEL",
            "loud",
            "LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL (got 'LOUD').",
        ),
        (
            "LOG_FORMAT",
            "xml",
            "LOG_FORMAT must be one of json, keyvalue, console (got 'xml').",
        ),
        (
            "SENTRY_TRACES_SAMPLE_RATE",
            "2",
            "SENTRY_TRACES_SAMPLE_RATE must be between 0 and 1 (got 2.0).",
        ),
        (
            "TRUSTED_PROXY_COUNT",
            "-1",
            "TRUSTED_PROXY_COUNT must be 0 or more (got -1).",
        ),
        (
            "METRICS_TOKEN",
            "short",
            "METRICS_TOKEN must be at least 24 characters (got 5).",
        ),
        (
            "METRICS_ALLOWED_NETWORKS",
            "10.0.0.0/8,intranet",
            "METRICS_ALLOWED_NETWORKS must list addresses or networks such as "
            "10.0.0.0/8 ('intranet' does not appear to be an IPv4 or IPv6 network).",
        ),
    ],
)
def test_a_bad_logging_or_error_report_variable_names_itself(variable, value, message):
    result = manage("check", **{variable: value})

    assert result.returncode != 0
    assert result.stderr.strip() == f"ImproperlyConfigured: {message}"


def test_logs_go_to_stderr_as_json_lines_and_leave_a_commands_output_alone():
    result = manage("check", LOG_FORMAT="json")

    assert result.returncode == 0
    assert result.stdout == "System check identified no issues (0 silenced).\n"
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines and all({"event", "level", "timestamp"} <= set(line) for line in lines)


class LiveStore:
    """Stands for a real store's adapter: not a sandbox."""

    def __init__(self, name):
        self.name = name


class LiveProvider:
    """Stands for a real payout provider's adapter: not a sandbox."""


LIVE_ADAPTERS = {
    "PAYMENT_STORE_APPLE": "tests.test_settings.LiveStore",
    "PAYMENT_STORE_GOOGLE": "tests.test_settings.LiveStore",
    "PAYMENT_STORE_WEB": "tests.test_settings.LiveStore",
    "PAYOUT_PROVIDER": "tests.test_settings.LiveProvider",
}
STAGING_SECRETS = {
    "PAYMENT_STORE_SANDBOX_SECRET": "s" * 24 + "-store-secret",
    "PAYOUT_PROVIDER_SANDBOX_SECRET": "p" * 24 + "-payout-secret",
}


def test_check_deploy_reports_nothing_in_production_mode():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, **LIVE_ADAPTERS
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_every_client_would_have_the_proxys_address():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **{**PRODUCTION, "TRUSTED_PROXY_COUNT": "0"},
        **LIVE_ADAPTERS,
    )

    assert result.returncode != 0
    assert "(core.W001) TRUSTED_PROXY_COUNT is 0" in result.stderr


def test_production_mode_with_the_readmes_variables_refuses_the_sandbox():
    # The README's deploy steps, adapters left at their defaults: anyone could sign
    # a receipt with the published secret, so nothing starts.
    for command in (["check", "--deploy", "--fail-level", "WARNING"], ["migrate"]):
        result = manage(*command, **PRODUCTION)

        assert result.returncode != 0
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert result.stderr.startswith(
            "ImproperlyConfigured: PAYMENT_STORE_APPLE is a sandbox adapter "
            "(wallets.stores.SandboxStore), which production mode (DJANGO_DEBUG=0) "
            "refuses"
        ), result.stderr
        assert "DJANGO_ALLOW_SANDBOX=1" in result.stderr


def test_the_web_process_refuses_to_start_with_a_sandbox():
    clean_env = manage_env(**PRODUCTION)
    result = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=ROOT,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert result.stderr.strip().startswith(
        "ImproperlyConfigured: PAYMENT_STORE_APPLE is a sandbox adapter"
    ), result.stderr


def test_the_staging_switch_still_needs_every_secret():
    result = manage("check", **PRODUCTION, DJANGO_ALLOW_SANDBOX="1")

    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith(
        "ImproperlyConfigured: PAYMENT_STORE_SANDBOX_SECRET must be set"
    )


def test_staging_with_the_switch_and_every_secret_starts():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PRODUCTION,
        DJANGO_ALLOW_SANDBOX="1",
        **STAGING_SECRETS,
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_reports_a_sandbox_as_an_error():
    # In debug mode nothing refuses to start, but the deploy check says why this
    # configuration could not be deployed.
    result = manage("check", "--deploy")

    assert result.returncode != 0
    assert "(core.E001) PAYMENT_STORE_APPLE is a sandbox adapter" in result.stderr
    assert "(core.E001) PAYOUT_PROVIDER is a sandbox adapter" in result.stderr


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


def test_an_alert_webhook_that_is_not_http_is_a_one_line_error():
    result = manage("check", ALERT_WEBHOOK_URL="ftp://hooks.example.com/alerts")

    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "ALERT_WEBHOOK_URL must be an http(s) URL." in result.stderr
