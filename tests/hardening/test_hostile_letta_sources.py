"""Hostile Letta sources (issue 13): the token reaches only the server named, and nothing in a
response, an Agent File or a database row is unbounded.

A real local HTTP server replays the recorded Letta 0.11.7 REST API (tests/fixtures/letta/api)
with one route made hostile; a second server plays the attacker's host and records every request
it gets. Each test runs ``manage.py import_letta`` as an operator would and checks: the token
never reached the second server (it got no request at all), the hostile answer is reported, and
the rest of the source imported.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from blocks.models import Block
from youlab import dolt

from .conftest import wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "letta"
API = FIXTURES / "api"
TOKEN = "letta-token-never-elsewhere-5d1e"
U1 = "3f6c9b2e-8a41-4d7e-9c15-2b7e4f0a91d3"  # Maya: 5 blocks of her own
BLOCKS_OF_U1 = 5

IDENTITIES = "/v1/identities/?limit=50"
BLOCKS_COUNT = "/v1/blocks/count"
PROBE = "/v1/blocks/block-088736a8-de76-4982-bd60-37193bb44c8c/agents?include_relationships=memory"
HEALTH = "/v1/health/"
AGENTS = "/v1/agents/?limit=50"
BLOCKS = "/v1/blocks/?limit=100"


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A local HTTP server: recorded answers, overridden per path, every request logged."""

    answers: dict[str, object] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    bytes_sent: dict[str, int] = field(default_factory=dict)
    url: str = ""

    def tokens_seen(self) -> set[str | None]:
        return {headers.get("Authorization") for _, headers in self.requests}


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's naming)
            server.requests.append((self.path, dict(self.headers)))
            answer = server.answers.get(self.path)
            if answer is None:
                self._send(404, b'{"detail":"Not Found"}')
            elif callable(answer):
                answer(self)
            else:
                status, body = answer
                self._send(status, body)

        def _send(self, status: int, body: bytes, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # keep pytest output clean
            pass

    return Handler


@pytest.fixture
def serve():
    started: list[ThreadingHTTPServer] = []

    def start(answers: dict[str, object] | None = None) -> Server:
        server = Server(dict(answers or {}))
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
        httpd.daemon_threads = True
        started.append(httpd)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        return server

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def recorded_api() -> dict[str, object]:
    with (API / "INDEX.tsv").open(newline="", encoding="utf-8") as fh:
        return {row["path"]: (int(row["http_status"]), (API / row["file"]).read_bytes())
                for row in csv.DictReader(fh, delimiter="\t") if row["method"] == "GET"}


def redirect(location: str, code: int = 302):
    def answer(handler):
        handler.send_response(code)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return answer


def streamed(server: Server, total: int):
    """A body with no Content-Length, ended by closing the connection (HTTP/1.0 style); what
    the server managed to send before the reader hung up is kept in server.bytes_sent."""
    chunk = b"[" + b" " * 65534 + b"\n"

    def answer(handler):
        handler.protocol_version = "HTTP/1.0"
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Connection", "close")
        handler.end_headers()
        sent = 0
        try:
            while sent < total:
                handler.wfile.write(chunk)
                sent += len(chunk)
        except OSError:  # the reader hung up: it stopped at its limit
            pass
        handler.close_connection = True
        server.bytes_sent[handler.path] = sent
    return answer


@pytest.fixture
def attacker(serve) -> Server:
    """The host a hostile redirect points to: it would hand out a fake agent if asked."""
    return serve({"/steal": (200, json.dumps([]).encode())})


@pytest.fixture(autouse=True)
def clean_dolt(transactional_db):
    dolt.commit("test start: clean working set")
    yield


def import_letta(*args: str, tmp_path: Path) -> tuple[dict, str]:
    report_path = tmp_path / "report.json"
    out = io.StringIO()
    call_command("import_letta", *args, "--report", str(report_path), stdout=out,
                 stderr=io.StringIO())
    return json.loads(report_path.read_text(encoding="utf-8")), out.getvalue()


def reported(report: dict, key: str) -> list[str]:
    """Reasons of the skipped items with this key (a refusal is skipped, never just a note)."""
    return [i["reason"] for i in report["items"] if i["key"] == key and i["action"] == "skipped"]


def assert_letta_imported() -> None:
    assert Block.objects.filter(owner_id=U1).count() == BLOCKS_OF_U1
    assert Block.objects.count() >= 30


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize(("route", "key"), [
    (IDENTITIES, "identities"),
    (BLOCKS_COUNT, "/v1/blocks/count"),
    (PROBE, "block block-088736a8-de76-4982-bd60-37193bb44c8c"),
])
@pytest.mark.parametrize("code", [302, 307, 308])
def test_a_redirect_to_another_host_is_refused_reported_and_the_rest_imports(
    serve, attacker, tmp_path, route, key, code
):
    letta = serve(recorded_api())
    letta.answers[route] = redirect(f"{attacker.url}/steal", code)

    report, out = import_letta("--api", letta.url, "--api-token", TOKEN, tmp_path=tmp_path)

    assert attacker.requests == []  # never contacted, so the token cannot have reached it
    [reason] = reported(report, key)
    assert f"redirect to another server ({attacker.url}/steal) refused" in reason
    assert "redirect to another server" in out  # the summary's skipped reasons
    assert letta.tokens_seen() == {f"Bearer {TOKEN}"}
    assert_letta_imported()


@pytest.mark.parametrize("route", [HEALTH, AGENTS, BLOCKS])
def test_a_redirect_of_the_listing_itself_stops_the_run_cleanly(serve, attacker, tmp_path, route):
    letta = serve(recorded_api())
    # An internal address on this machine, as a hostile server would pick.
    letta.answers[route] = redirect(f"{attacker.url}/steal")

    with pytest.raises(CommandError) as failed:
        import_letta("--api", letta.url, "--api-token", TOKEN, tmp_path=tmp_path)

    assert f"redirect to another server ({attacker.url}/steal) refused" in str(failed.value)
    assert TOKEN not in str(failed.value)
    assert attacker.requests == []
    assert Block.objects.count() == 0


def test_a_redirect_on_the_same_server_is_followed_with_the_token(serve, tmp_path):
    letta = serve(recorded_api())
    health = letta.answers[HEALTH]
    letta.answers[HEALTH] = redirect("/v1/health", 308)  # relative: same scheme, host and port
    letta.answers["/v1/health"] = health

    import_letta("--api", letta.url, "--api-token", TOKEN, tmp_path=tmp_path)

    followed = [headers for path, headers in letta.requests if path == "/v1/health"]
    assert [h.get("Authorization") for h in followed] == [f"Bearer {TOKEN}"]
    assert_letta_imported()


# --------------------------------------------------------------------------- sizes and depth


@pytest.mark.parametrize("with_length", [True, False])
def test_a_huge_response_is_not_read_past_the_limit(serve, tmp_path, with_length):
    letta = serve(recorded_api())
    if with_length:
        letta.answers[IDENTITIES] = (200, b"[" + b" " * (3 << 20) + b"]")
    else:
        letta.answers[IDENTITIES] = streamed(letta, 64 << 20)

    report, out = import_letta("--api", letta.url, "--max-response-size", "1M",
                               tmp_path=tmp_path)

    [reason] = reported(report, "identities")
    assert "response over the limit of 1 MiB (--max-response-size); not read" in reason
    if not with_length:
        wait_for(lambda: IDENTITIES in letta.bytes_sent, 30, what="the streaming answer to end")
        assert letta.bytes_sent[IDENTITIES] < 32 << 20  # the reader hung up at its limit
    assert_letta_imported()


def test_an_oversized_listing_stops_the_run_with_the_option_to_raise(serve, tmp_path):
    letta = serve(recorded_api())
    with pytest.raises(CommandError) as failed:
        import_letta("--api", letta.url, "--max-response-size", "100K", tmp_path=tmp_path)
    assert "over the limit of 100 KiB (--max-response-size)" in str(failed.value)
    assert Block.objects.count() == 0


@pytest.mark.parametrize("depth", [70, 100_000])
def test_deeply_nested_responses_are_reported_and_the_rest_imports(serve, tmp_path, depth):
    letta = serve(recorded_api())
    deep = b"[" * depth + b"]" * depth
    letta.answers[IDENTITIES] = (200, deep)
    letta.answers[PROBE] = (200, deep)

    report, out = import_letta("--api", letta.url, tmp_path=tmp_path)

    for key in ("identities", "block block-088736a8-de76-4982-bd60-37193bb44c8c"):
        [reason] = reported(report, key)
        assert "nested deeper than 64 levels" in reason
    assert_letta_imported()


def test_hostile_agent_files_are_reported_and_the_good_one_imports(tmp_path):
    good = FIXTURES / "agentfiles" / "youlab_maya_tutor.af"
    files = {
        "deep.af": "[" * 100_000 + "]" * 100_000,  # RecursionError in json: aborted the run
        "deep70.af": json.dumps({"agents": [], "blocks": [], "x": json.loads(
            "[" * 70 + "]" * 70)}),
        "deep-string.af": json.dumps("[" * 100_000 + "]" * 100_000),  # JSON inside a string
        "huge.af": json.dumps({"agents": [], "blocks": [], "pad": "x" * (2 << 20)}),
    }
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths += ["--agent-file", str(tmp_path / name)]

    report, out = import_letta(*paths, "--agent-file", str(good), "--max-response-size", "1M",
                               tmp_path=tmp_path)

    for name in ("deep.af", "deep70.af", "deep-string.af"):
        [reason] = reported(report, name)
        assert reason == "the file is nested deeper than 64 levels; not read"
    [reason] = reported(report, "huge.af")
    assert reason == "over the limit of 1 MiB (--max-response-size); not read"
    assert "nested deeper than 64 levels" in out
    assert Block.objects.filter(owner_id=U1).count() == BLOCKS_OF_U1


def test_deeply_nested_json_in_a_database_row_is_reported_and_the_rest_imports(tmp_path):
    copy = tmp_path / "letta.db"
    shutil.copy(FIXTURES / "letta-0.11.7.sqlite3", copy)
    with sqlite3.connect(copy) as conn:
        (block_id,) = conn.execute(
            "SELECT id FROM block WHERE label = 'journey' AND template_name LIKE ?",
            (f"youlab_user_{U1}_%",)).fetchone()
        conn.execute("UPDATE block SET metadata_ = ? WHERE id = ?",
                     ("[" * 100_000 + "]" * 100_000, block_id))
    conn.close()

    report, out = import_letta("--sqlite", str(copy), tmp_path=tmp_path)

    notes = [i["reason"] for i in report["items"] if "nested deeper than 64 levels" in i["reason"]]
    assert notes and all("kept raw" in n for n in notes)
    assert_letta_imported()
    journey = Block.objects.get(owner_id=U1, label="journey")
    assert journey.content  # the row itself imported; only its metadata is kept as text
