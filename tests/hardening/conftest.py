"""Plumbing for the hardening tests that kill or restart Dolt.

The private server (`own_dolt`, `OwnDolt`) and its helpers live in tests/conftest.py, shared
with the other tests that need a server of their own; they are named here for the hardening
modules that import them from this package.
"""

from tests.conftest import (  # noqa: F401
    APP_PASSWORD,
    APP_USER,
    DOLT_SH,
    ROOT,
    OwnDolt,
    free_port,
    wait_for,
)
