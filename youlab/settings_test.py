"""Settings for the test suite: the normal settings with test-only secrets filled in."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")
# A fixed, test-only Fernet key (never used outside the tests).
os.environ.setdefault("YOULAB_FERNET_KEYS", "fSjDUcmM0qyJ2vY3kU4d2xQpXbt5kS8gkJd8QHqz3Zk=")

from .settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test logins
