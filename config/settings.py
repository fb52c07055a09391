"""Settings for the gift economy back-office, read from the environment.

With nothing set this is the embedded default: DEBUG on, a SQLite file, Celery tasks
run eagerly in-process. `DJANGO_DEBUG=0` is production mode, where the secret key and
allowed hosts must come from the environment. See the README for every variable.
"""

import datetime
import ipaddress
import logging
import os
from pathlib import Path

import dj_database_url
from babel import Locale, UnknownLocaleError
from django.core.exceptions import ImproperlyConfigured
from import_export.formats import base_formats

from config.logs import LOG_FORMATS, logging_config
from core.error_reports import error_reports_init

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0 (got {raw!r}).")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a whole number (got {raw!r})."
        ) from None


def env_float(name: str, default: float | None) -> float | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number (got {raw!r}).") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)

if DEBUG:
    SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "insecure-local-development-key"
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
else:
    SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
    if not SECRET_KEY:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG=0.")
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG=0 "
            "(comma-separated host names)."
        )

# Rotating the key: the new one in DJANGO_SECRET_KEY, the old ones here until the
# sessions and reset links they signed have expired (docs/operations.md).
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", [])
if SECRET_KEY in SECRET_KEY_FALLBACKS:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY_FALLBACKS must hold the old keys, not the current one."
    )

CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # First: its admin/change_form.html adds an "Audit trail" link to every audited
    # model's page, and extends Django's own.
    "audit",
    # Next: refuses production mode with a sandbox adapter (core/production.py)
    # before any other app starts.
    "core",
    # Before the admin, as it asks: translated gift fields (catalog/translation.py).
    "modeltranslation",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "djmoney",
    "djmoney.contrib.exchange",
    "import_export",
    "simple_history",
    "django_celery_beat",
    "django_structlog",
    "axes",
    "accounts",
    "catalog",
    "wallets",
    "gifting",
    "payouts",
    "subscriptions",
    "reports",
]

MIDDLEWARE = [
    # First: probes answer before host checks and the HTTPS redirect (core/health.py).
    "core.health.HealthMiddleware",
    # Then the metrics: every other answer counted and timed; /metrics answered
    # here, before host checks, unlogged (core/metrics.py).
    "core.metrics.MetricsMiddleware",
    # Next: every other answer is logged with its request id, and carries it.
    "core.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before axes: its lock-out answer is an API answer too.
    "core.middleware.PrivateApiAnswersMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The request's user (or, for the API, the token's) is the actor of its changes.
    "audit.context.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it answers a locked-out login itself.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (admin and the API token): locked after repeated failures for one
# username from one address, or from one address across usernames, until the
# cool-off passes or staff unlock it (accounts/lockout.py).
# Proxies in front of the web processes that append to X-Forwarded-For (the TLS
# proxy: 1); 0 believes only the connection's own address (core/network.py).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(
        f"TRUSTED_PROXY_COUNT must be 0 or more (got {TRUSTED_PROXY_COUNT})."
    )
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_ADDRESS_FAILURE_LIMIT = env_int("AXES_ADDRESS_FAILURE_LIMIT", 20)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The client's address behind the proxies (core/network.py), for the lock-out and
# the logs alike.
AXES_CLIENT_IP_CALLABLE = "core.network.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "accounts.lockout.LoginLockoutHandler"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0 if DEBUG else 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers on the embedded default wait their turn instead of failing
    # with "database is locked": every transaction takes the write lock at BEGIN
    # (a deferred one that read first cannot wait for it), waits up to 20 s for it,
    # and WAL lets reads go on beside the one writer (docs/decisions.md).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL",
        **DATABASES["default"].get("OPTIONS", {}),
    }
