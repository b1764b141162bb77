"""Agents' two new doors: decision-callback latency, and an MCP tools/call vs the REST proposal.

    .venv/bin/python bench/agents.py [--decisions 200] [--rate 20] [-n 500]

A fresh database gets ``--learners`` x 1 block and an agent key.

1. Callback latency. A local receiver (threaded HTTP server) and the real worker process
   (``manage.py deliver_callbacks``, default settings: what ``make serve`` runs). ``--decisions``
   proposals carry a callback_url; they are then approved (each one transaction + Dolt commit)
   at ``--rate`` decisions per second, paced, by ``--reviewers`` threads. Latency = the receiver got the signed POST minus
   the approval's commit returned. p50 / p95 / max, and the rate actually reached.
2. MCP vs REST. gunicorn (1 worker x 1 thread, production settings) serves both. ``-n`` times,
   alternating on one keep-alive connection each: ``POST /api/v1/users/{id}/blocks/{label}/diffs/``
   (an append) and ``POST /mcp/users/{id}/`` with ``tools/call memory_append`` (JSON-RPC, in an
   initialized session; the same request an MCP client sends). p50/p95 and the MCP/REST ratio.
   Then the same append through the ``mcp`` SDK's own client (async, pydantic) for the whole
   client-side picture.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import benchlib as bl

SECRET = "bench-webhook-secret"


class Receiver:
    def __init__(self):
        self.arrivals: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.arrivals[json.loads(body)["id"]] = time.perf_counter()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def callback_latency(database, decisions, rate, reviewers):
    from django.contrib.auth import get_user_model
    from django.test.utils import override_settings

    from diffs import services as diff_services
    from youlab.actors import Actor

    receiver = Receiver()
    env = dict(bl.os.environ, DATABASE_URL=bl.database_url(database), YOULAB_WEBHOOK_SECRET=SECRET,
               YOULAB_WEBHOOK_HOSTS="127.0.0.1", DJANGO_SETTINGS_MODULE="youlab.settings")
    worker = subprocess.Popen([sys.executable, "manage.py", "deliver_callbacks"], cwd=bl.ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert b"polling" in worker.stdout.readline()
    try:
        with override_settings(YOULAB_WEBHOOK_SECRET=SECRET, YOULAB_WEBHOOK_HOSTS=["127.0.0.1"]):
            diff_ids = [
                str(diff_services.propose_diff(
                    owner_id=f"learner-{i}", label="student", operation="append",
                    arguments={"text": f"Likes chess ({i})"}, by=Actor.agent("bench"), callback_url=receiver.url(),
                )[0].pk)
                for i in range(decisions)
            ]
        reviewer = get_user_model().objects.create_user("bench-reviewer", is_staff=True)
        decided: dict[str, float] = {}
        started = time.perf_counter() + 0.5

        def review(k):
            # Reviewer k takes every `reviewers`-th diff, each at its slot of the paced schedule.
            from django.db import connections

            for i in range(k, decisions, reviewers):
                pause = started + i / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                diff_services.approve_diff(diff_id=diff_ids[i], by=Actor.staff(reviewer))
                decided[diff_ids[i]] = time.perf_counter()
            connections.close_all()

        threads = [threading.Thread(target=review, args=(k,)) for k in range(reviewers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        reached = decisions / (max(decided.values()) - started)
        deadline = time.perf_counter() + 60
        while len(receiver.arrivals) < decisions and time.perf_counter() < deadline:
            time.sleep(0.05)
        missing = decisions - len(receiver.arrivals)
        latencies = [receiver.arrivals[d] - decided[d] for d in diff_ids if d in receiver.arrivals]
    finally:
        worker.terminate()
        worker.wait(30)
        receiver.stop()
    return latencies, reached, missing


def _mcp_message(i, label, owner):
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": "memory_append", "arguments": {"label": label, "text": f"Likes chess ({i})",
                                                              "reasoning": "Mentioned twice."}}}


def mcp_vs_rest(database, key, n, learners, warmup=50):
    with bl.Gunicorn(database, extra_env={"YOULAB_CALLBACK_WORKER": "0"}) as server:
        rest_http, mcp_http = server.connection(), server.connection()
        auth = {"Authorization": f"Api-Key {key}"}
        conn = server.connection()
        conn.request("POST", "/mcp/users/learner-0/", body=json.dumps({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}),
            headers={**auth, "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        session = response.getheader("Mcp-Session-Id")
        conn.close()
        mcp_headers = {**auth, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25",
                       "Accept": "application/json, text/event-stream"}
        rest_s, mcp_s = [], []
        for i in range(warmup + n):
            started = time.perf_counter()
            status, body = bl.request(rest_http, "POST", "/api/v1/users/learner-0/blocks/student/diffs/",
                                      body={"operation": "append", "text": f"Likes chess ({i})",
                                            "reasoning": "Mentioned twice."}, headers=auth)
            rest = time.perf_counter() - started
            assert status == 201, body[:300]
            started = time.perf_counter()
            status, body = bl.request(mcp_http, "POST", "/mcp/users/learner-0/",
                                      body=_mcp_message(i, "student", "learner-0"), headers=mcp_headers)
            mcp = time.perf_counter() - started
            assert status == 200 and b'"isError":false' in body, body[:300]
            if i >= warmup:
                rest_s.append(rest)
                mcp_s.append(mcp)
        sdk_s = sdk_client_appends(server.port, key, n // 5)
    return rest_s, mcp_s, sdk_s


def sdk_client_appends(port, key, n):
    import anyio
    import httpx2
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    samples = []

    async def run():
        async with httpx2.AsyncClient(headers={"Authorization": f"Api-Key {key}"}, timeout=30) as http:
            url = f"http://127.0.0.1:{port}/mcp/users/learner-1/"
            async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
                for i in range(n + 10):
                    started = time.perf_counter()
                    result = await client.call_tool("memory_append", {"label": "student", "text": f"sdk {i}"})
                    assert not result.is_error, result
                    if i >= 10:
                        samples.append(time.perf_counter() - started)

    anyio.run(run)
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="decisions per second (default 20)")
    parser.add_argument("--reviewers", type=int, default=2, help="threads approving (default 2)")
    parser.add_argument("-n", type=int, default=500, help="timed MCP and REST appends each (default 500)")
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    with bl.fresh_database("agents", keep=args.keep) as database:
        from blocks import services as block_services

        for i in range(max(args.learners, args.decisions)):
            block_services.create_block(owner_id=f"learner-{i}", label="student", content="# Student\n",
                                        reason="bench", dolt_commit=False)
        key = bl.create_agent_key("bench")
        from youlab import dolt

        dolt.commit("bench fixture")

        latencies, reached, missing = callback_latency(database, args.decisions, args.rate, args.reviewers)
        callback = bl.summary_ms(latencies)
        bl.print_table(["decision → receiver", "n", "p50 ms", "p95 ms", "max ms", "decisions/s", "missing"],
                       [["callback (worker polls every 0.5 s)", callback["n"], callback["p50_ms"],
                         callback["p95_ms"], max(latencies) * 1000, reached, missing]],
                       title=f"1. Decision callbacks at {args.rate:g} decisions/s")

        rest_s, mcp_s, sdk_s = mcp_vs_rest(database, key, args.n, args.learners)
        rest, mcp, sdk = bl.summary_ms(rest_s), bl.summary_ms(mcp_s), bl.summary_ms(sdk_s)
        bl.print_table(
            ["append proposal", "n", "p50 ms", "p95 ms", "p50 / REST"],
            [["REST POST …/diffs/", rest["n"], rest["p50_ms"], rest["p95_ms"], 1.0],
             ["MCP tools/call memory_append", mcp["n"], mcp["p50_ms"], mcp["p95_ms"], mcp["p50_ms"] / rest["p50_ms"]],
             ["MCP via the mcp SDK client", sdk["n"], sdk["p50_ms"], sdk["p95_ms"], sdk["p50_ms"] / rest["p50_ms"]]],
            title="2. One append proposal, same server, same run (gunicorn 1 worker x 1 thread)")
        bl.emit_json("agents", {"callback": {**callback, "max_ms": round(max(latencies) * 1000, 1),
                                             "rate": round(reached, 2), "missing": missing},
                                "rest": rest, "mcp": mcp, "mcp_sdk": sdk,
                                "mcp_over_rest_p50": round(mcp["p50_ms"] / rest["p50_ms"], 3)})


if __name__ == "__main__":
    main()
