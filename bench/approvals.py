"""Approvals per second through diffs.services.approve_diff: serial, then 4 concurrent reviewers.

    .venv/bin/python bench/approvals.py [--serial 200] [--reviewers 4] [--per-reviewer 100]

A fresh database gets blocks (bulk INSERT) and one pending ``append`` proposal per block (through
diffs.services.propose_diff). Then, in this process:

1. Serial: one reviewer approves ``--serial`` diffs one after another. Each approval is one
   transaction whose COMMIT is also the Dolt commit authored by the reviewer. In rounds of 10
   they alternate with 10 raw approvals (3. below), so the machine's load hits both alike.
2. Concurrent: ``--reviewers`` threads (each with its own database connection), each approving
   its own ``--per-reviewer`` diffs on its own blocks (distinct blocks: conflicts come only from
   Dolt's commit graph, not from the rows). Dolt's 1213 retries are counted.
3. Raw baseline: the same statements an approval sends (read diff, read block, UPDATE block,
   INSERT history row, UPDATE diff, COMMIT as a Dolt commit with message and author) issued
   directly through mysqlclient for as many fresh diffs, serially and from ``--reviewers``
   concurrent connections.

Prints approvals/s, the mean ms per approval and the ratio to raw; then one JSON line.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time

import benchlib as bl


ROUND = 10  # serial approvals alternate with raw ones in rounds of this many
COMMIT_SECONDS: list[float] = []  # per raw_approvals() call: time spent in COMMIT (the Dolt commit)


class RetryCounter(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record):
        if "serialization failure" in record.getMessage():
            self.count += 1


def make_diffs(blocks):
    from diffs import services
    from youlab.actors import Actor

    diffs = []
    for block_id, owner, label in blocks:
        diff, _ = services.propose_diff(owner_id=owner, label=label, operation="append",
                                        arguments={"text": "Likes chess (bench)"}, reasoning="bench",
                                        by=Actor.agent("bench"))
        diffs.append(diff.pk)
    return diffs


def approve_all(diff_ids, reviewer, close=True):
    from django.db import connection

    from diffs import services
    from diffs.models import DiffStatus
    from youlab.actors import Actor

    by = Actor.staff(reviewer)
    try:
        for pk in diff_ids:
            result = services.approve_diff(diff_id=pk, by=by)
            assert result.status == DiffStatus.APPROVED, result.status
    finally:
        if close:  # a thread's own connection
            connection.close()


def raw_approvals(database, rows, reviewer_id):
    """The approval's statements without Django: (diff id, block id) pairs, one Dolt commit each."""
    conn = bl.connect(database, autocommit=False)
    cursor = conn.cursor()
    commit_s = 0.0
    started = time.perf_counter()
    for diff_id, block_id in rows:
        cursor.execute("SELECT id, status, base_version, proposed_content, block_id FROM pending_diffs "
                       "WHERE id = %s", [diff_id])
        diff = cursor.fetchone()
        cursor.execute("SELECT id, owner_type, owner_id, label, content, description, char_limit, read_only, "
                       "metadata, version, deleted_at, created_at, updated_at FROM blocks WHERE id = %s",
                       [block_id])
        block = cursor.fetchone()
        version = block[9] + 1
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        cursor.execute("UPDATE blocks SET content = %s, version = %s, updated_at = %s WHERE id = %s",
                       [diff[3], version, now, block_id])
        cursor.execute(
            "INSERT INTO block_history (id, owner_type, owner_id, label, content, description, char_limit, "
            "read_only, metadata, version, deleted_at, created_at, updated_at, history_change_reason, "
            "history_date, history_type, actor, diff_id, history_user_id) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '~', 'staff:bench', %s, %s)",
            [block_id, block[1], block[2], block[3], diff[3], block[5], block[6], block[7], block[8], version,
             None, block[11], now, "raw approval", now, diff_id, reviewer_id])
        cursor.execute("UPDATE pending_diffs SET status = 'approved', reviewer_id = %s, reviewed_at = %s, "
                       "updated_at = %s, applied_version = %s WHERE id = %s",
                       [reviewer_id, now, now, version, diff_id])
        cursor.execute("SET @@dolt_transaction_commit = 1, @@dolt_transaction_commit_message = %s, "
                       "@@dolt_author_name = 'Bench Reviewer', @@dolt_author_email = 'bench@youlab.local'",
                       [f"Approve diff {diff_id} (raw)"])
        before_commit = time.perf_counter()
        conn.commit()
        commit_s += time.perf_counter() - before_commit
        cursor.execute("SET @@dolt_transaction_commit = 0")
    elapsed = time.perf_counter() - started
    conn.close()
    COMMIT_SECONDS.append(commit_s)
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serial", type=int, default=200)
    parser.add_argument("--reviewers", type=int, default=4)
    parser.add_argument("--per-reviewer", type=int, default=100)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    concurrent_n = args.reviewers * args.per_reviewer
    learners = (2 * args.serial + 2 * concurrent_n) // 5 + 1

    with bl.fresh_database("approvals", keep=args.keep) as name:
        from django.contrib.auth import get_user_model

        from diffs.models import PendingDiff

        blocks = bl.bulk_blocks(learners, content_size=800)
        bl.dolt_commit("bench fixtures")
        reviewers = [get_user_model().objects.create_user(f"reviewer{n}", is_staff=True)
                     for n in range(args.reviewers)]
        print(f"Proposing {len(blocks)} diffs ...", flush=True)
        diffs = make_diffs(blocks)
        counter = RetryCounter()
        logging.getLogger("youlab.dolt").addHandler(counter)
        logging.getLogger("youlab.dolt").setLevel(logging.INFO)

        # The raw side's diffs (the statements an approval sends, through mysqlclient).
        rest = diffs[args.serial + concurrent_n:]
        pairs = [(pk.hex, block.hex) for pk, block in
                 PendingDiff.objects.filter(pk__in=rest).values_list("pk", "block_id")]
        raw_pairs, raw_conc_pairs = pairs[:args.serial], pairs[args.serial:]
        print(f"Serial: {args.serial} approvals through the service, in rounds of {ROUND} alternating "
              f"with {ROUND} raw ones (so load on the machine hits both alike) ...", flush=True)
        serial_s = raw_s = 0.0
        for start in range(0, args.serial, ROUND):
            started = time.perf_counter()
            approve_all(diffs[start:start + ROUND], reviewers[0], close=False)
            serial_s += time.perf_counter() - started
            raw_s += raw_approvals(name, raw_pairs[start:start + ROUND], reviewers[0].pk)
        serial_commit_s = sum(COMMIT_SECONDS)
        serial_retries = counter.count

        print(f"Concurrent: {args.reviewers} reviewers x {args.per_reviewer} approvals ...", flush=True)
        pool = diffs[args.serial:args.serial + concurrent_n]
        shares = [pool[n::args.reviewers] for n in range(args.reviewers)]  # distinct blocks each
        threads = [threading.Thread(target=approve_all, args=(share, reviewer))
                   for share, reviewer in zip(shares, reviewers)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        concurrent_s = time.perf_counter() - started
        concurrent_retries = counter.count - serial_retries
        approved = PendingDiff.objects.filter(status="approved").count()  # service and raw serial, concurrent
        assert approved == 2 * args.serial + concurrent_n, f"only {approved} approved (see errors above)"

        print(f"Raw: {args.reviewers} concurrent raw clients ...", flush=True)
        raw_shares = [raw_conc_pairs[n::args.reviewers] for n in range(args.reviewers)]
        threads = [threading.Thread(target=raw_approvals, args=(name, share, reviewers[0].pk))
                   for share in raw_shares]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        raw_conc_s = time.perf_counter() - started

    serial_rate, conc_rate = args.serial / serial_s, concurrent_n / concurrent_s
    raw_rate, raw_conc_rate = len(raw_pairs) / raw_s, len(raw_conc_pairs) / raw_conc_s
    bl.print_table(
        ["", "approvals", "seconds", "approvals/s", "wall ms per approval", "1213 retries"],
        [["serial (1 reviewer)", args.serial, serial_s, serial_rate, 1000 / serial_rate, serial_retries],
         [f"{args.reviewers} concurrent reviewers", concurrent_n, concurrent_s, conc_rate, 1000 / conc_rate,
          concurrent_retries],
         ["raw statements, serial", len(raw_pairs), raw_s, raw_rate, 1000 / raw_rate, "-"],
         [f"raw statements, {args.reviewers} clients", len(raw_conc_pairs), raw_conc_s, raw_conc_rate,
          1000 / raw_conc_rate, "-"]],
        title="Approvals through diffs.services.approve_diff (each one transaction + one Dolt commit)",
    )
    commit_ms = serial_commit_s / len(raw_pairs) * 1000
    print(f"raw, serial: {commit_ms:.1f} ms of the {1000 / raw_rate:.1f} ms per approval is the COMMIT "
          "(the SQL commit that is also the Dolt commit)")
    print(f"ratio service / raw: serial {raw_rate / serial_rate:.2f}x, "
          f"{args.reviewers} concurrent {raw_conc_rate / conc_rate:.2f}x")
    bl.emit_json("approvals", {
        "serial": {"n": args.serial, "seconds": round(serial_s, 2), "per_s": round(serial_rate, 1),
                   "retries": serial_retries},
        "concurrent": {"reviewers": args.reviewers, "n": concurrent_n, "seconds": round(concurrent_s, 2),
                       "per_s": round(conc_rate, 1), "retries": concurrent_retries},
        "raw": {"n": len(raw_pairs), "seconds": round(raw_s, 2), "per_s": round(raw_rate, 1),
                "commit_ms_each": round(commit_ms, 2)},
        "raw_concurrent": {"n": len(raw_conc_pairs), "seconds": round(raw_conc_s, 2),
                           "per_s": round(raw_conc_rate, 1)},
        "ratio_service_to_raw": round(raw_rate / serial_rate, 2),
        "ratio_concurrent_service_to_raw": round(raw_conc_rate / conc_rate, 2),
    })


if __name__ == "__main__":
    main()
