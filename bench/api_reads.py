"""API reads served by gunicorn vs a raw parameterised SELECT through mysqlclient.

    .venv/bin/python bench/api_reads.py [-n 2000] [--learners 2000] [--workers 1 --threads 1]

A fresh database gets ``--learners`` x 5 blocks (bulk INSERT) and an agent key; gunicorn serves
the app from it. From this process, over one keep-alive HTTP connection, each iteration times

* ``GET /api/v1/users/{id}/blocks/{label}/`` (one block) and, interleaved with it, the raw
  ``SELECT <the columns the API returns> FROM blocks WHERE owner_type=%s AND owner_id=%s AND
  label=%s AND deleted_at IS NULL`` on a persistent mysqlclient connection;
* ``GET /api/v1/users/{id}/blocks/`` (the list: a page of 5, so no COUNT is sent) and the raw
  SELECT of the same rows (``ORDER BY label, id LIMIT 50``).

The raw and API calls alternate, so load on the machine hits both alike. A third row, the floor,
times a path under /api/ that matches no route (the JSON 404): gunicorn, HTTP and Django's
middleware with no authentication, view or query, i.e. what any request costs. Two more rows
come from a framework-free WSGI app under the same gunicorn set-up (bench/bare_wsgi.py): a fixed
answer with no query, and the very raw SELECT answered as JSON: the least any HTTP read costs
here, so "bare + SELECT / raw" is the best ratio an HTTP API could reach. Prints p50/p95 per
route and the API/raw ratios (target: <= 1.3x), then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import time

import bare_wsgi
import benchlib as bl

COLUMNS = "id, owner_type, owner_id, label, content, description, char_limit, read_only, metadata, version, created_at, updated_at"
RAW_ONE = (f"SELECT {COLUMNS} FROM blocks WHERE owner_type = %s AND owner_id = %s AND label = %s "
           "AND deleted_at IS NULL ORDER BY label, id LIMIT 1")
RAW_LIST = (f"SELECT {COLUMNS} FROM blocks WHERE owner_type = %s AND owner_id = %s "
            "AND deleted_at IS NULL ORDER BY label, id LIMIT 50")


def measure(gunicorn, bare, key, targets, n, raw_conn, warmup=200):
    http = gunicorn.connection()
    bare_http = bare.connection()
    headers = {"Authorization": f"Api-Key {key}"}
    samples = {"detail_api": [], "detail_raw": [], "list_api": [], "list_raw": [], "floor": [],
               "bare_empty": [], "bare_select": [], "bare_list": [], "bare_list_page": [], "not_modified_api": [],
               "bare_version": []}
    not_modified = {**headers, "If-None-Match": '"1"'}
    cursor = raw_conn.cursor()

    def one(kind, owner, label, record):
        if kind == "detail":
            path = f"/api/v1/users/{owner}/blocks/{label}/"
            sql, params = RAW_ONE, ["user", owner, label]
        else:
            path = f"/api/v1/users/{owner}/blocks/"
            sql, params = RAW_LIST, ["user", owner]
        order = ("raw", "api") if random.random() < 0.5 else ("api", "raw")
        for side in order:
            started = time.perf_counter()
            if side == "raw":
                cursor.execute(sql, params)
                rows = cursor.fetchall()
                elapsed = time.perf_counter() - started
                assert rows, (sql, params)
            else:
                status, body = bl.request(http, "GET", path, headers=headers)
                elapsed = time.perf_counter() - started
                assert status == 200, (status, body[:300])
            if record:
                samples[f"{kind}_{side}"].append(elapsed)

    for i in range(warmup + n):
        _, owner, label = random.choice(targets)
        one("detail", owner, label, i >= warmup)
        one("list", owner, label, i >= warmup)
        # The floor: a path under /api/ that matches no route answers the API's JSON 404 through
        # gunicorn and every middleware, with no authentication, no view and no query.
        started = time.perf_counter()
        status, _ = bl.request(http, "GET", "/api/v1/bench-floor/", headers=headers)
        if i >= warmup:
            samples["floor"].append(time.perf_counter() - started)
        assert status == 404
        # The conditional GET (fixtures are at version 1): 304 from the API and from the bare app.
        started = time.perf_counter()
        status, _ = bl.request(http, "GET", f"/api/v1/users/{owner}/blocks/{label}/", headers=not_modified)
        if i >= warmup:
            samples["not_modified_api"].append(time.perf_counter() - started)
        assert status == 304, status
        for kind, path, expected, extra in (
            ("bare_empty", "/bare/empty/", 200, None),
            ("bare_select", f"/bare/block/{owner}/{label}/", 200, None),
            ("bare_list", f"/bare/list/{owner}/", 200, None),
            ("bare_list_page", f"/bare/list-page/{owner}/", 200, None),
            ("bare_version", f"/bare/version/{owner}/{label}/", 304, {"If-None-Match": '"1"'}),
        ):
            started = time.perf_counter()
            status, _ = bl.request(bare_http, "GET", path, headers=extra)
            if i >= warmup:
                samples[kind].append(time.perf_counter() - started)
            assert status == expected, (path, status)
    http.close()
    bare_http.close()
    return samples


def check_same_row(gunicorn, key, target, raw_conn):
    _, owner, label = target
    http = gunicorn.connection()
    status, body = bl.request(http, "GET", f"/api/v1/users/{owner}/blocks/{label}/",
                              headers={"Authorization": f"Api-Key {key}"})
    http.close()
    cursor = raw_conn.cursor()
    cursor.execute(RAW_ONE, ["user", owner, label])
    row = cursor.fetchone()
    api = json.loads(body)
    assert status == 200 and api["content"] == row[4] and api["version"] == row[9], "API and raw differ"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="timed requests per route (default 2000)")
    parser.add_argument("--learners", type=int, default=2000, help="learners x 5 blocks in the table")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    random.seed(1)

    with bl.fresh_database("reads", keep=args.keep) as name:
        targets = bl.bulk_blocks(args.learners)
        bl.dolt_commit("bench fixtures")
        raw = bl.connect(name)
        key = bl.create_agent_key()
        print(f"{len(targets)} blocks; gunicorn ({args.workers} worker(s) x {args.threads} thread(s)) ...",
              flush=True)
        with bl.Gunicorn(name, workers=args.workers, threads=args.threads) as gunicorn, \
                bl.Gunicorn(name, workers=args.workers, threads=args.threads, app=bare_wsgi.APP) as bare:
            check_same_row(gunicorn, key, targets[0], raw)
            print(f"Timing {args.n} requests per route, interleaved with raw SELECTs ...", flush=True)
            samples = measure(gunicorn, bare, key, targets, args.n, raw)
        raw.close()

    result = {"blocks": len(targets), "n": args.n, "workers": args.workers, "threads": args.threads}
    rows = []
    for route, label in (("detail", "GET users/{id}/blocks/{label}/"), ("list", "GET users/{id}/blocks/")):
        api, raw_s = bl.summary_ms(samples[f"{route}_api"]), bl.summary_ms(samples[f"{route}_raw"])
        ratio50, ratio95 = api["p50_ms"] / raw_s["p50_ms"], api["p95_ms"] / raw_s["p95_ms"]
        rows.append([label, api["p50_ms"], api["p95_ms"], raw_s["p50_ms"], raw_s["p95_ms"], ratio50, ratio95,
                     "yes" if ratio50 <= 1.3 else "no"])
        result[route] = {"api": api, "raw": raw_s, "ratio_p50": round(ratio50, 2), "ratio_p95": round(ratio95, 2),
                         "target_1_3x_met": ratio50 <= 1.3}
    floor = bl.summary_ms(samples["floor"])
    result["floor"] = floor
    rows.append(["floor: JSON 404, no view, no query", floor["p50_ms"], floor["p95_ms"], None, None, None, None, ""])
    raw_one = bl.summary_ms(samples["detail_raw"])
    for kind, label in (("bare_empty", "bare WSGI, no query"), ("bare_select", "bare WSGI + the raw SELECT")):
        bare = bl.summary_ms(samples[kind])
        result[kind] = bare
        ratio = bare["p50_ms"] / raw_one["p50_ms"]
        result[kind]["ratio_p50_to_raw_one"] = round(ratio, 2)
        rows.append([label, bare["p50_ms"], bare["p95_ms"], raw_one["p50_ms"], raw_one["p95_ms"], ratio,
                     bare["p95_ms"] / raw_one["p95_ms"], "yes" if ratio <= 1.3 else "no"])
    for kind, label in (("bare_list", "bare WSGI + COUNT and the list's SELECT"),
                        ("bare_list_page", "bare WSGI + the list's SELECT (COUNT if full)"),
                        ("bare_version", "bare WSGI + one version lookup, 304")):
        result[kind] = bl.summary_ms(samples[kind])
        rows.append([label, result[kind]["p50_ms"], result[kind]["p95_ms"], None, None, None, None, ""])
    result["not_modified"] = bl.summary_ms(samples["not_modified_api"])
    rows.append(["GET block, If-None-Match: 304", result["not_modified"]["p50_ms"],
                 result["not_modified"]["p95_ms"], None, None, None, None, ""])
    bl.print_table(["route", "API p50 ms", "API p95 ms", "raw p50 ms", "raw p95 ms", "ratio p50", "ratio p95",
                    "<=1.3x"], rows, title="API reads (gunicorn, keep-alive) vs raw SELECT (mysqlclient)")
    # Issue 17's targets: the API against the bare WSGI app doing the same queries, same run.
    floor_rows = []
    for name, api_kind, bare_kind, target in (
        ("GET users/{id}/blocks/{label}/", "detail_api", "bare_select", 1.5),
        ("GET users/{id}/blocks/", "list_api", "bare_list_page", 1.5),
        ("GET users/{id}/blocks/ vs COUNT + SELECT", "list_api", "bare_list", None),
        ("GET block, 304 (If-None-Match)", "not_modified_api", "bare_version", 1.2),
    ):
        api, bare = bl.summary_ms(samples[api_kind]), bl.summary_ms(samples[bare_kind])
        ratio = api["p50_ms"] / bare["p50_ms"]
        if target is None:  # the earlier baseline, for comparison with earlier runs
            floor_rows.append([name, api["p50_ms"], bare["p50_ms"], ratio, None, ""])
            result["to_bare"]["list_api_vs_count_select"] = {"ratio_p50": round(ratio, 2)}
            continue
        floor_rows.append([name, api["p50_ms"], bare["p50_ms"], ratio, target, "met" if ratio <= target else "missed"])
        result.setdefault("to_bare", {})[api_kind] = {"ratio_p50": round(ratio, 2), "target": target,
                                                      "met": ratio <= target}
    bl.print_table(["route", "API p50 ms", "bare p50 ms", "API / bare", "target", ""], floor_rows,
                   title="API reads vs the bare WSGI app running the same queries (issue 17)")
    bl.emit_json("api_reads", result)


if __name__ == "__main__":
    main()
