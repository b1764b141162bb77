"""Plumbing for the hardening tests that kill or restart Dolt.

They never touch the shared server that `make test` started: `own_dolt` starts a private
`dolt sql-server` (the same binary, through scripts/dolt.sh) on a free port with its data in a
temporary directory, and the app under test runs in child processes (manage.py, gunicorn,
tests/hardening/_worker.py) whose DATABASE_URL points at it. Killing it means SIGKILL to the pid
scripts/dolt.sh recorded for that port: nothing else is ever signalled. The servers themselves
live in tests/servers.py, shared with tests/deploy.
"""

from __future__ import annotations

from tests.servers import ROOT, OwnDolt, free_port, own_dolt, wait_for  # noqa: F401  (re-exported)
