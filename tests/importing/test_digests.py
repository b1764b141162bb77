"""The one hashing and bounded-key helper (importing/digests.py) and the keys it must keep.

Import keys already written by earlier imports must come out identical, or a re-import stops
being idempotent (it would add every version again). The literal keys below were computed by the
three helpers digests.py replaces, as they were before it existed (commit 986e5b2):
``youlab_v1._import_key``/``_current_key``, ``core._derived_key``/``_derived_current_key`` and
``letta.value_key``. Each is rebuilt here with digests.py, the way each importer builds it.
"""

from __future__ import annotations

import hashlib
import unicodedata

import pytest

from importing.digests import HASHED_TAG, bounded_key, sha256_hex
from importing.records import MAX_IMPORT_KEY_LENGTH, BlockRecord
from importing.youlab_v1 import read_data_root
from importing.youlab_v1.history import commit_key, worktree_key

from .v1_builder import V1Repo

NFC = unicodedata.normalize("NFC", "Élodie")
NFD = unicodedata.normalize("NFD", "Élodie")
LONG_LABEL = "é" * 120 + "-" + "学" * 100
SHA = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"
CONTENT_DIGEST = "9408720a765acc234b9b22c11706cdea501881ea064925d64f9fdcb209dab639"  # f"Bonjour {NFC}\n"
LONG_PATH_DIGEST = "5fa40a4959bcab1d67096b15149391c56e68777b4c20a1035c5b3a0bd437f793"


# --------------------------------------------------------------------------- hashing


