"""Where an API request's time goes, in this process (no HTTP): cProfile and the SQL it sends.

    .venv/bin/python bench/profile_api.py [--route block|list|304|propose|propose_big|approve] [-n 300]

A fresh database (as the benches make it) with 200 learners x 5 blocks and an agent key; each
request goes through Django's WSGI handler with a gunicorn-like environ, so middleware, DRF,
the view, the ORM and rendering all run as they do under gunicorn. `approve` times
diffs.services.approve_diff. Prints the statements of one request, then the top of the
profile (cumulative), sorted by `--sort`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time

import benchlib as bl


def environ(method, path, key, body=None, extra=None):
    data = json.dumps(body).encode() if body is not None else b""
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_X_FORWARDED_PROTO": "https", "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(data), "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
        "HTTP_AUTHORIZATION": f"Api-Key {key}", "CONTENT_LENGTH": str(len(data)),
        "CONTENT_TYPE": "application/json" if body is not None else "",
    }
    env.update(extra or {})
    return env


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--route", default="block", choices=["block", "list", "304", "propose", "propose_big", "approve"])
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()

    with bl.fresh_database("profile") as name:
        from django.contrib.auth import get_user_model
        from django.core.handlers.wsgi import WSGIHandler
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        targets = bl.bulk_blocks(200, content_size=800)
        big = bl.bulk_blocks(10, ["student"], content_size=290_000, owner_prefix="big", char_limit=400_000)
        bl.dolt_commit("profile fixtures")
        key = bl.create_agent_key()
        handler = WSGIHandler()

        def one(i):
            _, owner, label = targets[i % len(targets)]
            if args.route == "block":
                env = environ("GET", f"/api/v1/users/{owner}/blocks/{label}/", key)
            elif args.route == "list":
                env = environ("GET", f"/api/v1/users/{owner}/blocks/", key)
            elif args.route == "304":
                env = environ("GET", f"/api/v1/users/{owner}/blocks/{label}/", key, extra={"HTTP_IF_NONE_MATCH": '"1"'})
            else:
                if args.route == "propose_big":
                    _, owner, label = big[i % len(big)]
                env = environ("POST", f"/api/v1/users/{owner}/blocks/{label}/diffs/", key,
                              body={"operation": "append", "text": f"chess ({i})", "reasoning": "bench"})
            response = handler(env, lambda status, headers: None)
            b"".join(response)
            response.close()

        if args.route == "approve":
            from diffs import services
            from youlab.actors import Actor

            staff = get_user_model().objects.create_user("rita", is_staff=True)
            by = Actor.staff(staff)
            diffs = [services.propose_diff(owner_id=o, label=l, operation="append", arguments={"text": "x"},
                                           by=Actor.agent("bench"))[0].pk for _, o, l in targets[:args.n + 1]]

            def one(i):  # noqa: F811
                services.approve_diff(diff_id=diffs[i], by=by)

        for i in range(20 if args.route != "approve" else 0):
            one(i)
        with CaptureQueriesContext(connection) as captured:
            one(args.n if args.route == "approve" else 0)
        print(f"{len(captured)} statements in one request:")
        for q in captured:
            print(f"  {q['time']}s  {q['sql'][:160]}")
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        for i in range(args.n):
            one(i)
        profile.disable()
        elapsed = time.perf_counter() - started
        print(f"{args.n} x {args.route}: {elapsed / args.n * 1000:.2f} ms each (under cProfile)")
        stats = pstats.Stats(profile)
        stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
