"""Staff admin pages at scale: time and query count, small vs 100,000 blocks / 10,000 pending diffs.

    .venv/bin/python bench/admin.py [--blocks 100000] [--pending 10000] [--repeat 5]

A fresh database is loaded with raw multi-row INSERTs (fast): first a small set (1,000 blocks,
100 pending diffs), measured; then grown to ``--blocks`` blocks (with one history row each) and
``--pending`` pending diffs plus 20% decided ones, measured again. Every learner has a name
(learners + learner_name_words, words made by learners.names as the service makes them): one
name made of one of 50 first names and one of 16 family names, so "thompson" matches 6% of them
(more than a page of blocks even in the small set), and one probe learner with a name nobody
else has. Each page is requested through Django's test Client as a logged-in staff
user, ``--repeat`` times after one warm-up; the table shows the median time and the query count
(CaptureQueriesContext), which must not grow with the data (the target: constant query counts).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone

import benchlib as bl

DIFF_COLUMNS = ["id", "owner_type", "owner_id", "label", "block_id", "operation", "arguments",
                "proposed_content", "preview", "base_version", "reasoning", "agent_key_name", "agent_id",
                "status", "conflict_reason", "review_note", "request_fingerprint", "metadata",
                "created_at", "updated_at", "reviewer_id", "reviewed_at", "applied_version"]


FIRST_NAMES = [
    "Maya", "Sofia", "Liam", "Noah", "Amara", "Xiaoming", "Elodie", "Mateo", "Zoe", "Ravi", "Ines", "Kofi",
    "Hana", "Jonas", "Lucia", "Omar", "Priya", "Tariq", "Yuki", "Nadia", "Felix", "Greta", "Ivan", "Leila",
    "Marco", "Nina", "Oscar", "Paula", "Quinn", "Rosa", "Sami", "Tess", "Uma", "Victor", "Wen", "Yara",
    "Aiden", "Bea", "Caleb", "Dara", "Emil", "Farah", "Gus", "Hugo", "Iris", "Jada", "Kai", "Lena", "Milo", "Nora",
]
LAST_NAMES = ["Thompson", "Ramírez-Núñez", "Wang", "Okafor", "Martin", "Svensson", "Kowalski", "Haddad",
              "Nakamura", "O'Brien", "Rossi", "Dubois", "Silva", "Novak", "Khan", "Meyer"]
PROBE_NAME = "Zora Quintanilla"


def insert_learners(cursor, owners: list[str], probe: str) -> None:
    """A profile (and its search words) for each owner, as learners.services would write them."""
    from learners.names import name_words

    now = time.strftime("%Y-%m-%d %H:%M:%S")
    profiles, words = [], []
    for n, owner in enumerate(owners):
        name = PROBE_NAME if owner == probe else f"{FIRST_NAMES[n % 50]} {LAST_NAMES[n % 16]}"
        profiles.append((owner, name, "", "import:bench", now, now))
        words += [(owner, word) for word in sorted(name_words(name))]
    bl.insert_rows(cursor, "learners", ["user_id", "display_name", "email", "updated_by", "created_at",
                                        "updated_at"], profiles)
    bl.insert_rows(cursor, "learner_name_words", ["user_id", "word"], words)


def pages(probe_owner: str, pending: int, blocks: int) -> list[tuple[str, str]]:
    # A deep page: the 40th (150th) at full size, the last one of the small set. The lists count
    # at most 10,000 rows (CappedCountPaginator), so page 200 is the deepest one can go.
    diff_page, block_page = min(40, pending // 50), min(150, blocks // 50)
    return [
        ("review queue (pending diffs)", "/admin/diffs/pendingdiff/"),
        ("review queue, a deep page", f"/admin/diffs/pendingdiff/?p={diff_page}"),
        ("review queue, one learner", f"/admin/diffs/pendingdiff/?learner={probe_owner}"),
        ("review queue, search one learner's name", "/admin/diffs/pendingdiff/?q=zora+quint"),
        ("review queue, search a common name (6% of learners)", "/admin/diffs/pendingdiff/?q=thompson"),
        ("review queue, all statuses", "/admin/diffs/pendingdiff/?status=all"),
        ("block list", "/admin/blocks/block/"),
        ("block list, a deep page", f"/admin/blocks/block/?p={block_page}"),
        ("block list, one learner", f"/admin/blocks/block/?q={probe_owner}"),
        ("block list, search one learner's name", "/admin/blocks/block/?q=quintanilla"),
        ("block list, search a common name (6%)", "/admin/blocks/block/?q=thompson"),
        ("block list, by updated_at", "/admin/blocks/block/?o=-6"),
        ("block list, soft-deleted", "/admin/blocks/block/?state=deleted"),
        ("learners", "/admin/learners/"),
        ("learners, search one name", "/admin/learners/?q=zora"),
        ("learners, search a common name (6%)", "/admin/learners/?q=thompson"),
        ("one learner's page", f"/admin/learners/{probe_owner}/"),
        ("one learner's page as of a date", f"/admin/learners/{probe_owner}/?as_of=2100-01-01T00:00"),
    ]


def insert_diffs(cursor, blocks, pending: int, decided: int, reviewer_id: int, start: int):
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = []
    for n in range(pending + decided):
        block_id, owner, label = blocks[(start + n) % len(blocks)]
        is_pending = n < pending
        created = now - timedelta(seconds=(start + n) * 7)
        text = f"Mentioned chess again ({start + n})"
        rows.append((
            uuid.uuid4().hex, "user", owner, label, block_id, "append", json.dumps({"text": text}),
            bl.block_content(0, 300) + "\n" + text, f"--- a/{label}\n+++ b/{label}\n+{text}\n", 1,
            "She brought it up twice.", "tutor", "agent-1", "pending" if is_pending else ("approved" if n % 2 else "rejected"),
            "", "", "0" * 64, "{}", created, created,
            None if is_pending else reviewer_id, None if is_pending else created, None if is_pending or n % 2 == 0 else 2,
        ))
    bl.insert_rows(cursor, "pending_diffs", DIFF_COLUMNS, rows)


def measure(client, repeat: int, probe_owner: str, pending: int, blocks: int) -> list[dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    results = []
    for title, url in pages(probe_owner, pending, blocks):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        times, queries = [], None
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                times.append(time.perf_counter() - started)
            assert response.status_code == 200, (url, response.status_code)
            queries = len(captured)
        results.append({"page": title, "url": url, "ms": round(statistics.median(times) * 1000, 1),
                        "queries": queries})
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=100_000)
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    small_learners, small_pending = 200, 100

    with bl.fresh_database("admin", keep=args.keep) as name:
        from django.contrib.auth import get_user_model
        from django.test import Client

        staff = get_user_model().objects.create_user("rita", is_staff=True, is_superuser=True)
        client = Client()
        client.force_login(staff)
        raw = bl.connect(name)
        cursor = raw.cursor()

        blocks = bl.bulk_blocks(small_learners)
        insert_diffs(cursor, blocks, small_pending, small_pending // 5, staff.pk, 0)
        probe = blocks[len(blocks) // 2][1]
        insert_learners(cursor, sorted({owner for _, owner, _ in blocks}), probe)
        bl.dolt_commit("bench fixtures (small)")
        print(f"Measuring at {len(blocks)} blocks / {small_pending} pending diffs ...", flush=True)
        small = measure(client, args.repeat, probe, small_pending, len(blocks))

        learners = args.blocks // len(bl.LABELS) - small_learners
        started = time.perf_counter()
        more = bl.bulk_blocks(learners, content_size=600, owner_prefix="big")
        blocks += more
        insert_diffs(cursor, more, args.pending - small_pending, (args.pending - small_pending) // 5, staff.pk,
                     small_pending * 2)
        insert_learners(cursor, sorted({owner for _, owner, _ in more}), probe)
        bl.dolt_commit("bench fixtures (large)")
        load_s = time.perf_counter() - started
        cursor.execute("SELECT COUNT(*) FROM blocks")
        n_blocks = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM pending_diffs WHERE status = 'pending'")
        n_pending = cursor.fetchone()[0]
        print(f"Loaded to {n_blocks} blocks / {n_pending} pending diffs in {load_s:.0f} s (raw INSERTs); "
              "measuring ...", flush=True)
        large = measure(client, args.repeat, probe, n_pending, n_blocks)
        raw.close()

    rows = []
    for s, l in zip(small, large):
        rows.append([s["page"] + (f" ({s['url'].split('?')[1]} / {l['url'].split('?')[1]})" if "p=" in s["url"] else ""), s["ms"], s["queries"], l["ms"], l["queries"],
                     "yes" if s["queries"] == l["queries"] else "NO"])
    bl.print_table(
        ["page", "small ms", "small queries", "large ms", "large queries", "constant"], rows,
        title=(f"Admin pages: small = {small_learners * 5} blocks / {small_pending} pending, "
               f"large = {n_blocks} blocks / {n_pending} pending (median of {args.repeat})"),
    )
    constant = all(s["queries"] == l["queries"] for s, l in zip(small, large))
    print(f"constant query counts: {'met' if constant else 'MISSED'}")
    bl.emit_json("admin", {"blocks": n_blocks, "pending": n_pending, "small": small, "large": large,
                           "constant_queries": constant, "load_seconds": round(load_s, 1)})


if __name__ == "__main__":
    main()