# Behind PgBouncer in transaction mode (docs/operations.md) a session's state does
# not follow it from one transaction to the next: no prepared statements, and no
# server-side cursor outliving its transaction (Django's .iterator()).
DATABASE_TRANSACTION_POOLING = env_bool("DATABASE_TRANSACTION_POOLING", False)
if DATABASE_TRANSACTION_POOLING:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# PostgreSQL: the hot paths' fixed statements are prepared once per connection
# (core/prepared.py); off behind a pooler in transaction mode.
DATABASE_PREPARED_STATEMENTS = env_bool(
    "DATABASE_PREPARED_STATEMENTS", not DATABASE_TRANSACTION_POOLING
)
if DATABASE_TRANSACTION_POOLING and DATABASE_PREPARED_STATEMENTS:
    raise ImproperlyConfigured(
        "DATABASE_PREPARED_STATEMENTS=1 cannot work with "
        "DATABASE_TRANSACTION_POOLING=1: a statement prepared in one session is "
        "unknown to the next."
    )
# PostgreSQL: the ledger posts through its `ledger_post` function ("database"), or
# through the ORM ("python", the reference the tests compare it with).
LEDGER_POSTING = os.environ.get("LEDGER_POSTING", "database")
if LEDGER_POSTING not in ("database", "python"):
    raise ImproperlyConfigured(
        f"LEDGER_POSTING must be database or python (got {LEDGER_POSTING!r})."
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# How staff screens write numbers and money (core/display.py): a CLDR locale.
DISPLAY_LOCALE = os.environ.get("DISPLAY_LOCALE") or "en"
try:
    Locale.parse(DISPLAY_LOCALE)
except (ValueError, UnknownLocaleError):
    raise ImproperlyConfigured(
        f"DISPLAY_LOCALE must be a CLDR locale such as en, en_GB or de_DE "
        f"(got {DISPLAY_LOCALE!r})."
    ) from None
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "media"))
# Finance's export files (the books, the journal): never under MEDIA_ROOT, never
# served by URL; shared by web and workers (a volume) where they run apart.
EXPORTS_ROOT = Path(os.environ.get("DJANGO_EXPORTS_ROOT", BASE_DIR / "var" / "exports"))
if EXPORTS_ROOT.resolve().is_relative_to(MEDIA_ROOT.resolve()):
    raise ImproperlyConfigured(
        f"DJANGO_EXPORTS_ROOT must lie outside DJANGO_MEDIA_ROOT ({MEDIA_ROOT}): "
        "export files are private."
    )
# Export files are deleted this many days after they were made (the record stays).
EXPORTS_KEEP_DAYS = env_int("EXPORTS_KEEP_DAYS", 30)
if EXPORTS_KEEP_DAYS < 1:
    raise ImproperlyConfigured(
        f"EXPORTS_KEEP_DAYS must be 1 or more (got {EXPORTS_KEEP_DAYS})."
    )
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Decided here, not from the runtime DEBUG that test runners flip.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
# Uploaded artwork is small; anything bigger than this is a mistake, not a gift icon.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# One line per event on stderr (config/logs.py): JSON in production, readable in
# debug; each with the request id (answered as X-Request-ID) and the user.
LOG_LEVEL = (os.environ.get("LOG_LEVEL") or "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL "
        f"(got {LOG_LEVEL!r})."
    )
LOG_FORMAT = os.environ.get("LOG_FORMAT") or ("console" if DEBUG else "json")
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(
        f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)} (got {LOG_FORMAT!r})."
    )
LOGGING = logging_config(level=LOG_LEVEL, log_format=LOG_FORMAT)
# A proxy's X-Request-ID is kept when sane (core.middleware.RequestLogMiddleware).
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
# One line per request, when it is answered; its start only at DEBUG.
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = logging.DEBUG
# The request id and user go with the tasks a request queues, into their lines.
DJANGO_STRUCTLOG_CELERY_ENABLED = True
# The `ip` of a request's lines is core.network.client_ip's (RequestLogMiddleware),
# not ipware's guess, which believes the left of X-Forwarded-For (and costs ~60 µs).
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False

