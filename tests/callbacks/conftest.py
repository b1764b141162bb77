"""A real HTTP receiver for callbacks and the real worker process (manage.py deliver_callbacks)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection

from tests.servers import ROOT, app_env

SECRET = "test-webhook-secret-0123456789"


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    at: float  # time.monotonic() when it arrived

    def json(self):
        return json.loads(self.body)

    def signature_ok(self, secret=SECRET) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-youlab-signature", ""), expected)


@dataclass
class Receiver:
    """An agent runtime's webhook endpoint: records every POST, answers the scripted statuses."""

    answers: list = field(default_factory=list)  # statuses to answer in order, then 200
    received: list = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path="/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.received)} of {count} callbacks arrived within {timeout}s")


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                              body, time.monotonic()))
            status = receiver.answers.pop(0) if receiver.answers else 200
            extra = {}
            if isinstance(status, tuple):
                status, extra = status
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            payload = b"ok" if status < 300 else b"receiver says no"
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Handler


@contextlib.contextmanager
def running_receiver(answers=()):
    receiver = Receiver(answers=list(answers))
    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
def receiver():
    with running_receiver() as r:
        yield r


@pytest.fixture
def webhooks_on(settings):
    settings.YOULAB_WEBHOOK_SECRET = SECRET
    settings.YOULAB_WEBHOOK_HOSTS = ["127.0.0.1"]
    return settings


def database_url_of_tests() -> str:
    db = connection.settings_dict
    return f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Worker:
    """`manage.py deliver_callbacks` as a real process on the test database."""

    def __init__(self, **env):
        self.child = subprocess.Popen(
            [sys.executable, "manage.py", "deliver_callbacks", "--interval", "0.2"], cwd=ROOT,
            env=app_env(DATABASE_URL=database_url_of_tests(), YOULAB_WEBHOOK_SECRET=SECRET,
                        YOULAB_WEBHOOK_HOSTS="127.0.0.1", DJANGO_LOG_LEVEL="INFO", **env),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        # Ready once it prints its first line (Django set up, polling).
        first = self.child.stdout.readline().decode()
        assert "polling" in first, first

    def stop(self) -> str:
        self.child.terminate()
        out, _ = self.child.communicate(timeout=30)
        assert self.child.returncode == 0, out.decode(errors="replace")[-3000:]
        return out.decode(errors="replace")


@pytest.fixture
def worker(transactional_db, webhooks_on):
    process = Worker()
    try:
        yield process
    finally:
        if process.child.poll() is None:
            process.stop()
