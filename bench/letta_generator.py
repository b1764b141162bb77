"""Generate a Letta-0.11.7-shaped SQLite database of any size, for benchmarks.

The schema is Letta's own (tests/fixtures/letta/schema.sql, dumped from a real 0.11.7
database); rows follow the shape of the shared fixture: per learner a tutor agent with
`youlab_user_id` metadata, five templated blocks, and `history_per_block` checkpoints each,
plus one shared read-only course block attached to every agent.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tests" / "fixtures" / "letta" / "schema.sql"
ORG = "org-00000000-0000-4000-8000-000000000000"
USER = "user-00000000-0000-4000-8000-000000000000"
LABELS = [("human", 5000), ("persona", 5000), ("student", 8000), ("journey", 10000), ("engagement_strategy", 4000)]
WORDS = "essay bakery night shift story voice draft revise reflect family school goal chess 学习 🙂 café".split()


def _text(rng: random.Random, n_words: int) -> str:
    lines = []
    for i in range(0, n_words, 12):
        lines.append("- " + " ".join(rng.choice(WORDS) for _ in range(min(12, n_words - i))))
    return "\n".join(lines) + "\n"


def generate(path: Path, learners: int, history_per_block: int = 4, seed: int = 7) -> dict:
    rng = random.Random(seed)
    path = Path(path)
    if path.exists():
        path.unlink()
    db = sqlite3.connect(path)
    schema = SCHEMA.read_text()
    db.executescript(schema)
    now = "2026-11-28 22:47:41"
    db.execute(
        "INSERT INTO organizations (name, privileged_tools, id, created_at, updated_at, is_deleted) "
        "VALUES ('default', 0, ?, ?, ?, 0)", (ORG, now, now))
    db.execute(
        "INSERT INTO users (name, id, created_at, updated_at, is_deleted, organization_id) "
        "VALUES ('default', ?, ?, ?, 0, ?)", (USER, now, now, ORG))

    course_id = "block-" + str(uuid.UUID(int=rng.getrandbits(128)))
    blocks, links, history, agents = [], [], [], []
    blocks.append((course_id, "course", "youlab_shared_college-essay_course", _text(rng, 120), 12000,
                   json.dumps({"youlab_shared": True, "course_id": "college-essay"}), 1, None))
    counts = {"learners": learners, "blocks": 1, "history": 0}
    for n in range(learners):
        user_id = str(uuid.UUID(int=rng.getrandbits(128)))
        agent_id = "agent-" + str(uuid.UUID(int=rng.getrandbits(128)))
        meta = {"youlab_user_id": user_id, "youlab_agent_type": "tutor", "course_id": "college-essay"}
        agents.append((agent_id, "memgpt_agent", f"youlab_{user_id}_tutor", json.dumps(meta), now, now))
        links.append((agent_id, course_id, "course"))
        for label, limit in LABELS:
            block_id = "block-" + str(uuid.UUID(int=rng.getrandbits(128)))
            versions = [_text(rng, 40 + 10 * k) for k in range(history_per_block)]
            hist_ids = []
            for seq, value in enumerate(versions, start=1):
                hid = "block_hist-" + str(uuid.UUID(int=rng.getrandbits(128)))
                hist_ids.append(hid)
                history.append((hid, label, value, limit, json.dumps(meta), "letta_user", USER, block_id, seq,
                                ORG, now, now, 0))
            value = versions[-1] if versions else _text(rng, 40)
            blocks.append((block_id, label, f"youlab_user_{user_id}_{label}", value, limit,
                           json.dumps({**meta, "youlab_block": label}), 0, hist_ids[-1] if hist_ids else None))
            links.append((agent_id, block_id, label))
            counts["blocks"] += 1
            counts["history"] += len(versions)
        if len(history) > 20000:
            _flush(db, agents, blocks, links, history, now)
    _flush(db, agents, blocks, links, history, now)
    db.commit()
    db.close()
    return counts


def _flush(db, agents, blocks, links, history, now):
    db.executemany(
        "INSERT INTO agents (id, agent_type, name, metadata_, created_at, updated_at, is_deleted, "
        "organization_id, message_buffer_autoclear, enable_sleeptime, hidden) "
        f"VALUES (?, ?, ?, ?, ?, ?, 0, '{ORG}', 0, 0, 0)", agents)
    db.executemany(
        'INSERT INTO block (id, label, template_name, value, "limit", metadata_, read_only, '
        "current_history_entry_id, is_template, preserve_on_migration, version, organization_id, "
        f"created_at, updated_at, is_deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 1, '{ORG}', "
        f"'{now}', '{now}', 0)", blocks)
    db.executemany("INSERT INTO blocks_agents (agent_id, block_id, block_label) VALUES (?, ?, ?)", links)
    db.executemany(
        'INSERT INTO block_history (id, label, value, "limit", metadata_, actor_type, actor_id, block_id, '
        "sequence_number, organization_id, created_at, updated_at, is_deleted) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", history)
    for rows in (agents, blocks, links, history):
        rows.clear()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path")
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--history-per-block", type=int, default=4)
    args = parser.parse_args()
    print(generate(Path(args.path), args.learners, args.history_per_block))