# Error reports to Sentry or a compatible service, off unless SENTRY_DSN is set;
# personal data scrubbed (core/error_reports.py).
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = os.environ.get("SENTRY_ENVIRONMENT") or (
    "development" if DEBUG else "production"
)
SENTRY_TRACES_SAMPLE_RATE = env_float("SENTRY_TRACES_SAMPLE_RATE", None)
if SENTRY_TRACES_SAMPLE_RATE is not None and not 0 <= SENTRY_TRACES_SAMPLE_RATE <= 1:
    raise ImproperlyConfigured(
        f"SENTRY_TRACES_SAMPLE_RATE must be between 0 and 1 "
        f"(got {SENTRY_TRACES_SAMPLE_RATE})."
    )
error_reports_init(
    dsn=SENTRY_DSN,
    environment=SENTRY_ENVIRONMENT,
    traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
)

# Prometheus metrics at /metrics (core/metrics.py), closed to the public: a scrape
# needs the bearer token or an address in one of the networks; neither set, none.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_TOKEN_MIN_LENGTH = 24
if METRICS_TOKEN and len(METRICS_TOKEN) < METRICS_TOKEN_MIN_LENGTH:
    raise ImproperlyConfigured(
        f"METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} characters "
        f"(got {len(METRICS_TOKEN)})."
    )
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(network, strict=False)
        for network in env_list("METRICS_ALLOWED_NETWORKS", [])
    ]
except ValueError as error:
    raise ImproperlyConfigured(
        f"METRICS_ALLOWED_NETWORKS must list addresses or networks such as "
        f"10.0.0.0/8 ({error})."
    ) from None
# A Celery worker's own /metrics, when a port is set (one port per worker host).
METRICS_WORKER_PORT = env_int("METRICS_WORKER_PORT", 0)
METRICS_WORKER_ADDRESS = os.environ.get("METRICS_WORKER_ADDRESS") or "0.0.0.0"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's, with the lookup kept per process for TOKEN_CACHE_SECONDS.
        "accounts.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Per user, on the requests that move money (core.api.throttles).
    "DEFAULT_THROTTLE_RATES": {
        "purchases": os.environ.get("THROTTLE_PURCHASES", "30/minute"),
        "gift_sends": os.environ.get("THROTTLE_GIFT_SENDS", "600/minute"),
        "payouts": os.environ.get("THROTTLE_PAYOUTS", "10/minute"),
        "refund_requests": os.environ.get("THROTTLE_REFUND_REQUESTS", "10/minute"),
        "subscriptions": os.environ.get("THROTTLE_SUBSCRIPTIONS", "30/minute"),
        # Leaderboard reads (anyone may read): per address, and per signed-in user.
        "leaderboards_anon": os.environ.get("THROTTLE_LEADERBOARDS_ANON", "60/minute"),
        "leaderboards": os.environ.get("THROTTLE_LEADERBOARDS", "120/minute"),
    },
}

# Throttle counters must be shared by every web process: Redis in production.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if not os.environ.get("CACHE_URL")
    else {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["CACHE_URL"],
    }
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Gift economy API",
    "DESCRIPTION": (
        "The client app's API: the gift catalog, coin bundles, wallets, purchases, "
        "gift sending, leaderboards and payouts. Authenticate with "
        "`Authorization: Token <key>` from `POST /api/v1/auth/token/`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Where a gift may go (live/comment/both) and where one was sent (live/comment).
    "ENUM_NAME_OVERRIDES": {
        "GiftPlacementEnum": "catalog.models.Gift.Placement",
        "SendPlacementEnum": "gifting.models.GiftSend.Placement",
    },
}

# Production trusts no sandbox (core/production.py): with DJANGO_DEBUG=0 a sandbox
# store or provider needs this staging switch and every sandbox secret given; the
# development secrets below exist only in debug mode. Decided here, not from the
# runtime DEBUG that test runners flip.
PRODUCTION_MODE = not DEBUG
ALLOW_SANDBOX = env_bool("DJANGO_ALLOW_SANDBOX", False)

