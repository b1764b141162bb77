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

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
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
    "blocks",
    "learners",
    "diffs",
    "chats",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "youlab.urls"

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
DEFAULT_DATABASE_URL = (
    f"mysql://youlab:{os.environ.get('DOLT_APP_PASSWORD', 'youlab-dev-password')}"
    f"@{DOLT_HOST}:{DOLT_PORT}/{os.environ.get('DOLT_DATABASE', 'youlab')}"
)
DATABASE_URL = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)

_db = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
if _db.get("HOST") == "localhost":
    # mysqlclient reads "localhost" as the unix socket; Dolt is reached over TCP.
    _db["HOST"] = "127.0.0.1"
_db["OPTIONS"] = {
    "charset": "utf8mb4",
    # Dolt only implements REPEATABLE READ; say so instead of pretending READ COMMITTED.
    "isolation_level": "repeatable read",
}
_db["TEST"] = {
    "CHARSET": "utf8mb4",
    # Dolt's default collation is utf8mb4_0900_bin, which makes icontains case-sensitive.
    "COLLATION": "utf8mb4_0900_ai_ci",
}
DATABASES = {"default": _db}

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
STATIC_ROOT = BASE_DIR / "var" / "static"

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
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "youlab.api.auth.AgentKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["youlab.api.auth.IsAgentOrStaff"],
    "DEFAULT_THROTTLE_CLASSES": ["youlab.api.auth.AgentKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"agent": os.environ.get("YOULAB_AGENT_RATE", "1200/minute")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["youlab.api.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "youlab.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "youlab.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}

# Seconds a verified agent API key is remembered per process (youlab.api.auth); 0 = check the
# database on every request. A key revoked in another process stops working within this time.
YOULAB_API_KEY_CACHE_SECONDS = float(os.environ.get("YOULAB_API_KEY_CACHE_SECONDS", "10"))

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
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
