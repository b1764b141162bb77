"""Settings for YouLab v2, driven by environment variables (see README "Configuration")."""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-dev-only-key-never-use-in-production"

# Development defaults to the loopback names; with DEBUG off there is no default (`make serve`
# refuses to start without it, and Django answers 400 to every Host it does not list).
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_mysql",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    # Listed after django_mysql: its ready() drops the check Dolt cannot answer.
    "youlab.apps.YoulabConfig",
    # The apps (their floors: README "How the code is laid out"; tests/test_architecture.py).
    "blocks",
    "learners",
    "diffs",
    "chats",
    "staff",
    "callbacks",
    "importing",
]

MIDDLEWARE = [
    # /healthz and /readyz answer before anything else: probes come over plain HTTP from the
    # load balancer, by IP, and must not be redirected to HTTPS or refused for their Host.
    "youlab.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from the app itself (compressed, content-hashed names), before sessions etc.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Marks agent API and admin GETs whose reads may go to a standby (DATABASE_REPLICA_URLS).
    "youlab.routing.ReplicaReadsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Django's own (`check --deploy` looks for these very names).
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's auth and messages middleware, which an agent's API request (an API key, no
    # session) passes straight through (youlab.api.middleware).
    "youlab.api.middleware.AuthenticationMiddleware",
    "youlab.api.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "youlab.urls"

# A request body's bound (413 `request_too_large` beyond). One text argument may hold 1,000,000
# characters (diffs.api.serializers.MAX_TEXT_LENGTH), and a client's JSON encoder may escape each
# one: `\u5b66` is 6 bytes, an astral character's surrogate pair 12, a form field's %-escapes 9.
# So the body may hold one text at its limit however it is escaped, plus the envelope.
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1_000_000 + 512 * 1024

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

WSGI_APPLICATION = "youlab.wsgi.application"
ASGI_APPLICATION = "youlab.asgi.application"

# --- Database: Dolt over its MySQL protocol --------------------------------------------------
# Default: the local dolt sql-server that scripts/dolt.sh starts (see its defaults).
DOLT_HOST = os.environ.get("DOLT_HOST", "127.0.0.1")
DOLT_PORT = int(os.environ.get("DOLT_PORT", "3307"))
DEV_APP_PASSWORD = "youlab-dev-password"  # scripts/dolt.sh's development default


def _default_database_url() -> str:
    password = os.environ.get("DOLT_APP_PASSWORD")
    if not password:
        if not DEBUG:
            # Never fall back to the development password in production.
            raise ImproperlyConfigured(
                "Set DATABASE_URL (or DOLT_APP_PASSWORD for the local Dolt server) when DJANGO_DEBUG is off."
            )
        password = DEV_APP_PASSWORD
    return f"mysql://youlab:{password}@{DOLT_HOST}:{DOLT_PORT}/{os.environ.get('DOLT_DATABASE', 'youlab')}"


DATABASE_URL = os.environ.get("DATABASE_URL") or _default_database_url()


def _database(url: str) -> dict:
    db = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    # mysqlclient, with the health check done by each request's first statement instead of a
    # ping before it (youlab/database/base.py).
    db["ENGINE"] = "youlab.database"
    if db.get("HOST") == "localhost":
        # mysqlclient reads "localhost" as the unix socket; Dolt is reached over TCP.
        db["HOST"] = "127.0.0.1"
    db["OPTIONS"] = {
        "charset": "utf8mb4",
        # Dolt only implements REPEATABLE READ; say so instead of pretending READ COMMITTED.
        "isolation_level": "repeatable read",
        "connect_timeout": int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5")),
    }
    db["TEST"] = {
        "CHARSET": "utf8mb4",
        # Dolt's default collation is utf8mb4_0900_bin, which makes icontains case-sensitive.
        "COLLATION": "utf8mb4_0900_ai_ci",
    }
    return db


DATABASES = {"default": _database(DATABASE_URL)}

# Standbys of a Dolt cluster (docs/deploy.md): comma separated URLs. Agent API and admin GETs read
# from one of them; writes, reads inside a transaction and every read after a write in the same
# request go to the primary (youlab.routing). Empty: everything goes to DATABASE_URL.
DATABASE_REPLICA_URLS = [u.strip() for u in os.environ.get("DATABASE_REPLICA_URLS", "").split(",") if u.strip()]
for _n, _url in enumerate(DATABASE_REPLICA_URLS, start=1):
    _replica = _database(_url)
    _replica["TEST"]["MIRROR"] = "default"
    DATABASES[f"replica_{_n}"] = _replica
DATABASE_ROUTERS = ["youlab.routing.PrimaryReplicaRouter"] if DATABASE_REPLICA_URLS else []

# --- Cache: one Redis for every app server (CACHE_URL), else this process's memory -------------
# It holds the API rate limits (DRF throttles) and the verified-key cache (youlab.api.auth), and
# with Redis the sessions' read cache. Without CACHE_URL each process keeps its own (development).
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "youlab.cache.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "youlab"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    # Sessions stay in the database (they survive a Redis restart); reads come from the cache.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
# `make serve` runs collectstatic: gzip/brotli copies and content-hashed names (cache-busting),
# served by WhiteNoise with far-future cache headers. Development serves the sources directly.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage",
    },
}