# Payment stores: an adapter class per store (see wallets/stores.py).
PAYMENT_STORES = {
    store: os.environ.get(
        f"PAYMENT_STORE_{store.upper()}", "wallets.stores.SandboxStore"
    )
    for store in ("apple", "google", "web")
}
PAYMENT_STORE_SANDBOX_SECRET = os.environ.get("PAYMENT_STORE_SANDBOX_SECRET") or (
    "sandbox-notification-secret" if DEBUG else ""
)
# A gift's diamonds are held this many days when no rule of finance's (gifting's
# EarningsHold) was in force when it was sent (docs/holds.md).
EARNINGS_HOLD_DAYS = 7

CURRENCIES = ("USD", "GBP", "EUR", "JPY", "KRW", "BRL", "INR", "IDR", "MXN", "TRY")

# The catalog's files: the first format is the one its import and export forms
# start on (CSV, which the large import reads too).
IMPORT_EXPORT_FORMATS = [base_formats.CSV, base_formats.XLSX]
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
# The preview and the confirm step may reach different web processes: keep the
# uploaded file in shared storage, not one machine's /tmp.
IMPORT_EXPORT_TMP_STORAGE_CLASS = "import_export.tmp_storages.MediaStorage"

# Celery: with no broker, tasks run eagerly in the calling process so one machine
# needs nothing else; set CELERY_BROKER_URL (Redis or RabbitMQ) for real workers.
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CELERY_BROKER_URL")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A running task whose broker connection is lost can no longer be acknowledged and
# will be delivered again: cancel it rather than finish it twice (Celery 6's default).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# How long a broker keeps a task a dead worker took before giving it to another.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
}

# Exchange rates and regional bundle prices (catalog). By default the rates are the
# ones staff keep in the admin; for an online service set EXCHANGE_BACKEND to e.g.
# djmoney.contrib.exchange.backends.OpenExchangeRatesBackend and its key below.
EXCHANGE_BACKEND = (
    os.environ.get("EXCHANGE_BACKEND") or "catalog.exchange.StaffRatesBackend"
)
OPEN_EXCHANGE_RATES_APP_ID = os.environ.get("OPEN_EXCHANGE_RATES_APP_ID") or None
if "OpenExchangeRates" in EXCHANGE_BACKEND and not OPEN_EXCHANGE_RATES_APP_ID:
    raise ImproperlyConfigured(
        "OPEN_EXCHANGE_RATES_APP_ID must be set when EXCHANGE_BACKEND is "
        "OpenExchangeRatesBackend."
    )
BASE_CURRENCY = "USD"
# Derivation must see a rate as soon as staff save it, not ten minutes later.
RATES_CACHE_TIMEOUT = 0

# The public catalog answers from each web process's memory for up to this long
# (catalog/api/conditional.py); a change shows in every process within it.
CATALOG_CACHE_SECONDS = env_int("CATALOG_CACHE_SECONDS", 5)

