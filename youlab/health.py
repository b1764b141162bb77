"""Liveness and readiness for load balancers and orchestrators (design.md §9).

`GET /healthz`: 200 while the process serves requests; touches nothing else.
`GET /readyz`: 200 when every check passes, else 503; the JSON names each check:

* `database`: the primary (DATABASE_URL) answers;
* `migrations`: no migration is left to apply;
* `dolt_role`: the primary is a cluster primary (or a standalone server), not a standby: a
  standby refuses writes, so an app pointed at one is not ready (e.g. after a failover until the
  app is pointed at the new primary);
* `replica_<n>`: each standby of DATABASE_REPLICA_URLS answers (reads are sent there);
* `cache`: the shared cache (CACHE_URL) answers, when one is configured;
* `replication` (information, never failing): the primary's view of each standby (lag, error).

They answer before any other middleware: probes come over plain HTTP, often by IP address, and
are neither redirected to HTTPS nor refused for their Host header. Nothing secret is shown.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connections
from django.http import JsonResponse

from . import dolt
from .logs import redact

PATHS = {"/healthz": "health", "/healthz/": "health", "/readyz": "ready", "/readyz/": "ready"}
_migrations_applied = False  # once true for this process it stays true (code changes restart it)


def _error(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")[:300]


def _check_database() -> dict:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "ok"}


def _check_migrations() -> dict:
    global _migrations_applied
    if not _migrations_applied:
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connections["default"])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            return {"status": "fail", "unapplied": len(plan)}
        _migrations_applied = True
    return {"status": "ok"}


def _check_role() -> dict:
    role = dolt.cluster_role("default")
    if role.role in ("", "primary"):
        return {"status": "ok", "role": role.role or "standalone", "epoch": role.epoch}
    return {"status": "fail", "role": role.role, "epoch": role.epoch,
            "message": "DATABASE_URL points at a server that is not the cluster primary"}


def _check_replica(alias: str) -> dict:
    role = dolt.cluster_role(alias)
    return {"status": "ok", "role": role.role or "standalone", "epoch": role.epoch}


def _check_cache() -> dict:
    from django.core.cache import cache

    token = str(time.monotonic_ns())
    cache.set("youlab:readyz", token, 10)
    if cache.get("youlab:readyz") != token:
        return {"status": "fail", "message": "the cache did not return what was stored"}
    return {"status": "ok"}


def readiness() -> tuple[bool, dict]:
    checks: dict[str, dict] = {}

    def run(name, fn, *args):
        try:
            checks[name] = fn(*args)
        except Exception as exc:  # every failure is reported as that check's, never a 500
            checks[name] = {"status": "fail", "error": _error(exc)}
        return checks[name]["status"] == "ok"

    if run("database", _check_database):
        run("migrations", _check_migrations)
        run("dolt_role", _check_role)
        if checks["dolt_role"].get("role") == "primary":
            try:
                checks["replication"] = {"status": "info", "standbys": dolt.cluster_status("default")}
            except Exception as exc:
                checks["replication"] = {"status": "info", "error": _error(exc)}
    for alias in settings.DATABASES:
        if alias.startswith("replica_"):
            run(alias, _check_replica, alias)
    if getattr(settings, "CACHE_URL", ""):
        run("cache", _check_cache)
    ready = all(c["status"] in ("ok", "info") for c in checks.values())
    return ready, checks


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        kind = PATHS.get(request.path_info)
        if kind is None or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        if kind == "health":
            response = JsonResponse({"status": "ok", "checks": {"process": {"status": "ok"}}})
        else:
            ready, checks = readiness()
            response = JsonResponse({"status": "ok" if ready else "fail", "checks": checks},
                                    status=200 if ready else 503)
        response["Cache-Control"] = "no-store"
        return response