# --- HTTPS behind a TLS-terminating proxy (DJANGO_HTTPS=1) -----------------------------------
# The proxy must set X-Forwarded-Proto (and strip any the client sent).
HTTPS = env_bool("DJANGO_HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

LOGIN_URL = "admin:login"

# --- Secrets at rest --------------------------------------------------------------------------
# Comma separated Fernet keys, newest first. Never derived from SECRET_KEY.
YOULAB_FERNET_KEYS = [
    k.strip() for k in os.environ.get("YOULAB_FERNET_KEYS", "").split(",") if k.strip()
]

# --- History ------------------------------------------------------------------------------------
SIMPLE_HISTORY_REVERT_DISABLED = True  # reverts go through blocks.services, never the raw admin view

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "youlab.api.openapi.YoulabAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "youlab.api.auth.AgentKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["youlab.api.permissions.RouteAccess"],
    "DEFAULT_THROTTLE_CLASSES": ["youlab.api.auth.AgentKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"agent": os.environ.get("YOULAB_AGENT_RATE", "1200/minute")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "youlab.api.negotiation.JSONNegotiation",
    "DEFAULT_PARSER_CLASSES": ["youlab.api.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "youlab.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "youlab.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}

# Seconds a verified agent API key is remembered in the cache (youlab.api.auth); 0 = check the
# database on every request; capped at 60. Revoking a key clears it from the cache at once: on
# every app server with CACHE_URL, else only in the revoking process (others within this time).
API_KEY_CACHE_MAX_SECONDS = 60
YOULAB_API_KEY_CACHE_SECONDS = min(
    max(float(os.environ.get("YOULAB_API_KEY_CACHE_SECONDS", "10")), 0.0), API_KEY_CACHE_MAX_SECONDS
)

# Pending proposals one agent key may have on one block (409 too_many_open_proposals beyond);
# 0 = no cap.
YOULAB_MAX_OPEN_PROPOSALS = int(os.environ.get("YOULAB_MAX_OPEN_PROPOSALS", "20"))

# --- Decision callbacks (design.md §5; docs/agents.md) -------------------------------------------
# The HMAC-SHA256 key that signs every callback body. Without it no proposal may carry a
# callback_url (400 callback_not_allowed): callbacks are never sent unsigned.
YOULAB_WEBHOOK_SECRET = os.environ.get("YOULAB_WEBHOOK_SECRET", "")
# Hosts callbacks may go to: names, `*.example.org`, IP addresses or networks (comma separated).
# Empty: none. A private, loopback or link-local address is allowed only when listed as an address
# or network (a listed name resolving to one is refused).
YOULAB_WEBHOOK_HOSTS = [h.strip() for h in os.environ.get("YOULAB_WEBHOOK_HOSTS", "").split(",") if h.strip()]
# How long a failing callback is retried (exponential backoff from 1 s, at most 10 min apart)
# before it is marked failed; staff can "retry now" from the admin.
YOULAB_WEBHOOK_RETRY_SECONDS = int(os.environ.get("YOULAB_WEBHOOK_RETRY_SECONDS", str(24 * 3600)))

SPECTACULAR_SETTINGS = {
    "TITLE": "YouLab v2 agent API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKeyAuth": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Api-Key <key>`; create one with `python manage.py create_agent_key NAME`.",
            }
        }
    },
    "SECURITY": [{"ApiKeyAuth": []}],
    # A proposal's operation appears in Diff and in DiffListItem: one enum, one stable name.
    "ENUM_NAME_OVERRIDES": {"DiffOperationEnum": "diffs.models.Operation"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Errors go to stderr; `DJANGO_LOG_FORMAT=json` (what `make serve` sets) writes one JSON object
# per line with secrets (API keys, passwords in URLs, Fernet keys) masked (youlab.logs).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "youlab.logs.JsonFormatter"},
        "text": {"()": "youlab.logs.RedactingFormatter", "format": "%(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if os.environ.get("DJANGO_LOG_FORMAT") == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
