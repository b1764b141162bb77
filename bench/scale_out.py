"""Scale-out: a Dolt cluster (primary + standby) against the primary alone, in one run.

    .venv/bin/python bench/scale_out.py [--clients 8,16,32] [--seconds 8] [--approvals 40 --rounds 3]

Starts its own servers on free ports in a temporary directory (never the project's): a cluster
with scripts/cluster.sh (primary + standby, direct-to-standby replication, COMMIT waits for the
standby: DOLT_CLUSTER_ACK_TIMEOUT) and a standalone server with scripts/dolt.sh. Then:

1. Read throughput: `GET /api/v1/users/{id}/blocks/{label}/` from 8, 16 and 32 concurrent
   keep-alive clients (in 4 client processes) for ``--seconds`` each, against two gunicorn apps
   on the same cluster data: "primary alone" (DATABASE_URL only) and "primary + standby" (agent
   reads routed to the standby by DATABASE_REPLICA_URLS). Same gunicorn set-up for both, measured
   interleaved; prints requests/s and the ratio.
2. Approval throughput: `diffs.services.approve_diff` serially (each one transaction and one
   Dolt commit), ``--rounds`` x ``--approvals`` on the cluster's primary (standby attached, each
   COMMIT waits for it) and on the standalone server (nothing to wait for), alternating rounds;
   prints approvals/s and the ratio (the cost of synchronous replication).

Everything runs on the one machine, so the standby takes CPU from the primary and the app: the
ratios say what a second database process buys or costs here, not on separate hosts.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import benchlib as bl

ROOT = bl.ROOT
USER, PASSWORD = bl.USER, bl.PASSWORD


def url(port: int, db: str = "youlab") -> str:
    return f"mysql://{USER}:{PASSWORD}@127.0.0.1:{port}/{db}"


def child_env(database_url: str, **extra) -> dict:
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="youlab.settings",
               DJANGO_SECRET_KEY=bl.SECRET_KEY, **bl.PRODUCTION_ENV, **extra)
    env.pop("DJANGO_DEBUG", None)
    env.pop("DATABASE_REPLICA_URLS", None)
    return env


def run(cmd, env, timeout=600) -> str:
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    return result.stdout


# --- servers -------------------------------------------------------------------------------------


class Servers:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="youlab-scaleout-"))
        self.cluster_ports = [bl.free_port(), bl.free_port()]
        self.remotesapi = [bl.free_port(), bl.free_port()]
        self.alone_port = bl.free_port()
        self.cluster_env = dict(os.environ, CLUSTER_PORTS=" ".join(map(str, self.cluster_ports)),
                                CLUSTER_REMOTESAPI_PORTS=" ".join(map(str, self.remotesapi)),
                                CLUSTER_DIR=str(self.dir / "cluster"))
        self.alone_env = dict(os.environ, DOLT_PORT=str(self.alone_port), DOLT_DATA_DIR=str(self.dir / "alone" / "dolt"))

    def start(self):
        print(f"Starting a cluster on {self.cluster_ports} and a standalone server on {self.alone_port} ...", flush=True)
        run([str(ROOT / "scripts" / "cluster.sh"), "start"], self.cluster_env)
        run([str(ROOT / "scripts" / "dolt.sh"), "start"], self.alone_env)

    def stop(self):
        with contextlib.suppress(SystemExit):
            run([str(ROOT / "scripts" / "cluster.sh"), "stop"], self.cluster_env)
        with contextlib.suppress(SystemExit):
            run([str(ROOT / "scripts" / "dolt.sh"), "stop"], self.alone_env)
        shutil.rmtree(self.dir, ignore_errors=True)


# --- reads -----------------------------------------------------------------------------------------


def _client_process(port: int, key: str, targets: list, threads: int, seconds: float) -> tuple[int, int]:
    import http.client

    ok = errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client():
        nonlocal ok, errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine_ok = mine_err = 0
        rnd = random.Random()
        while time.monotonic() < deadline:
            owner, label = rnd.choice(targets)
            conn.request("GET", f"/api/v1/users/{owner}/blocks/{label}/", headers={"Authorization": f"Api-Key {key}"})
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                mine_ok += 1
            else:
                mine_err += 1
        conn.close()
        with lock:
            ok += mine_ok
            errors += mine_err

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return ok, errors


def throughput(port: int, key: str, targets: list, clients: int, seconds: float) -> float:
    processes = min(4, clients)
    with concurrent.futures.ProcessPoolExecutor(processes) as pool:
        started = time.perf_counter()
        futures = [pool.submit(_client_process, port, key, targets, clients // processes, seconds)
                   for _ in range(processes)]
        results = [f.result() for f in futures]
        elapsed = time.perf_counter() - started
    ok, errors = sum(r[0] for r in results), sum(r[1] for r in results)
    if errors:
        raise SystemExit(f"{errors} requests failed on port {port}")
    return ok / elapsed


# --- approvals (child processes: one Django per database server) -------------------------------------


def child_setup(n: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from blocks import services as block_services
    from diffs import services
    from youlab import dolt
    from youlab.actors import Actor

    get_user_model().objects.get_or_create(username="bench-reviewer", defaults={"is_staff": True})
    for i in range(n):
        block = block_services.create_block(owner_id=f"approve-{i:05d}", label="student",
                                            content=f"# Student {i}\nGoal: essays\n", dolt_commit=False)
        services.propose_diff(owner_id=block.owner_id, label=block.label, operation="append",
                              arguments={"text": "Likes chess (bench)"}, by=Actor.agent("bench"))
    dolt.commit("bench: approvals fixtures")


def child_approve(n: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from diffs import services
    from diffs.models import DiffStatus, PendingDiff
    from youlab.actors import Actor

    reviewer = Actor.staff(get_user_model().objects.get(username="bench-reviewer"))
    pending = list(PendingDiff.objects.filter(status=DiffStatus.PENDING).order_by("owner_id")
                   .values_list("pk", flat=True)[:n])
    assert len(pending) == n, (len(pending), n)
    started = time.perf_counter()
    for pk in pending:
        assert services.approve_diff(diff_id=pk, by=reviewer).status == DiffStatus.APPROVED
    print(f"elapsed {time.perf_counter() - started:.6f}")


def approve_round(database_url: str, n: int) -> float:
    out = run([sys.executable, __file__, "_approve", str(n)], child_env(database_url))
    return float(out.strip().splitlines()[-1].split()[1])


# --- main ------------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="8,16,32")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--approvals", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    servers = Servers()
    try:
        servers.start()
        primary, standby = servers.cluster_ports
        for port in (primary, servers.alone_port):
            run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], child_env(url(port)))
        rows = bl.bulk_blocks_in_child(args.learners, "bench fixtures", env=child_env(url(primary)))
        targets = [(owner, label) for _, owner, label in rows]
        key = run([sys.executable, "manage.py", "create_agent_key", "bench"], child_env(url(primary))).strip()

        print(f"{len(targets)} blocks; gunicorn {args.workers} workers x {args.threads} threads per app ...", flush=True)
        result = {"blocks": len(targets), "workers": args.workers, "threads": args.threads, "reads": {}}
        alone = bl.Gunicorn("youlab", workers=args.workers, threads=args.threads,
                            extra_env={"DATABASE_URL": url(primary), "DATABASE_REPLICA_URLS": ""})
        both = bl.Gunicorn("youlab", workers=args.workers, threads=args.threads,
                           extra_env={"DATABASE_URL": url(primary), "DATABASE_REPLICA_URLS": url(standby)})
        rows_out = []
        try:
            for app in (alone, both):
                throughput(app.port, key, targets, 4, 2.0)  # warm-up: connections, caches
            for n in clients:
                a = throughput(alone.port, key, targets, n, args.seconds)
                b = throughput(both.port, key, targets, n, args.seconds)
                result["reads"][n] = {"primary_alone_rps": round(a, 1), "primary_standby_rps": round(b, 1),
                                      "ratio": round(b / a, 2)}
                rows_out.append([f"GET block, {n} clients", a, b, b / a])
                print(f"  {n} clients: {a:.1f} vs {b:.1f} req/s", flush=True)
        finally:
            alone.stop()
            both.stop()

        total = args.approvals * args.rounds
        print(f"Approvals: {total} on each server, {args.rounds} alternating rounds ...", flush=True)
        run([sys.executable, __file__, "_setup", str(total)], child_env(url(primary)))
        run([sys.executable, __file__, "_setup", str(total)], child_env(url(servers.alone_port)))
        cluster_s = alone_s = 0.0
        for _ in range(args.rounds):
            cluster_s += approve_round(url(primary), args.approvals)
            alone_s += approve_round(url(servers.alone_port), args.approvals)
        with_standby, without = total / cluster_s, total / alone_s
        lag = run([str(ROOT / "scripts" / "dolt.sh"), "role"], dict(servers.cluster_env, DOLT_PORT=str(standby),
                  DOLT_DATA_DIR=str(servers.dir / "cluster" / f"node-{standby}" / "dolt"))).strip()
        result["approvals"] = {"with_standby_per_s": round(with_standby, 1), "standalone_per_s": round(without, 1),
                               "ratio": round(with_standby / without, 2), "n": total, "standby_role": lag}
        rows_out.append(["approvals/s, serial", without, with_standby, with_standby / without])
        bl.print_table(["what", "primary alone / standalone", "with standby", "ratio"], rows_out,
                       title="Scale-out (same machine): reads routed to a standby; approvals with synchronous replication")
        bl.emit_json("scale_out", result)
    finally:
        servers.stop()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_setup":
        child_setup(int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "_approve":
        child_approve(int(sys.argv[2]))
    else:
        main()