@pytest.mark.parametrize("text", ["", "student", NFC, NFD, "学习笔记", "emoji 🧑‍🎓", "a\nb\r\n"])
def test_valid_text_hashes_as_its_utf8_bytes(text):
    assert sha256_hex(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_text_is_hashed_as_given_without_normalisation():
    # Two v1 files can be named NFC and NFD "Élodie": two blocks, two keys.
    assert sha256_hex(NFC) != sha256_hex(NFD)
    assert sha256_hex(f"Bonjour {NFC}\n") == CONTENT_DIGEST


def test_a_lone_surrogate_hashes_without_raising_as_the_core_did():
    # The value core._sha gave (UTF-8 with "surrogatepass": U+DC80 is the bytes ED B2 80).
    assert sha256_hex("a\udc80") == "74eaadc16dfe87cfcf1df1746ab82b13b92c93c8d4b218d35f564347f0a46bb9"
    assert sha256_hex("a\udc80") != sha256_hex("a\ud800") != sha256_hex("a\ufffd")


# --------------------------------------------------------------------------- bounded keys


def test_a_key_that_fits_stays_readable_and_one_that_does_not_is_hashed():
    fits = "x" * (MAX_IMPORT_KEY_LENGTH - len("p::s"))
    assert bounded_key("p:", fits, ":s") == f"p:{fits}:s"
    assert len(bounded_key("p:", fits, ":s")) == MAX_IMPORT_KEY_LENGTH
    too_long = fits + "x"
    assert bounded_key("p:", too_long, ":s") == f"p:{HASHED_TAG}{sha256_hex(too_long)}:s"
    assert bounded_key("p:", too_long, ":s") == bounded_key("p:", too_long, ":s")  # stable


def test_a_multi_part_identifier_reads_with_colons_and_hashes_with_newlines():
    assert bounded_key("k:", ("owner", "label"), ":v") == "k:owner:label:v"
    long_owner = "o" * 300
    assert bounded_key("k:", (long_owner, "a:b"), ":v", digest_chars=16) == (
        "k:sha256:" + sha256_hex(long_owner + "\n" + "a:b")[:16] + ":v"
    )
    # ("x:y", "z") and ("x", "y:z") read the same but are different pairs: their digests differ.
    assert bounded_key("k:", ("x:y" * 100, "z"), "") != bounded_key("k:", ("x", "y:z" * 100), "")


# --------------------------------------------------------------------------- keys already stored


@pytest.mark.parametrize(("path", "commit", "current"), [
    ("memory-blocks/student.md",
     f"git:{SHA}:memory-blocks/student.md",
     f"worktree:memory-blocks/student.md:{CONTENT_DIGEST}"),
    (f"memory-blocks/{NFC}.md",
     f"git:{SHA}:memory-blocks/{NFC}.md",
     f"worktree:memory-blocks/{NFC}.md:{CONTENT_DIGEST}"),
    (f"memory-blocks/{NFD}.md",
     f"git:{SHA}:memory-blocks/{NFD}.md",
     f"worktree:memory-blocks/{NFD}.md:{CONTENT_DIGEST}"),
    (f"memory-blocks/{LONG_LABEL}.md",
     f"git:{SHA}:sha256:{LONG_PATH_DIGEST}",
     f"worktree:sha256:{LONG_PATH_DIGEST}:{CONTENT_DIGEST}"),
], ids=["ascii", "nfc", "nfd", "long"])
def test_v1_keys_are_the_ones_earlier_imports_stored(path, commit, current):
    assert commit_key(SHA, path) == commit
    assert worktree_key(path, f"Bonjour {NFC}\n") == current


# core._derived_key(record, suffix) == bounded_key(f"{source}:", source_key, f":{suffix}",
# digest_chars=32, tag=""); its current key's suffix is f"current:{sha256_hex(content)[:16]}".
@pytest.mark.parametrize(("source_key", "deleted", "current"), [
    ("learner-1/memory-blocks/student.md",
     "youlab_v1:learner-1/memory-blocks/student.md:deleted",
     "youlab_v1:learner-1/memory-blocks/student.md:current:047c83c5a30857ea"),
    (f"learner-1/memory-blocks/{NFD}.md",
     f"youlab_v1:learner-1/memory-blocks/{NFD}.md:deleted",
     f"youlab_v1:learner-1/memory-blocks/{NFD}.md:current:047c83c5a30857ea"),
    (f"learner-1/memory-blocks/{LONG_LABEL}.md",
     "youlab_v1:c98d3b64040ebfcaad9e3c968b1be9ab:deleted",
     "youlab_v1:c98d3b64040ebfcaad9e3c968b1be9ab:current:047c83c5a30857ea"),
], ids=["ascii", "nfd", "long"])
def test_the_core_derived_keys_come_out_the_same(source_key, deleted, current):
    def derived(suffix: str) -> str:
        return bounded_key("youlab_v1:", source_key, f":{suffix}", digest_chars=32, tag="")

    assert derived("deleted") == deleted
    content = f"Bonjour {NFD}\n"
    assert derived(f"current:{sha256_hex(content)[:16]}") == current
    # The importer's own keys are these (importing.planning builds them with digests.py).
    from importing.planning import derived_key
    from importing.records import BlockRecord

    record = BlockRecord(owner_type="user", owner_id="learner-1", label="student", content=content,
                         source="youlab_v1", source_key=source_key)
    assert derived_key(record, "deleted") == deleted
    assert derived_key(record, f"current:{sha256_hex(content)[:16]}") == current


# letta.value_key(owner_type, owner_id, label, value) == bounded_key(f"letta:{owner_type}:",
# (owner_id, label), f":value:{sha256_hex(value)[:16]}", digest_chars=16).
@pytest.mark.parametrize(("owner_id", "label", "key"), [
    ("user-1", "persona", "letta:user:user-1:persona:value:e7f3843de1be3347"),
    (NFC, "student", f"letta:user:{NFC}:student:value:e7f3843de1be3347"),
    ("u" * 200, LONG_LABEL, "letta:user:sha256:b180f78275c8c926:value:e7f3843de1be3347"),
], ids=["ascii", "nfc", "long"])
def test_the_letta_value_keys_come_out_the_same(owner_id, label, key):
    value_digest = sha256_hex(f"Bonjour {NFC}")[:16]
    assert bounded_key("letta:user:", (owner_id, label), f":value:{value_digest}",
                       digest_chars=16) == key
    from importing.letta.mapping import value_key

    assert value_key("user", owner_id, label, f"Bonjour {NFC}") == key  # the live function


def test_a_v1_repository_reads_with_the_keys_it_had(tmp_path):
    """End to end through the reader: commits made with fixed dates have fixed shas."""
    root = tmp_path / "users"
    root.mkdir()
    repo = V1Repo(root, "learner-1")
    long_label = "notes-" + "x" * 194  # the commit key would be 263 characters long
    for label in (long_label, NFD, "student"):
        repo.write_md(label, f"first {NFD}")
        repo.write_md(label, "second")
        repo.write_md(label, "never committed é", commit=False)
    blocks = {r.label: r for r in read_data_root(root) if isinstance(r, BlockRecord)}
    worktree = "ba9c08fd82db648c211faa3b2db03e15df8a2fc1e8032603311e596df807c948"
    long_path = "cc275f5052bc489a47329c25ed2b0dece075d8fcc42749ed3294b6eb2045def2"
    assert {label: ([v.import_key for v in b.versions], b.current_key) for label, b in blocks.items()} == {
        NFD: ([f"git:c32d8d9cb8545d769029661be15db021dc23f16e:memory-blocks/{NFD}.md",
               f"git:a1fa96940c721a26a7da0a228d4b4a9ede9bd086:memory-blocks/{NFD}.md"],
              f"worktree:memory-blocks/{NFD}.md:{worktree}"),
        long_label: ([f"git:0ebf66be2c1c3e931c40607fd8cbb2f0fd7065c5:sha256:{long_path}",
                      f"git:d59e264988e88f4ecb0dde31d1a778d6c1e249b5:sha256:{long_path}"],
                     f"worktree:sha256:{long_path}:{worktree}"),
        "student": (["git:6ab4017fc5a084d430a88f50e5e094aed20234b8:memory-blocks/student.md",
                     "git:a537a5aae49ee840368acfd7f11eff54c3ead126:memory-blocks/student.md"],
                    f"worktree:memory-blocks/student.md:{worktree}"),
    }