# Gift names and descriptions per language (docs/gifts.md, "Languages"): a column
# per language on the gift; the API serves the client's `Accept-Language`, English
# where a translation is empty. Adding a language is a migration (new columns).
LANGUAGES = [
    ("en", "English"),
    ("de", "German"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("pt-br", "Portuguese (Brazil)"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("zh-hans", "Simplified Chinese"),
    ("id", "Indonesian"),
    ("ar", "Arabic"),
]
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)

# Each web process keeps a token's lookup (the token and its user) for up to this
# long (accounts/authentication.py): a revoked token or a deactivated user is refused
# by every process within it, at once by the one that made the change; 0 turns it off.
TOKEN_CACHE_SECONDS = env_int("TOKEN_CACHE_SECONDS", 30)
if TOKEN_CACHE_SECONDS < 0:
    raise ImproperlyConfigured(
        f"TOKEN_CACHE_SECONDS must be 0 or more (got {TOKEN_CACHE_SECONDS})."
    )
# Tokens kept per process, at most: the oldest are forgotten first.
TOKEN_CACHE_MAX_ENTRIES = 10_000

# The payout provider adapter (see payouts/providers.py) and the sandbox's signing key.
PAYOUT_PROVIDER = os.environ.get(
    "PAYOUT_PROVIDER", "payouts.providers.SandboxPayoutProvider"
)
PAYOUT_PROVIDER_SANDBOX_SECRET = os.environ.get("PAYOUT_PROVIDER_SANDBOX_SECRET") or (
    "sandbox-payout-secret" if DEBUG else ""
)
PAYOUT_BATCH_SIZE = env_int("PAYOUT_BATCH_SIZE", 50)
SUBSCRIPTION_RENEWAL_BATCH = env_int("SUBSCRIPTION_RENEWAL_BATCH", 200)
# A due subscription queued for renewal is not queued again by the beat (every
# minute) for this long, so a backlog is queued once; a lost batch is retried after.
_REQUEUE_MINUTES = env_int("SUBSCRIPTION_RENEWAL_REQUEUE_AFTER_MINUTES", 10)
if _REQUEUE_MINUTES < 1:
    raise ImproperlyConfigured(
        "SUBSCRIPTION_RENEWAL_REQUEUE_AFTER_MINUTES must be 1 or more "
        f"(got {_REQUEUE_MINUTES})."
    )
SUBSCRIPTION_RENEWAL_REQUEUE_AFTER = datetime.timedelta(minutes=_REQUEUE_MINUTES)
# A payout processing for longer than this is handed to the provider again.
PAYOUT_STUCK_AFTER_SECONDS = env_int("PAYOUT_STUCK_AFTER_SECONDS", 600)
# Milliseconds the sandbox takes per payout, so tests can kill a worker mid-batch.
PAYOUT_SANDBOX_MS_PER_ITEM = env_int("PAYOUT_SANDBOX_MS_PER_ITEM", 0)

# E-mail, for alerts (Django's mail settings). In debug mode with no EMAIL_HOST the
# messages are printed by whichever process sends them (beat, without a broker).
EMAIL_HOST = os.environ.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG and not os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.smtp.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or "giftshop@localhost"
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Alerts (reports/conditions.py): who is told, and when a condition is an incident.
ALERT_EMAILS = env_list("ALERT_EMAILS", [])
ALERT_WEBHOOK_URL = os.environ.get("ALERT_WEBHOOK_URL", "")
if ALERT_WEBHOOK_URL and not ALERT_WEBHOOK_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured("ALERT_WEBHOOK_URL must be an http(s) URL.")
ALERT_WEBHOOK_TIMEOUT_SECONDS = env_int("ALERT_WEBHOOK_TIMEOUT_SECONDS", 5)
# Where the admin is, for the link in each alert.
ALERT_ADMIN_BASE_URL = os.environ.get("ALERT_ADMIN_BASE_URL") or (
    f"https://{ALLOWED_HOSTS[0].lstrip('.')}" if not DEBUG else "http://127.0.0.1:8000"
)
ALERT_SUBJECT_PREFIX = os.environ.get("ALERT_SUBJECT_PREFIX") or "giftshop"
# A payout still processing after this long is an incident (dispatch sends it
# again after PAYOUT_STUCK_AFTER_SECONDS; this is for the ones that stay).
PAYOUT_STUCK_MINUTES = env_int("PAYOUT_STUCK_MINUTES", 30)
# More than COUNT provider time-outs within MINUTES is an incident.
PROVIDER_TIMEOUT_STORM_COUNT = env_int("PROVIDER_TIMEOUT_STORM_COUNT", 5)
PROVIDER_TIMEOUT_STORM_MINUTES = env_int("PROVIDER_TIMEOUT_STORM_MINUTES", 10)
