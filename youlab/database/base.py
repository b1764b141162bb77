"""The MySQL backend (mysqlclient) with the connection health check done by the first statement.

Django's CONN_HEALTH_CHECKS pings a reused connection before its first use in each request: one
round trip per request, for a connection that is nearly always alive (bench/api_reads.py). Here
the first operation on a reused connection is the check: if it fails because the connection is
dead (the server restarted or dropped it while idle: "gone away" / "lost connection"), the
connection is opened again and that operation runs once more. Only where a retry cannot repeat a
write: the operation starts a transaction (START TRANSACTION) or switches autocommit, is a read,
or is a statement the server never received (2006). Anything else fails as before (the API
answers 503 database_unavailable) and the request after it reconnects.

Transactions start with START TRANSACTION in autocommit mode rather than by switching autocommit
off and on again around them: one round trip per transaction instead of two.
"""

from __future__ import annotations

import contextlib

from django.db import OperationalError
from django.db.backends.mysql import base as mysql
from django.db.backends.utils import debug_transaction

# mysqlclient: server has gone away (2006: nothing was sent), lost the connection during a query
# (2013) or while reading the answer (2055), disconnected by the server for inactivity (4031).
_GONE_AWAY = 2006
LOST_CONNECTION = frozenset({2006, 2013, 2055, 4031})
_READS = ("SELECT", "SHOW", "SET ")


def _lost(exc) -> int | None:
    code = exc.args[0] if exc.args else None
    return code if code in LOST_CONNECTION else None


class CursorWrapper(mysql.CursorWrapper):
    def __init__(self, cursor, db):
        super().__init__(cursor)
        self.db = db

    def execute(self, query, args=None):
        if not self.db.unverified:
            return super().execute(query, args)
        try:
            result = super().execute(query, args)
        except mysql.Database.OperationalError as exc:
            code = _lost(exc)
            if code is None:
                raise
            # The dead connection's cursor, closed now: Django closes it after a failed query,
            # which would raise again (and unwrapped) instead of this error.
            with contextlib.suppress(mysql.Database.Error):
                self.cursor.close()
            reading = query.lstrip()[:6].upper().startswith(_READS)
            if self.db.in_atomic_block or not (code == _GONE_AWAY or reading):
                raise
            self.db.reconnect()
            self.cursor = self.db.connection.cursor()
            result = super().execute(query, args)
        self.db.unverified = False
        return result

    def executemany(self, query, args):
        self.db.unverified = False  # bulk writes are never retried
        return super().executemany(query, args)


class DatabaseWrapper(mysql.DatabaseWrapper):
    unverified = False  # reused since its last request and not yet used in this one

    def close_if_health_check_failed(self):
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        # No ping: the first operation of this request is the check (see the module docstring).
        self.unverified = True
        self.health_check_done = True

    def connect(self):
        super().connect()
        self.unverified = False

    def reconnect(self):
        """A fresh connection in place of a dead one (outside any transaction)."""
        try:
            self.close()
        except Exception:  # noqa: BLE001 (closing a dead connection may fail; it is dropped anyway)
            self.connection = None
        self.connect()

    def create_cursor(self, name=None):
        return CursorWrapper(self.connection.cursor(), self)

    def _start_transaction_under_autocommit(self):
        # Django's atomic() calls this, when a backend has it, instead of switching autocommit
        # off: START TRANSACTION is one round trip where SET autocommit=0 and, after the
        # COMMIT, SET autocommit=1 were two. The session stays in autocommit mode, so switching
        # it back on afterwards sends nothing (_set_autocommit).
        with debug_transaction(self, "BEGIN"):
            self._first_operation(self._start_transaction)

    def _start_transaction(self):
        with self.wrap_database_errors, self.connection.cursor() as cursor:
            cursor.execute("START TRANSACTION")

    def _set_autocommit(self, autocommit):
        # mysqlclient knows the session's mode from the server's last answer (no round trip).
        if autocommit and self.connection.get_autocommit():
            return
        self._first_operation(lambda: super(DatabaseWrapper, self)._set_autocommit(autocommit))

    def _first_operation(self, operation):
        """Run a transaction-control operation; if it finds a reused connection dead, reconnect
        and run it once more (it starts or ends nothing that could be repeated)."""
        if not self.unverified:
            operation()
            return
        try:
            operation()
        except OperationalError as exc:  # Django's: wrap_database_errors translated it
            if _lost(exc) is None:
                raise
            with self.wrap_database_errors:  # (a server still down: Django's error, as without the retry)
                self.reconnect()
            operation()
        self.unverified = False
