"""Child-process side of tests/deploy/test_cluster.py (not collected by pytest).

    DATABASE_URL=<primary> DATABASE_REPLICA_URLS=<standby> python tests/deploy/_router_probe.py KEY

Runs requests through Django's test client in this process, against the real cluster, and
prints one JSON object: for each step, the SQL statements in order, with the alias that got each.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "youlab.settings_test")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connections, transaction  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402

from blocks.models import Block  # noqa: E402
from diffs.models import PendingDiff  # noqa: E402
from youlab.routing import ReplicaReadsMiddleware  # noqa: E402

ALIASES = list(connections)


@contextlib.contextmanager
def recording():
    seen = []  # [alias, sql] in the order the statements were sent
    with contextlib.ExitStack() as stack:
        for alias in ALIASES:
            def wrapper(execute, sql, params, many, context, alias=alias):
                seen.append([alias, " ".join(sql.split())[:200]])
                return execute(sql, params, many, context)
            stack.enter_context(connections[alias].execute_wrapper(wrapper))
        yield seen


def main(key: str) -> None:
    steps = {}
    agent = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")

    def step(name, fn, expect=None):
        with recording() as seen:
            status = fn()
        if expect is not None:
            assert status == expect, (name, status)
        steps[name] = seen

    step("agent GET block", lambda: agent.get("/api/v1/users/maya/blocks/student/").status_code, 200)
    step("agent GET diffs", lambda: agent.get("/api/v1/users/maya/diffs/").status_code, 200)
    step("agent POST diff", lambda: agent.post("/api/v1/users/maya/blocks/student/diffs/",
                                                {"operation": "append", "text": "Likes chess"},
                                                content_type="application/json").status_code, 201)
    staff = Client()
    user, _ = get_user_model().objects.update_or_create(username="probe-admin",
                                                        defaults={"is_staff": True, "is_superuser": True})
    staff.force_login(user)
    block = Block.objects.using("default").get(owner_id="maya", label="student")
    step("admin GET list", lambda: staff.get("/admin/blocks/block/").status_code, 200)
    step("admin GET detail", lambda: staff.get(f"/admin/blocks/block/{block.pk}/change/").status_code, 200)
    diff = PendingDiff.objects.using("default").filter(status="pending").latest("created_at")
    step("staff POST approve", lambda: staff.post(f"/api/v1/diffs/{diff.pk}/approve/", {},
                                                  content_type="application/json").status_code, 200)

    def read_write_read(request):
        Block.objects.filter(owner_id="maya").count()  # before any write: a standby
        with transaction.atomic():
            Block.objects.filter(owner_id="maya").count()  # inside a transaction: the primary
        Block.objects.filter(owner_id="maya").update(description="seen by the probe")  # write: primary
        Block.objects.filter(owner_id="maya").count()  # after the write: the primary
        return HttpResponse("ok")

    def in_request():
        return ReplicaReadsMiddleware(read_write_read)(RequestFactory().get("/api/v1/probe/")).status_code

    step("GET read, atomic read, write, read", in_request, 200)
    print(json.dumps(steps))


if __name__ == "__main__":
    main(sys.argv[1])
