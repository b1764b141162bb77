"""gunicorn as `make serve` runs it (youlab/gunicorn.conf.py) starts the callback worker with it."""

from __future__ import annotations

import os
import re
import time

import pytest
from youlab.models import DEFAULT_SCOPES, AgentKey
from youlab.actors import Actor

from diffs import services as diff_services
from tests.factories import make_block
from tests.servers import AppServer, app_env, wait_for

from .conftest import SECRET, database_url_of_tests

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_served_app_delivers_a_callback_within_5_s_and_stops_its_worker(transactional_db, receiver,
                                                                            webhooks_on, django_user_model):
    make_block(owner_id="maya", label="student", content="# Student\n", dolt_commit=True)
    _, key = AgentKey.objects.create_key(name="tutor", scopes=list(DEFAULT_SCOPES))
    server = AppServer(app_env(DATABASE_URL=database_url_of_tests(), YOULAB_WEBHOOK_SECRET=SECRET,
                               YOULAB_WEBHOOK_HOSTS="127.0.0.1"))
    try:
        status, _, body = server.request("POST", "/api/v1/users/maya/blocks/student/diffs/", key=key,
                                         body={"operation": "append", "text": "Likes chess",
                                               "callback_url": receiver.url()})
        assert status == 201, body
        diff_id = re.search(rb'"id":"([0-9a-f-]+)"', body).group(1).decode()
        worker_pid = int(wait_for(lambda: re.search(r"callback worker started \(pid (\d+)\)", server.log()),
                                  timeout=30, what="the callback worker").group(1))
        reviewer = django_user_model.objects.create_user("rita", is_staff=True)
        diff_services.approve_diff(diff_id=diff_id, by=Actor.staff(reviewer))
        decided = time.monotonic()
        (callback,) = receiver.wait_for(1, timeout=5)
        assert callback.at - decided < 5 and callback.signature_ok()
        assert callback.json()["id"] == diff_id and callback.json()["status"] == "approved"
        assert _alive(worker_pid)
    finally:
        server.stop()
    wait_for(lambda: not _alive(worker_pid), timeout=30, what="the worker to stop with the server")
