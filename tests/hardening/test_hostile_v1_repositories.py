"""Hostile YouLab v1 data roots (issue 13): a learner's repository is data, never a program.

Each test builds, with real git, a data root holding one hostile learner next to a normal one,
runs ``manage.py import_youlab_v1`` as an operator would, and checks what a person would notice:
no program the repository names ran (marker files absent), nothing from outside the learner's
folder reached a block, the hostile item is reported in ``--report`` and the summary, and the
normal learner (and the hostile learner's good blocks, where it is not refused whole) imported.

Where a hostile set-up claims git would run a program, the test first shows that plain git on a
copy of the repository does run it, so the set-up is live and the test can fail.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from blocks.models import Block, HistoricalBlock
from diffs.models import PendingDiff
from tests.importing.v1_builder import V1Repo, run_git
from youlab import dolt

GOOD = "good-learner"
GOOD_TEXT = "Good learner's own notes"
SECRET = "OUTSIDE-THE-DATA-ROOT-7f3a9c"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def clean_dolt(transactional_db):
    dolt.commit("test start: clean working set")
    yield


@pytest.fixture
def root(tmp_path) -> Path:
    path = tmp_path / "users"
    path.mkdir()
    V1Repo(path, GOOD).write_md("student", GOOD_TEXT)
    return path


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder outside the data root with a secret file and a full repository of its own."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text(SECRET)
    (path / "blocks").mkdir()
    (path / "blocks" / "student.md").write_text(f"---\nblock: student\n---\n\n{SECRET}")
    other = V1Repo(path, "other-repo")
    other.write_md("student", f"another repository's block {SECRET}")
    return path


@pytest.fixture
def markers(tmp_path) -> Path:
    path = tmp_path / "markers"
    path.mkdir()
    return path


def program(markers: Path, name: str) -> str:
    """An executable that leaves markers/MARK_<name> behind when anything runs it."""
    script = markers.parent / f"evil-{name}.sh"
    # It never reads its input: git waiting on a program (an ssh transport, a filter) never hangs.
    script.write_text(f"#!/bin/sh\ntouch '{markers}/MARK_{name}'\nexit 0\n")
    script.chmod(0o755)
    return str(script)


def fired(markers: Path) -> list[str]:
    return sorted(p.name for p in markers.iterdir())


def naive_git(repo: Path, *args: str, stdin: str | None = None) -> None:
    """Plain git, as the importer used to run it: the repository's own config is obeyed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, check=False,
                   input=(stdin or "").encode(), timeout=30)


def live_copy(repo: Path, tmp_path: Path) -> Path:
    """A copy to show the set-up is live on, leaving the learner's repository untouched."""
    copy = tmp_path / "live-copy" / repo.name
    shutil.copytree(repo, copy, symlinks=True)
    return copy


def import_v1(root: Path, tmp_path: Path, *args: str) -> tuple[dict, str]:
    report_path = tmp_path / "report.json"
    out = io.StringIO()
    call_command("import_youlab_v1", str(root), *args, "--report", str(report_path),
                 stdout=out, stderr=io.StringIO())
    return json.loads(report_path.read_text(encoding="utf-8")), out.getvalue()


def skipped(report: dict, kind: str | None = None) -> dict[str, str]:
    return {i["key"]: i["reason"] for i in report["items"]
            if i["action"] == "skipped" and (kind is None or i["kind"] == kind)}


def assert_good_learner_imported() -> None:
    block = Block.objects.get(owner_id=GOOD, label="student")
    assert block.content == GOOD_TEXT


def stored_texts() -> list[str]:
    """Everything an import can have written that a reader could later see."""
    texts = []
    for block in Block.objects.all():
        texts += [block.content, json.dumps(block.metadata)]
    texts += list(HistoricalBlock.objects.values_list("content", flat=True))
    for diff in PendingDiff.objects.all():
        texts += [json.dumps(diff.arguments), diff.proposed_content or "",
                  json.dumps(diff.metadata)]
    return texts


def assert_nothing_from_outside(*needles: str) -> None:
    for text in stored_texts():
        for needle in needles:
            assert needle not in text


