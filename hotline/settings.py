"""Settings for the 12345 hotline, read from the environment (see README).

One module for development, tests and production; variables switch the
backing services:

- ``DATABASE_URL``      unset: a SQLite file under ``var/``
- ``REDIS_URL``         unset: in-memory channel layer and local-memory cache
- ``ELASTICSEARCH_URL`` unset: the embedded search backend (SQLite FTS5)
- ``TWILIO_*``          unset: telephony off
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from hotline import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.get("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.boolean("DEBUG", False)


def _secret_key() -> str:
    configured = env.get("SECRET_KEY")
    if configured:
        if len(configured) < 32:
            raise ImproperlyConfigured("SECRET_KEY: must be at least 32 characters long")
        return configured
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY: required when DEBUG is off (set SECRET_KEY or SECRET_KEY_FILE)")
    # The demo gets a key generated once and kept, so sessions survive restarts.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        key_file.chmod(0o600)
    return key_file.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.csv("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS: required when DEBUG is off")
CSRF_TRUSTED_ORIGINS = env.csv("CSRF_TRUSTED_ORIGINS", [])
# The public address of this site, used in links sent by SMS.
PUBLIC_BASE_URL = (env.url("PUBLIC_BASE_URL", schemes={"http", "https"}) or "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_fsm",
    "routing",
    "services",
    "services.telephony",
    "services.public",
    "hotline",
    "knowledge",
    "frontend",
]

MIDDLEWARE = [
    "hotline.limits.RequestSizeLimitMiddleware",  # oversize bodies refused before anything parses them
    "hotline.input.MalformedInputMiddleware",  # NUL characters, too many fields: 400 before any view or query
    "django.middleware.security.SecurityMiddleware",
    "hotline.security.SecurityHeadersMiddleware",  # CSP with nonces, Permissions-Policy, no-store when signed in
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "hotline.urls"
WSGI_APPLICATION = "hotline.wsgi.application"
ASGI_APPLICATION = "hotline.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASE_URL = env.url("DATABASE_URL", schemes={"sqlite", "postgres", "postgresql"}) or f"sqlite:///{VAR_DIR / 'hotline.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env.integer("DB_CONN_MAX_AGE", 0, minimum=0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several daphne workers and the outbox worker share one file.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The queue indexes carry INCLUDE columns so PostgreSQL counts a queue from the index alone;
# SQLite (the zero-setup demo) builds the same indexes without them, which is all W040 says.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
AUTH_USER_MODEL = "routing.User"

# --- Redis: channel layer and cache ---------------------------------------
REDIS_URL = env.url("REDIS_URL", schemes={"redis", "rediss", "unix"})
# The channel layer is Redis pub/sub (hotline/channel_layer.py): a group_send is one
# PUBLISH, each process subscribes once per group and fans out in memory. Its receiver
# polls its subscription connection every 0.1 s, so the read timeout only bounds a
# Redis that stopped answering.
CHANNEL_LAYER_SOCKET_TIMEOUT = env.integer("CHANNEL_LAYER_SOCKET_TIMEOUT", 15, minimum=1)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "hotline.channel_layer.FanOutChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT}]},
        }
    }
    CACHES = {
        "default": {
            # Counters and throttles only: a down Redis degrades them, never a page (hotline/cache.py).
            "BACKEND": "hotline.cache.DegradingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "hotline",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Search -----------------------------------------------------------------
ELASTICSEARCH_URL = env.url("ELASTICSEARCH_URL", schemes={"http", "https"})
SEARCH_BACKEND = "elasticsearch" if ELASTICSEARCH_URL else "embedded"
SEARCH_INDEX_PREFIX = env.get("SEARCH_INDEX_PREFIX", "hotline")
EMBEDDED_SEARCH_PATH = VAR_DIR / env.get("EMBEDDED_SEARCH_FILE", "search.sqlite3")
SEARCH_MAX_RESULT_WINDOW = env.integer("SEARCH_MAX_RESULT_WINDOW", 10000, minimum=100)

# --- Twilio -------------------------------------------------------------------
TWILIO_ACCOUNT_SID = env.get("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env.get("TWILIO_AUTH_TOKEN")
TWILIO_PHONE_NUMBER = env.get("TWILIO_PHONE_NUMBER")
_twilio_values = [TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER]
if any(_twilio_values) and not all(_twilio_values):
    raise ImproperlyConfigured("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER: set all three or none")
if TWILIO_ACCOUNT_SID and not (TWILIO_ACCOUNT_SID.startswith("AC") and len(TWILIO_ACCOUNT_SID) == 34):
    raise ImproperlyConfigured("TWILIO_ACCOUNT_SID: expected 'AC' followed by 32 characters")
TELEPHONY_ENABLED = all(_twilio_values)
TWILIO_API_BASE_URL = env.url("TWILIO_API_BASE_URL", schemes={"http", "https"})  # tests only: a local Twilio API
TWILIO_HTTP_TIMEOUT = env.integer("TWILIO_HTTP_TIMEOUT", 10, minimum=1)
TWILIO_API_KEY_SID = env.get("TWILIO_API_KEY_SID")
TWILIO_API_KEY_SECRET = env.get("TWILIO_API_KEY_SECRET")
TWILIO_TWIML_APP_SID = env.get("TWILIO_TWIML_APP_SID")
TWILIO_AGENT_TOKEN_TTL = env.integer("TWILIO_AGENT_TOKEN_TTL", 3600, minimum=60)
# 漏接回拨: a call that ended unanswered is called back within this many minutes (the line runs 7×24,
# so wall-clock minutes, not working days).
MISSED_CALL_CALLBACK_MINUTES = env.integer("MISSED_CALL_CALLBACK_MINUTES", 120, minimum=5)
TWILIO_SAY_VOICE = env.get("TWILIO_SAY_VOICE", "Polly.Zhiyu")
TWILIO_SAY_LANGUAGE = env.get("TWILIO_SAY_LANGUAGE", "cmn-CN")
TWILIO_GATHER_LANGUAGE = env.get("TWILIO_GATHER_LANGUAGE", "cmn-Hans-CN")
HOTLINE_SERVICE_HOURS = env.get("HOTLINE_SERVICE_HOURS", "00:00-24:00")
HOTLINE_QUEUE_NAME = env.get("HOTLINE_QUEUE_NAME", "hotline")
HOTLINE_QUEUE_MAX_WAIT = env.integer("HOTLINE_QUEUE_MAX_WAIT", 120, minimum=1)
HOTLINE_VOICEMAIL_MAX_LENGTH = env.integer("HOTLINE_VOICEMAIL_MAX_LENGTH", 120, minimum=1)
# Webhook signatures are checked always, unless explicitly turned off.
TWILIO_VALIDATE_SIGNATURES = env.boolean("TWILIO_VALIDATE_SIGNATURES", True)
USE_X_FORWARDED_HOST = env.boolean("USE_X_FORWARDED_HOST", False)
if env.boolean("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Accounts and security --------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
LOGIN_FAILURE_LIMIT = env.integer("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_SECONDS = env.integer("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
LOGIN_ADDRESS_LIMIT = env.integer("LOGIN_ADDRESS_LIMIT", 60, minimum=1)  # sign-in attempts per address per lockout window
SECURE_COOKIES = env.boolean("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

# --- Language and time --------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files: from the package registries at setup, never a CDN ---------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "frontend" / "static"]
# frontend.assets.VendorFinder serves the few npm files the pages use (vendor/...).
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "frontend.assets.VendorFinder",
]
NODE_MODULES_DIR = BASE_DIR / "frontend" / "node_modules"
SERVE_STATIC = env.boolean("SERVE_STATIC", True)

# --- API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON without recursion bombs or NUL characters (hotline.input); forms are checked by its middleware.
    "DEFAULT_PARSER_CLASSES": ["hotline.input.JSONParser", "rest_framework.parsers.FormParser", "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_PAGINATION_CLASS": "hotline.pagination.Pages",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "hotline.api_errors.exception_handler",
    # Throttles count REMOTE_ADDR only: daphne has already taken it from the X-Forwarded-For that nginx
    # sets (deploy/nginx.conf); with DRF's default (None) a client-written header would be the identity.
    "NUM_PROXIES": 0,
    # ``?format=`` is the exports' file format (csv, xlsx), not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "12345 Hotline API",
    "DESCRIPTION": "One ticket model for every channel of a city's 12345 hotline.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation documents the API's error shape and the statuses its common layers answer.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "hotline.api_schema.add_error_responses"],
}

OPEN311_JURISDICTION_ID = env.get("OPEN311_JURISDICTION_ID", "shifan.gov.cn")

# --- Hotline policy (defaults from DOMAIN.md; cities override in the admin) ---
OUTBOX_MAX_ATTEMPTS = env.integer("OUTBOX_MAX_ATTEMPTS", 8, minimum=1)
WORKER_POLL_SECONDS = env.integer("WORKER_POLL_SECONDS", 2, minimum=1)
SWEEP_INTERVAL_SECONDS = env.integer("SWEEP_INTERVAL_SECONDS", 60, minimum=5)
KPI_ROLLUP_SECONDS = env.integer("KPI_ROLLUP_SECONDS", 600, minimum=10)  # how often the worker rolls up finished days
RETRAIN_CHECK_SECONDS = env.integer("RETRAIN_CHECK_SECONDS", 3600, minimum=10)  # how often the worker asks whether the classifier should retrain
KNOWLEDGE_STALE_DAYS = env.integer("KNOWLEDGE_STALE_DAYS", 180, minimum=1)
CITIZEN_RETENTION_DAYS = env.integer("CITIZEN_RETENTION_DAYS", 3 * 365, minimum=30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # No phone in a query string, no chat token in a path, in any line (hotline/logs.py).
    "filters": {"redact": {"()": "hotline.logs.RedactFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "stream": sys.stderr, "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "elasticsearch": {"level": "WARNING"},
        "elastic_transport": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "jieba": {"level": "WARNING"},
        "twilio": {"level": "WARNING"},  # it logs request parameters (the citizen's number) at INFO
    },
}
DEADLINE_COUNT_START_DAY = env.boolean("DEADLINE_COUNT_START_DAY", False)
