"""Proposals through the API (gunicorn) vs a raw INSERT of the same row; 8-client throughput.

    .venv/bin/python bench/proposals.py [-n 1000] [--clients 8] [--per-client 150]

A fresh database gets ``--learners`` x 5 blocks and an agent key; gunicorn serves the app.

1. Latency: ``-n`` times, ``POST /api/v1/users/{id}/blocks/{label}/diffs/`` (an ``append``) over
   one keep-alive connection, alternating with a raw ``INSERT INTO pending_diffs`` (autocommit,
   mysqlclient) of the very row the API stored (same columns and values, answer body included,
   a new id). p50/p95 and the API/raw ratio (target: <= 2x).
   Interleaved with them, the same proposal to a framework-free WSGI app under the same gunicorn
   set-up (bench/bare_wsgi.py: parse, SELECT the block, INSERT the row): the least an HTTP
   proposal costs here.
2. Block size: ``--size-n`` proposals each to ``--size-blocks`` blocks of 1 KB and of 290 KB
   (v1 has blocks that large), alternating; p50 of each and their ratio (target: <= 2x). Then
   the staff review page of one proposal of each size (Django's test client, logged in, median
   of 3) and the word-diff work its side-by-side preview spends against the page budget
   (diffs.rendering.MAX_PAGE_WORK).
3. Throughput: ``--clients`` threads, each with its own keep-alive connection (API) or its own
   mysqlclient connection (raw), ``--per-client`` proposals each on random blocks; proposals
   per second, both ways.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
import uuid

import bare_wsgi
import benchlib as bl

COLUMNS = ["id", "owner_type", "owner_id", "label", "block_id", "operation", "arguments",
           "proposed_content", "preview", "base_version", "reasoning", "agent_key_name", "agent_id",
           "status", "conflict_reason", "review_note", "request_fingerprint", "response_body",
           "metadata", "callback_url", "created_at", "updated_at"]
INSERT = (f"INSERT INTO pending_diffs ({', '.join(COLUMNS)}) VALUES ("
          + ", ".join(["%s"] * len(COLUMNS)) + ")")


def proposal_body(n: int) -> dict:
    return {"operation": "append", "text": f"Mentioned chess again ({n})",
            "reasoning": "She brought it up twice this session.", "agent_id": "bench-agent"}


def raw_row(api: dict) -> list:
    """The row the API stored for answer `api` (fingerprint and timestamps alike), new id."""
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    return [uuid.uuid4().hex, api["owner_type"], api["owner_id"], api["label"],
            uuid.UUID(api["block_id"]).hex, api["operation"], json.dumps(api["arguments"]),
            api["proposed_content"], api["preview"], api["base_version"], api["reasoning"],
            api["agent"], api["agent_id"], "pending", "", "", "0" * 64, json.dumps(api), "{}", "", now, now]


def latency(gunicorn, bare, key, targets, n, raw_conn, warmup=100):
    http = gunicorn.connection()
    bare_http = bare.connection()
    headers = {"Authorization": f"Api-Key {key}"}
    cursor = raw_conn.cursor()
    api_s, raw_s, bare_s = [], [], []
    for i in range(warmup + n):
        _, owner, label = random.choice(targets)
        started = time.perf_counter()
        status, body = bl.request(http, "POST", f"/api/v1/users/{owner}/blocks/{label}/diffs/",
                                  body=proposal_body(i), headers=headers)
        elapsed_api = time.perf_counter() - started
        assert status == 201, (status, body[:300])
        row = raw_row(json.loads(body))
        started = time.perf_counter()
        cursor.execute(INSERT, row)
        elapsed_raw = time.perf_counter() - started
        started = time.perf_counter()
        status, body = bl.request(bare_http, "POST", f"/bare/diffs/{owner}/{label}/", body=proposal_body(i))
        elapsed_bare = time.perf_counter() - started
        assert status == 201, (status, body[:300])
        if i >= warmup:
            api_s.append(elapsed_api)
            raw_s.append(elapsed_raw)
            bare_s.append(elapsed_bare)
    http.close()
    bare_http.close()
    return api_s, raw_s, bare_s


def by_size(gunicorn, key, small, big, n, warmup=10):
    """Alternating proposals to 1 KB and 290 KB blocks: (small samples, big samples, last ids)."""
    http = gunicorn.connection()
    headers = {"Authorization": f"Api-Key {key}"}
    samples = {"small": [], "big": []}
    last = {}
    for i in range(warmup + n):
        for kind, targets in (("small", small), ("big", big)):
            _, owner, label = targets[i % len(targets)]
            started = time.perf_counter()
            status, body = bl.request(http, "POST", f"/api/v1/users/{owner}/blocks/{label}/diffs/",
                                      body=proposal_body(i), headers=headers)
            elapsed = time.perf_counter() - started
            assert status == 201, (status, body[:300])
            last[kind] = json.loads(body)["id"]
            if i >= warmup:
                samples[kind].append(elapsed)
    http.close()
    return samples["small"], samples["big"], last


def review_page(diff_id, repeat=3):
    """The staff review page of one diff: (median seconds, word-diff work of its preview)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings
    from django.urls import reverse

    from diffs import rendering
    from diffs.models import PendingDiff
    from staff import selectors

    staff = get_user_model().objects.filter(username="bench-rita").first() or \
        get_user_model().objects.create_user("bench-rita", is_staff=True, is_superuser=True)
    client = Client(HTTP_HOST="127.0.0.1")  # production settings: ALLOWED_HOSTS, HTTPS only
    client.force_login(staff)
    url = reverse("admin:diffs_pendingdiff_change", args=[diff_id])
    times = []
    # Static files by their source names (the bench does not run collectstatic).
    plain_static = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=plain_static):
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url, secure=True)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
    preview = selectors.review_preview(PendingDiff.objects.get(pk=diff_id))
    budget = rendering.WorkBudget()
    rendering.side_by_side(preview.left, preview.right, budget)
    return sorted(times)[len(times) // 2], rendering.MAX_PAGE_WORK - budget.left, preview.coarse_lines


def throughput_api(gunicorn, key, targets, clients, per_client):
    barrier = threading.Barrier(clients + 1)
    errors, bodies = [], []

    def client(seed):
        rng = random.Random(seed)
        http = gunicorn.connection()
        headers = {"Authorization": f"Api-Key {key}"}
        barrier.wait()
        for i in range(per_client):
            _, owner, label = rng.choice(targets)
            status, body = bl.request(http, "POST", f"/api/v1/users/{owner}/blocks/{label}/diffs/",
                                      body=proposal_body(i), headers=headers)
            if status != 201:
                errors.append((status, body[:200]))
            elif i == 0:
                bodies.append(json.loads(body))
        http.close()

    threads = [threading.Thread(target=client, args=(s,)) for s in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} proposals failed, e.g. {errors[:3]}")
    return clients * per_client / elapsed, bodies[0]


def throughput_raw(database, template, clients, per_client):
    barrier = threading.Barrier(clients + 1)

    def client():
        conn = bl.connect(database)
        cursor = conn.cursor()
        barrier.wait()
        for _ in range(per_client):
            cursor.execute(INSERT, raw_row(template))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return clients * per_client / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="timed proposals (default 1000)")
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=150)
    parser.add_argument("--size-n", type=int, default=100, help="proposals per block size (default 100)")
    parser.add_argument("--size-blocks", type=int, default=20, help="blocks per size (default 20)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2 = cores)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    random.seed(2)

    with bl.fresh_database("proposals", keep=args.keep) as name:
        targets = bl.bulk_blocks(args.learners, content_size=800)
        small = bl.bulk_blocks(args.size_blocks, ["student"], content_size=1_000, owner_prefix="small")
        big = bl.bulk_blocks(args.size_blocks, ["student"], content_size=290_000, owner_prefix="big",
                             char_limit=400_000)
        bl.dolt_commit("bench fixtures")
        raw = bl.connect(name)
        key = bl.create_agent_key()
        print(f"{len(targets)} blocks; gunicorn ({args.workers} workers x {args.threads} threads) ...", flush=True)
        with bl.Gunicorn(name, workers=args.workers, threads=args.threads) as gunicorn, \
                bl.Gunicorn(name, workers=1, threads=1, app=bare_wsgi.APP) as bare:
            print(f"Latency: {args.n} proposals, each followed by a raw INSERT of the same row ...", flush=True)
            api_s, raw_s, bare_s = latency(gunicorn, bare, key, targets, args.n, raw)
            print(f"Block size: {args.size_n} proposals to 1 KB and to 290 KB blocks ...", flush=True)
            small_s, big_s, last = by_size(gunicorn, key, small, big, args.size_n)
            small_page, small_work, small_coarse = review_page(last["small"])
            big_page, big_work, big_coarse = review_page(last["big"])
            print(f"Throughput: {args.clients} clients x {args.per_client} proposals ...", flush=True)
            api_tput, template = throughput_api(gunicorn, key, targets, args.clients, args.per_client)
        raw_tput = throughput_raw(name, template, args.clients, args.per_client)
        raw.close()

    api, rawsum, baresum = bl.summary_ms(api_s), bl.summary_ms(raw_s), bl.summary_ms(bare_s)
    r50, r95 = api["p50_ms"] / rawsum["p50_ms"], api["p95_ms"] / rawsum["p95_ms"]
    b50, b95 = baresum["p50_ms"] / rawsum["p50_ms"], baresum["p95_ms"] / rawsum["p95_ms"]
    bl.print_table(
        ["", "p50 ms", "p95 ms", f"{args.clients} clients /s"],
        [["POST …/diffs/ (gunicorn)", api["p50_ms"], api["p95_ms"], api_tput],
         ["raw INSERT (mysqlclient)", rawsum["p50_ms"], rawsum["p95_ms"], raw_tput],
         ["ratio API / raw", r50, r95, raw_tput / api_tput],
         ["bare WSGI: SELECT + INSERT", baresum["p50_ms"], baresum["p95_ms"], None],
         ["ratio bare / raw", b50, b95, None]],
        title="Proposals vs raw INSERT of the same row (target <= 2x)",
    )
    to_bare = api["p50_ms"] / baresum["p50_ms"]
    print(f"API / bare SELECT + INSERT (p50): {to_bare:.2f}x, target <= 1.3x: {'met' if to_bare <= 1.3 else 'missed'}")
    from diffs import rendering

    smallsum, bigsum = bl.summary_ms(small_s), bl.summary_ms(big_s)
    size_ratio = bigsum["p50_ms"] / smallsum["p50_ms"]
    bl.print_table(
        ["block", "proposal p50 ms", "p95 ms", "review page ms (median of 3)", "word-diff work", "coarse lines"],
        [["1 KB", smallsum["p50_ms"], smallsum["p95_ms"], small_page * 1000, small_work, small_coarse],
         ["290 KB", bigsum["p50_ms"], bigsum["p95_ms"], big_page * 1000, big_work, big_coarse],
         ["ratio 290 KB / 1 KB", size_ratio, bigsum["p95_ms"] / smallsum["p95_ms"], big_page / small_page, None, None]],
        title=f"Proposals by block size (target p50 <= 2x; page budget {rendering.MAX_PAGE_WORK:,} units)",
    )
    print(f"290 KB / 1 KB (p50): {size_ratio:.2f}x, target <= 2x: {'met' if size_ratio <= 2 else 'missed'}; "
          f"review page within the work budget: {'yes' if big_work <= rendering.MAX_PAGE_WORK and not big_coarse else 'no'}")
    bl.emit_json("proposals", {
        "blocks": len(targets), "n": args.n, "workers": args.workers, "threads": args.threads,
        "api": api, "raw": rawsum, "ratio_p50": round(r50, 2), "ratio_p95": round(r95, 2),
        "bare": baresum, "bare_ratio_p50": round(b50, 2),
        "target_2x_met": r50 <= 2, "ratio_to_bare_p50": round(to_bare, 2), "target_1_3x_bare_met": to_bare <= 1.3,
        "size": {"small": smallsum, "big": bigsum, "ratio_p50": round(size_ratio, 2), "target_2x_met": size_ratio <= 2,
                 "review_page_ms": {"small": round(small_page * 1000, 1), "big": round(big_page * 1000, 1)},
                 "review_work": {"small": small_work, "big": big_work, "budget": rendering.MAX_PAGE_WORK},
                 "coarse_lines": {"small": small_coarse, "big": big_coarse}}, "clients": args.clients, "per_client": args.per_client,
        "api_per_s": round(api_tput, 1), "raw_per_s": round(raw_tput, 1),
    })


if __name__ == "__main__":
    main()