def environ_entries() -> list[str]:
    """What /proc/self/environ holds (for the importing process: this one)."""
    raw = Path("/proc/self/environ").read_bytes().split(b"\0")
    return [e.decode("utf-8", "replace") for e in raw if len(e) >= 12]


# --------------------------------------------------------------------------- config-named programs


def test_programs_named_by_the_repository_never_run_and_it_still_imports(root, markers, tmp_path):
    repo = V1Repo(root, "kitchen-sink")
    repo.write(".gitattributes", "*.md diff=evil filter=evil merge=evil\n")
    repo.commit(".gitattributes", "attributes", who="user")
    repo.write_md("student", "first")
    repo.write_md("student", "second")
    repo.write_md("journey", "a journey")
    include = tmp_path / "evil-include.config"
    include.write_text(f"[diff \"evil\"]\n\ttextconv = {program(markers, 'include_textconv')}\n")
    settings = {
        "core.fsmonitor": program(markers, "fsmonitor"),
        "core.pager": program(markers, "pager"),
        "core.sshCommand": program(markers, "ssh"),
        "core.gitProxy": program(markers, "gitproxy"),
        "core.askPass": program(markers, "askpass"),
        "core.editor": program(markers, "editor"),
        "core.alternateRefsCommand": program(markers, "alternate_refs"),
        "core.hooksPath": str(markers.parent / "evil-hooks"),
        "credential.helper": "!" + program(markers, "credential"),
        "diff.external": program(markers, "diff_external"),
        "filter.evil.clean": program(markers, "filter_clean"),
        "filter.evil.smudge": program(markers, "filter_smudge"),
        "merge.evil.driver": program(markers, "merge_driver"),
        "gpg.program": program(markers, "gpg"),
        "log.showSignature": "true",
        "pager.log": program(markers, "pager_log"),
        "uploadpack.packObjectsHook": program(markers, "pack_objects_hook"),
        "uploadpack.allowAnySHA1InWant": "true",
        "protocol.allow": "always",
        "remote.origin.url": f"ext::sh -c touch% {markers}/MARK_ext_remote",
        "include.path": str(include),
    }
    for key, value in settings.items():
        repo.git("config", key, value)
    hooks = markers.parent / "evil-hooks"
    hooks.mkdir()
    for name in ("pre-commit", "post-checkout", "post-index-change", "reference-transaction",
                 "pre-auto-gc", "post-rewrite", "fsmonitor-watchman"):
        for folder in (hooks, repo.path / ".git" / "hooks"):
            (folder / name).write_text(f"#!/bin/sh\ntouch '{markers}/MARK_hook_{name}'\n")
            (folder / name).chmod(0o755)

    # Live: plain git on a copy runs the repository's programs.
    copy = live_copy(repo.path, tmp_path)
    (copy / "memory-blocks" / "student.md").write_text("changed in the copy")
    naive_git(copy, "status")
    naive_git(copy, "diff")
    naive_git(copy, "log", "-p")
    naive_git(copy, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "-am", "x")
    assert {"MARK_fsmonitor", "MARK_filter_clean", "MARK_include_textconv",
            "MARK_hook_pre-commit"} <= set(fired(markers))
    for marker in markers.iterdir():
        marker.unlink()

    report, out = import_v1(root, tmp_path)

    assert fired(markers) == []
    assert_good_learner_imported()
    student = Block.objects.get(owner_id="kitchen-sink", label="student")
    assert student.content == "second"
    assert [h.content for h in HistoricalBlock.objects.filter(id=student.id).order_by(
        "version")] == ["first", "second"]
    assert Block.objects.get(owner_id="kitchen-sink", label="journey").content == "a journey"
    assert "kitchen-sink" not in skipped(report, "learner")


