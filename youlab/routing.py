"""Reads from a Dolt standby where that is safe, everything else on the primary.

With DATABASE_REPLICA_URLS set, settings add the aliases `replica_1`…`replica_n` and this router.
A read goes to a standby only when all of these hold:

* the request is a GET or HEAD of the agent API (`/api/`) or of the admin (`/admin/`), marked by
  `ReplicaReadsMiddleware` (management commands, other routes and all other methods: primary);
* nothing has been written in this request yet (a read after a write goes to the primary, so a
  request always sees its own writes, whatever the standby's lag);
* no transaction is open on the primary (a read inside a write's transaction must see it).

Writes always go to the primary (a standby refuses them anyway: it is read-only). Dolt's cluster
replication makes a committed write visible on the standbys before the COMMIT returns (with
`dolt_cluster_ack_writes_timeout_secs` > 0, scripts/dolt.sh), so a client that wrote and then
reads in a new request sees its write on a standby too.
"""

from __future__ import annotations

import contextvars
import random
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections

PRIMARY = "default"
REPLICA_PREFIXES = ("/api/", "/admin/")
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass
class RequestRouting:
    replica: str | None  # the standby alias this request may read from, or None
    wrote: bool = field(default=False)


_routing: contextvars.ContextVar[RequestRouting | None] = contextvars.ContextVar("youlab_routing", default=None)


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith("replica_")]


def replica_eligible(method: str, path: str) -> bool:
    return method in READ_METHODS and path.startswith(REPLICA_PREFIXES)


class ReplicaReadsMiddleware:
    """Decides per request whether its reads may go to a standby (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.replicas = replica_aliases()

    def __call__(self, request):
        replica = None
        if self.replicas and replica_eligible(request.method, request.path_info):
            replica = random.choice(self.replicas)  # one standby for the whole request
        token = _routing.set(RequestRouting(replica=replica))
        try:
            return self.get_response(request)
        finally:
            _routing.reset(token)


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        state = _routing.get()
        if state is None or state.replica is None or state.wrote:
            return PRIMARY
        if connections[PRIMARY].in_atomic_block:
            return PRIMARY
        return state.replica

    def db_for_write(self, model, **hints):
        state = _routing.get()
        if state is not None:
            state.wrote = True  # every later read of this request goes to the primary
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one database, several copies of it

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == PRIMARY
