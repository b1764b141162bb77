"""scripts/dolt.sh backup DIR while the server runs, restore DIR into an empty data directory:
the restored server answers the same blocks, history, diffs, branches and dolt_log."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.hardening.test_faults import canonical_dump
from tests.servers import ROOT, OwnDolt

pytestmark = pytest.mark.slow

WORKER = [sys.executable, str(ROOT / "tests" / "hardening" / "_worker.py")]
LOG = "SELECT commit_hash, committer, email, date, message, author, author_email FROM dolt_log ORDER BY commit_order, commit_hash"


def history_of(server, database):
    return {
        "log": server.query(database, LOG),
        "branches": server.query(database, "SELECT name, hash FROM dolt_branches ORDER BY name"),
        "working": server.query(database, "SELECT table_name, status FROM dolt_status ORDER BY table_name"),
    }


def test_backup_then_restore_gives_the_same_data_history_and_dolt_log(own_dolt):
    own_dolt.create_databases("backup_src")
    env = own_dolt.env("backup_src")
    for args in (("setup-approvals", "12"), ("approve", "2")):
        result = subprocess.run([*WORKER, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
    own_dolt.query("backup_src", "CALL DOLT_BRANCH('import/letta-2026')")
    # Something not yet in any Dolt commit (the working set) is part of the backup too.
    own_dolt.query("backup_src", "UPDATE blocks SET description = 'edited, not committed' WHERE owner_id = 'learner-000'")
    before = canonical_dump(own_dolt, "backup_src"), history_of(own_dolt, "backup_src")
    assert len(before[1]["log"]) > 12 and before[1]["working"]

    backup_dir = Path(tempfile.mkdtemp(prefix="youlab-backup-"))
    restored = OwnDolt()
    try:
        result = own_dolt.script("backup", str(backup_dir))  # while the server runs
        assert "backup complete" in result.stderr
        assert (backup_dir / "backup.json").is_file() and (backup_dir / "backup_src").is_dir()

        refused = own_dolt.script("restore", str(backup_dir), check=False)  # onto the live data dir
        assert refused.returncode != 0 and "stop it" in refused.stderr
        restored.script("restore", str(backup_dir))
        again = restored.script("restore", str(backup_dir), check=False)  # no longer empty
        assert again.returncode != 0 and "not empty" in again.stderr
        restored.start()
        assert canonical_dump(restored, "backup_src") == before[0]
        assert history_of(restored, "backup_src") == before[1]
    finally:
        restored.cleanup()
        subprocess.run(["rm", "-rf", str(backup_dir)], check=False)