def make_partial_clone(repo: V1Repo, url: str, extra: dict[str, str]) -> None:
    """Declare a partial clone with a promisor remote and lose one object, as in issue 13."""
    blob = repo.git("rev-parse", "HEAD:memory-blocks/student.md").strip()
    (repo.path / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    settings = {
        "core.repositoryformatversion": "1",
        "extensions.partialClone": "origin",
        "remote.origin.url": url,
        "remote.origin.promisor": "true",
        "remote.origin.partialclonefilter": "blob:none",
        **extra,
    }
    for key, value in settings.items():
        repo.git("config", key, value)


@pytest.mark.parametrize("transport", ["ssh", "ext"])
def test_partial_clone_with_a_promisor_remote_is_refused_and_runs_nothing(
    root, markers, tmp_path, transport
):
    repo = V1Repo(root, "promisor")
    repo.write_md("student", "its only block")
    if transport == "ssh":
        make_partial_clone(repo, "ssh://attacker.invalid/x.git",
                           {"core.sshCommand": program(markers, "ssh")})
    else:
        make_partial_clone(repo, f"ext::sh -c touch% {markers}/MARK_ext",
                           {"protocol.ext.allow": "always"})

    naive_git(live_copy(repo.path, tmp_path), "log", "-p")  # the lazy fetch runs the program
    assert fired(markers) == [f"MARK_{transport}"]
    (markers / f"MARK_{transport}").unlink()

    report, out = import_v1(root, tmp_path)

    assert fired(markers) == []
    reason = skipped(report, "learner")["promisor"]
    assert "partial clone" in reason
    assert "partial clone" in out  # the summary groups skipped reasons
    assert not Block.objects.filter(owner_id="promisor").exists()
    assert_good_learner_imported()


def test_missing_objects_refuse_the_repository(root, tmp_path):
    repo = V1Repo(root, "lossy")
    repo.write_md("student", "v1")
    repo.write_md("student", "v2")
    blob = repo.git("rev-parse", "HEAD~1:memory-blocks/student.md").strip()
    (repo.path / ".git" / "objects" / blob[:2] / blob[2:]).unlink()

    report, _ = import_v1(root, tmp_path)

    assert "objects are missing" in skipped(report, "learner")["lossy"]
    assert not Block.objects.filter(owner_id="lossy").exists()
    assert_good_learner_imported()


def test_borrowed_objects_and_other_repositories_are_not_read(root, outside, tmp_path):
    """alternates, a .git link, a `gitdir:` file, a link inside .git: another repository."""
    other = outside / "other-repo"
    head = run_git(other, "rev-parse", "HEAD").strip()

    borrow = V1Repo(root, "borrower")
    (borrow.path / ".git" / "objects" / "info" / "alternates").write_text(
        f"{other / '.git' / 'objects'}\n")
    (borrow.path / ".git" / "refs" / "heads" / "master").write_text(head + "\n")

    linked = root / "git-link"
    linked.mkdir()
    (linked / ".git").symlink_to(other / ".git")

    gitfile = root / "git-file"
    gitfile.mkdir()
    (gitfile / ".git").write_text(f"gitdir: {other / '.git'}\n")

    inner = V1Repo(root, "inner-link")
    inner.write_md("student", "inner")
    objects = inner.path / ".git" / "objects"
    shutil.move(objects, inner.path.parent.parent / "moved-objects")
    objects.symlink_to(inner.path.parent.parent / "moved-objects")

    report, _ = import_v1(root, tmp_path)

    refused = skipped(report, "learner")
    assert "alternates" in refused["borrower"]
    assert ".git is a symbolic link" in refused["git-link"]
    assert "gitdir:" in refused["git-file"] and "not followed" in refused["git-file"]
    assert ".git/objects is a symbolic link" in refused["inner-link"]
    for uid in ("borrower", "git-link", "git-file", "inner-link"):
        assert not Block.objects.filter(owner_id=uid).exists()
    assert_nothing_from_outside(SECRET)
    assert_good_learner_imported()


# --------------------------------------------------------------------------- symbolic links


def test_linked_block_files_are_never_followed(root, outside, tmp_path):
    repo = V1Repo(root, "linker")
    repo.write_md("student", "kept")
    blocks = repo.path / "memory-blocks"
    # On disk only: the reproduction of issue 13 (the importer's environment became a block).
    (blocks / "env.md").symlink_to("/proc/self/environ")
    (blocks / "secret.md").symlink_to(outside / "secret.txt")
    # Committed as a regular file, replaced by a link on disk afterwards.
    repo.write_md("journey", "committed journey")
    (blocks / "journey.md").unlink()
    (blocks / "journey.md").symlink_to(outside / "secret.txt")
    # A link committed to history (mode 120000): its blob is the target's path, never read.
    (blocks / "history.md").symlink_to(outside / "secret.txt")
    repo.commit("memory-blocks/history.md", "a link in history", who="user")
    # A link in history that is a regular file again on disk: the link version is not imported.
    (blocks / "notes.md").symlink_to("/proc/self/environ")
    repo.commit("memory-blocks/notes.md", "notes as a link", who="user")
    (blocks / "notes.md").unlink()
    repo.write_md("notes", "real notes")
    # A FIFO where a block file was: opening it must not hang the import.
    repo.write_md("engagement", "committed")
    (blocks / "engagement.md").unlink()
    os.mkfifo(blocks / "engagement.md")
    # A pending diff that is a link to a JSON file outside.
    (outside / "diff.json").write_text(json.dumps({
        "id": "stolen", "block_label": "student", "operation": "append",
        "proposed_value": SECRET, "status": "pending"}))
    (repo.path / "pending_diffs" / "stolen.json").symlink_to(outside / "diff.json")

    report, out = import_v1(root, tmp_path)

    files = skipped(report, "file")
    assert files["linker/memory-blocks/env.md"] == "symbolic link; not followed"
    assert files["linker/memory-blocks/secret.md"] == "symbolic link; not followed"
    assert files["linker/pending_diffs/stolen.json"] == "symbolic link; not followed"
    history_link = [k for k in files if k.startswith("linker/memory-blocks/notes.md@")]
    assert len(history_link) == 1 and "symbolic link" in files[history_link[0]]
    blocks_skipped = skipped(report, "block")
    assert "symbolic link" in blocks_skipped["linker/memory-blocks/journey.md"]
    assert "symbolic link" in blocks_skipped["linker/memory-blocks/history.md"]
    assert "not a regular file" in blocks_skipped["linker/memory-blocks/engagement.md"]

    labels = set(Block.objects.filter(owner_id="linker").values_list("label", flat=True))
    assert labels == {"student", "notes"}
    notes = Block.objects.get(owner_id="linker", label="notes")
    assert [h.content for h in HistoricalBlock.objects.filter(id=notes.id)] == ["real notes"]
    assert not PendingDiff.objects.filter(owner_id="linker").exists()
    assert_nothing_from_outside(SECRET, str(outside), *environ_entries())
    assert "symbolic link; not followed" in out
    assert_good_learner_imported()


def test_linked_folders_are_never_followed(root, outside, tmp_path):
    folder = V1Repo(root, "folder-link")
    folder.write_md("student", "in history")
    shutil.rmtree(folder.path / "memory-blocks")
    (folder.path / "memory-blocks").symlink_to(outside / "blocks")

    diffs = V1Repo(root, "diffs-link")
    diffs.write_md("student", "fine")
    shutil.rmtree(diffs.path / "pending_diffs")
    (outside / "diffs").mkdir()
    (outside / "diffs" / "x.json").write_text(json.dumps({"proposed_value": SECRET}))
    (diffs.path / "pending_diffs").symlink_to(outside / "diffs")

    # A learner folder that is itself a link to a repository outside the data root.
    (root / "learner-link").symlink_to(outside / "other-repo")

    report, _ = import_v1(root, tmp_path)

    refused = skipped(report, "learner")
    assert refused["folder-link"].endswith("memory-blocks/ is a symbolic link; not followed")
    assert refused["diffs-link"].endswith("pending_diffs/ is a symbolic link; not followed")
    assert refused["learner-link"] == "symbolic link; not followed"
    assert not Block.objects.exclude(owner_id=GOOD).exists()
    assert_nothing_from_outside(SECRET)
    assert_good_learner_imported()

    # Named on its own with --user, a linked learner folder is not followed either: the run
    # says so by id and exits non-zero (nothing was imported for the learner asked for).
    with pytest.raises(CommandError, match="--user learner-link: symbolic link; not followed"):
        import_v1(root, tmp_path, "--user", "learner-link")
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert skipped(report, "learner") == {"learner-link": "symbolic link; not followed"}


# --------------------------------------------------------------------------- sizes and counts


def test_oversized_files_and_versions_are_reported_and_the_rest_imports(root, tmp_path):
    repo = V1Repo(root, "big")
    repo.write_md("student", "small")
    repo.write_md("journey", "x" * 100_000)  # a version over the cap ...
    repo.write_md("journey", "small again")  # ... then a normal one
    repo.write_md("huge", "y" * 100_000)  # over the cap, on disk and in history
    (repo.path / "pending_diffs" / "big.json").write_text(
        json.dumps({"id": "big", "block_label": "student", "operation": "append",
                    "proposed_value": "z" * 100_000, "status": "pending"}))

    report, out = import_v1(root, tmp_path, "--max-file-size", "64K")

    assert "over the limit of 64 KiB" in skipped(report, "block")["big/memory-blocks/huge.md"]
    over = [r for k, r in skipped(report, "file").items()
            if k.startswith("big/memory-blocks/journey.md@")]
    assert len(over) == 1 and "over the file limit of 64 KiB" in over[0]
    assert "over the limit" in skipped(report, "diff")["big/pending_diffs/big.json"]
    journey = Block.objects.get(owner_id="big", label="journey")
    assert journey.content == "small again"
    assert [h.content for h in HistoricalBlock.objects.filter(id=journey.id)] == ["small again"]
    assert Block.objects.get(owner_id="big", label="student").content == "small"
    assert not Block.objects.filter(owner_id="big", label="huge").exists()
    assert not PendingDiff.objects.filter(owner_id="big").exists()
    assert_good_learner_imported()


def test_too_many_files_or_bytes_refuse_the_learner(root, tmp_path):
    many = V1Repo(root, "many-files")
    many.write_md("student", "fine")
    for i in range(30):
        many.write_diff(id=f"diff-{i:02d}")
    heavy = V1Repo(root, "heavy")
    for i in range(6):
        heavy.write_md("student", f"{i}" * 200_000)

    report, _ = import_v1(root, tmp_path, "--max-files", "20", "--max-learner-size", "1M")

    refused = skipped(report, "learner")
    assert "more than 20 files" in refused["many-files"] and "--max-files" in refused["many-files"]
    assert "over the learner limit of 1 MiB" in refused["heavy"]
    assert not Block.objects.filter(owner_id__in=["many-files", "heavy"]).exists()
    assert not PendingDiff.objects.filter(owner_id="many-files").exists()
    assert_good_learner_imported()


def test_the_default_caps_fit_real_v1_blocks(root, tmp_path):
    """v1's largest real blocks are ~290 KB: several versions of one import with the defaults."""
    repo = V1Repo(root, "real-size")
    body = ("Essay draft paragraph with feedback. " * 8000)[:290_000]
    for i in range(5):
        repo.write_md("student", body + f"\nrevision {i}")

    report, _ = import_v1(root, tmp_path)

    assert skipped(report) == {}
    block = Block.objects.get(owner_id="real-size", label="student")
    assert block.content == body + "\nrevision 4"
    assert HistoricalBlock.objects.filter(id=block.id).count() == 5


def test_exploding_yaml_and_deep_json_are_reported_and_skipped(root, tmp_path):
    repo = V1Repo(root, "bombs")
    repo.write_md("student", "fine")
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
        for i in range(9))
    repo.write("memory-blocks/laughs.md", f"---\n{laughs}---\n\nbody")
    repo.commit("memory-blocks/laughs.md", "laughs", who="user")
    (repo.path / "pending_diffs" / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (repo.path / "pending_diffs" / "deep70.json").write_text("[" * 70 + "]" * 70)

    report, _ = import_v1(root, tmp_path)

    assert "expands to more than" in skipped(report, "block")["bombs/memory-blocks/laughs.md"]
    diffs = skipped(report, "diff")
    assert "nested deeper than 64 levels" in diffs["bombs/pending_diffs/deep.json"]
    assert "nested deeper than 64 levels" in diffs["bombs/pending_diffs/deep70.json"]
    assert Block.objects.get(owner_id="bombs", label="student").content == "fine"
    assert_good_learner_imported()
