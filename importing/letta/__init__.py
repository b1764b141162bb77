"""Readers for Letta data: SQLite (≤0.11), PostgreSQL (≥0.12), the REST API and Agent Files.

Every source is read in two steps:

1. A loader turns the source into a :class:`~importing.letta.snapshot.LettaSnapshot`: plain
   "Letta rows" (agents, blocks, agent↔block links, block_history, identities) in one shape,
   whatever the source spelled them like. Problems met while reading (a bad row, a missing
   table, REST blind spots) are collected as reports; only a source that cannot be opened at all
   raises :class:`ImportSourceError`.
2. :func:`~importing.letta.mapping.map_letta` applies the mapping rules of design.md §7 once,
   for every source, and yields :mod:`records <importing.records>` for the importer core.

The modules, in the order data flows through them:

=================  ==============================================================================
``snapshot``       the snapshot model: Letta rows, the snapshot, the source names
``spill``          the spill store: agents, links, blocks and history on disk until mapped
``rows``           one source row or JSON object → a snapshot object (every source uses it)
``database``       the table reader shared by the two databases
``sqlite``         Letta ≤0.11's SQLite file, opened read-only
``postgres``       Letta ≥0.12's PostgreSQL, one read-only repeatable-read transaction
``rest``           a Letta server's REST API, with its bounded, same-origin HTTP client
``agent_file``     Agent Files (v2 and legacy v1)
``ownership``      whom an agent works for, who owns a block
``mapping``        snapshot → LearnerRecords, BlockRecords with versions, SkippedRecords
``readers``        the ``read_*`` functions below: load, map, close
=================  ==============================================================================

``SkippedRecord.kind`` is ``"agent"``, ``"block"``, ``"file"``, ``"row"``, ``"table"`` or
``"request"`` (a REST answer refused: a redirect to another server, too big, nested too deeply)
for things not imported, and ``"note"`` for things imported that a person should know about (a
merged block, a dropped field value, a REST blind spot).

Sources are untrusted data (design.md §7, ``safety.py``): the REST token goes to the server
given only, and responses, Agent Files and JSON values are bounded in size and nesting depth.

Readers take ``user_id`` to keep one learner: their blocks, the shared blocks their agents use,
reports about them, and reports about the source as a whole.
"""

from .readers import read_agent_file, read_agent_files, read_api, read_postgres, read_sqlite
from .snapshot import (
    SOURCE_AGENT_FILE,
    SOURCE_API,
    SOURCE_POSTGRES,
    SOURCE_SQLITE,
    ImportSourceError,
    redact_url,
)

__all__ = [
    "SOURCE_AGENT_FILE",
    "SOURCE_API",
    "SOURCE_POSTGRES",
    "SOURCE_SQLITE",
    "ImportSourceError",
    "read_agent_file",
    "read_agent_files",
    "read_api",
    "read_postgres",
    "read_sqlite",
    "redact_url",
]
