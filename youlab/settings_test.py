"""Settings for the test suite: the normal settings with test-only secrets filled in."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")
# A fixed, test-only Fernet key (never used outside the tests).
os.environ.setdefault("YOULAB_FERNET_KEYS", "fSjDUcmM0qyJ2vY3kU4d2xQpXbt5kS8gkJd8QHqz3Zk=")
# The local test server's development password, said explicitly (production never falls back).
os.environ.setdefault("DOLT_APP_PASSWORD", "youlab-dev-password")

from .settings import *  # noqa: E402,F401,F403

# Django's test client sends Host: testserver; only the tests accept it.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "127.0.0.1", "localhost", "testserver"]  # noqa: F405

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test logins

# Templates resolve {% static %} without a collectstatic manifest (the serve tests run the
# production storage against a collected tree of their own).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True  # no collected tree in the tests: look files up per request
