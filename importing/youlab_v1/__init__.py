"""Reader for a YouLab v1 data root: one git work tree per learner (docs/youlab-v1-format.md).

``read_data_root(path)`` yields plain records (``records.py``) and never touches the database.
Git is read with the ``git`` CLI only (``log``, ``cat-file --batch``, ``rev-list``), with NUL
separated output and explicit formats, so non-ASCII and NFD/NFC file names round-trip as bytes.

The data root is untrusted (design.md §7): git never sees a learner's own config, only its
objects, through a private GIT_DIR (``importing/safe_git.py``); a repository that is a partial
clone, borrows or lacks objects, or has a ``.git`` link or file is refused. Work-tree files are read
with no symbolic link followed (``safety.read_file_inside``), symbolic links committed to
history are not versions, and sizes and counts are capped (``safety.Limits``). Each refusal is
one reported, skipped learner, block, version or diff.

The package, in reading order: ``reader`` (the entry point and one learner's steps), ``source``
(one learner's bounded files and notes), ``git`` (git CLI access), ``blocks`` (which block files
exist), ``history`` (a file's commits as versions), ``markdown_era`` and ``toml_era`` (the two
block formats), ``pending_diffs``, ``values`` (v1 values as JSON/UTC). Import keys come from
``importing/digests.py``.

Mapping decisions (each one is also tested):

* Learner: every folder of the root that has ``.git``; other folders are reported and skipped.
  An initialised repository without blocks still yields a ``LearnerRecord``.
* Markdown era (``memory-blocks/{label}.md``): the label is the FILE NAME, as v1's listing, API
  and history all addressed the block by file name; a differing frontmatter ``block:`` key is kept
  in metadata and reported. Content is the BODY, byte for byte; the parsed frontmatter goes to
  ``metadata["v1"]["frontmatter"]`` (JSON-safe).
* Every commit that touched the file (path-limited ``git log --reverse``, no ``--follow``) is
  one version, in order, dated with the commit time (its own offset, converted to UTC). Commits
  that changed nothing (toml-era rewrites of identical bytes, empty commits) never show up in a
  path-limited log, so they are not versions. The working-tree file is the current content; when
  it differs from the last commit, the core appends a version keyed ``worktree:<path>:<sha256>``.
* Actor: the LAST ``Author:`` trailer, i.e. the text after the last "\\n\\nAuthor: " that v1 itself
  appends to every message. (v1's history API took the first line starting with ``Author: ``,
  which a user's own message can fake.) ``user``/``system``/``agent:<id>`` are kept as they are;
  a missing or unrecognised trailer becomes ``unknown`` (the raw trailer stays in metadata).
* TOML era (``blocks/{label}.toml``): with no Markdown block of that label, the block and each of
  its versions are converted for display (keys become ``## Title Case`` sections, lists bullets);
  the original TOML is kept in metadata. Invalid or empty TOML is imported verbatim and reported.
  When a Markdown block of that label exists, the TOML history becomes its earlier versions
  (it is the learner's own record, written before the format switch) and this is reported.
* Pending diffs map to canonical operations: append -> append(text), full_replace ->
  rethink(content), replace -> str_replace(old_str=current_value, new_str=proposed_value), any
  other operation (llm_diff) -> append(text). append/full_replace on a block that does not exist
  become ``create``. A pending diff that v1 itself could not apply (replace, llm_diff) becomes
  ``conflict`` with the reason. Naive server-local timestamps are read in ``tz``.
"""

from .history import UNKNOWN_ACTOR, map_actor, split_author
from .markdown_era import split_frontmatter
from .reader import read_data_root, read_learner
from .source import IMPORT_ACTOR, SOURCE
from .toml_era import INIT_STUDENT_SUBJECT, name_given_at_init, toml_to_markdown
from .values import json_safe

__all__ = [
    "IMPORT_ACTOR",
    "INIT_STUDENT_SUBJECT",
    "SOURCE",
    "UNKNOWN_ACTOR",
    "json_safe",
    "map_actor",
    "name_given_at_init",
    "read_data_root",
    "read_learner",
    "split_author",
    "split_frontmatter",
    "toml_to_markdown",
]
