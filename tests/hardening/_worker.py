"""Child-process side of the hardening tests (not collected by pytest).

    python tests/hardening/_worker.py setup-approvals N    # reviewer, N blocks, N pending diffs
    python tests/hardening/_worker.py approve THREADS      # approve every pending diff, in threads
    python tests/hardening/_worker.py setup-api            # an agent key (printed) and one block

DATABASE_URL (set by the test) points at the test's own dolt sql-server. Output is one line per
event, flushed, so the parent can act (kill the server) while approvals are in flight.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "youlab.settings_test")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402

from blocks import services as block_services  # noqa: E402
from diffs import services  # noqa: E402
from diffs.models import DiffStatus, PendingDiff  # noqa: E402
from youlab import dolt  # noqa: E402
from youlab.actors import Actor

lock = threading.Lock()


def say(*parts) -> None:
    with lock:
        print(*parts, flush=True)


def setup_approvals(n: int) -> None:
    user_model = get_user_model()
    for name in ("rita", "sam", "lee", "kim"):
        user_model.objects.get_or_create(username=name, defaults={"email": f"{name}@example.org", "is_staff": True})
    for i in range(n):
        block = block_services.create_block(owner_id=f"learner-{i:03d}", label="student",
                                            content=f"# Student {i}\nGoal: write about the bakery\n",
                                            dolt_commit=False)
        services.propose_diff(owner_id=block.owner_id, label=block.label, operation="append",
                              arguments={"text": f"Likes chess ({i})"}, by=Actor.agent("tutor"))
    dolt.commit("hardening: base")
    say("ready", n)


def approve(threads: int) -> None:
    reviewers = list(get_user_model().objects.filter(is_staff=True).order_by("username"))
    pending = list(PendingDiff.objects.filter(status=DiffStatus.PENDING).order_by("owner_id")
                   .values_list("pk", flat=True))
    connection.close()
    say("start", len(pending))

    def run(share, reviewer):
        try:
            for pk in share:
                diff = services.approve_diff(diff_id=pk, by=Actor.staff(reviewer))
                say("approved", pk, diff.applied_version)
        except Exception as exc:  # the server went away: stop this reviewer
            say("error", type(exc).__name__, str(exc).replace("\n", " ")[:200])
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(pending[i::threads], reviewers[i % len(reviewers)]))
               for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    say("done")


def setup_api() -> None:
    from youlab import keys

    get_user_model().objects.create_user("rita", is_staff=True)
    block_services.create_block(owner_id="maya", label="student", content="# Student\nName: Maya\n")
    say(keys.create_agent_key(name="tutor")[1])


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "setup-approvals":
        setup_approvals(int(args[0]))
    elif command == "approve":
        approve(int(args[0]))
    elif command == "setup-api":
        setup_api()
    else:
        raise SystemExit(f"unknown command {command!r}")
