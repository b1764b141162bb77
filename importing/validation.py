"""Checks on import records before anything is planned: a record that fails is reported as
skipped with the reason (``invalid: …``) and the run goes on.

Identifiers go through the project's one validator (youlab.validators): an owner id with
surrounding spaces or control characters is refused here exactly as the services refuse it,
never rewritten.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone as dt_timezone
from typing import Any

from django.utils import timezone

from blocks.models import OwnerType
from diffs.models import DiffStatus, Operation
from youlab.errors import InvalidInput
from youlab.validators import validate_label, validate_owner_id

from .records import MAX_IMPORT_KEY_LENGTH, BlockRecord, DiffRecord

_MAX_CHAR_LIMIT = 2**31 - 1


def identity(owner_type: str, owner_id: str, label: str) -> tuple[str, str, str]:
    # Owner ids and labels use a binary collation (blocks.models.IDENTIFIER_COLLATION), so the
    # database and Python agree on what "the same block" is.
    return owner_type, owner_id, label


def display(owner_type: str, owner_id: str, label: str) -> str:
    owner = f"shared:{owner_id}" if owner_type == OwnerType.SHARED else owner_id
    return f"{owner}/{label}"


def json_normalized(value: Any, what: str) -> Any:
    """The value as the JSON column will give it back (so re-runs compare equal)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not JSON-serializable ({exc})") from exc


def aware(value: datetime | None) -> datetime | None:
    """Readers give aware datetimes; a naive one is taken as UTC rather than failing the block."""
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value, dt_timezone.utc)
    return value


def _check_import_key(key: Any, what: str) -> None:
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{what} must be a non-empty string")
    if len(key) > MAX_IMPORT_KEY_LENGTH:
        raise InvalidInput(f"{what} is longer than {MAX_IMPORT_KEY_LENGTH} characters")


def _validate_target(owner_type: str, owner_id: str, label: str) -> None:
    if owner_type not in OwnerType.values:
        raise InvalidInput(f"owner type must be one of {', '.join(OwnerType.values)}")
    validate_owner_id(owner_id)
    validate_label(label)


def validate_learner_id(user_id: str) -> None:
    """A learner record's id: the same rule as a learner's blocks' owner id."""
    validate_owner_id(user_id)


def validate_block_record(record: BlockRecord) -> None:
    _validate_target(record.owner_type, record.owner_id, record.label)
    if not isinstance(record.content, str):
        raise InvalidInput("content must be a string")
    limit = record.char_limit
    if limit is not None and (
        not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= _MAX_CHAR_LIMIT
    ):
        raise InvalidInput("char_limit must be empty or a non-negative integer")
    json_normalized(record.metadata, "metadata")
    if record.current_key:
        _check_import_key(record.current_key, "current_key")
    for version in record.versions:
        if not isinstance(version.content, str):
            raise InvalidInput("a version's content must be a string")
        _check_import_key(version.import_key, "a version's import_key")
        json_normalized(version.metadata, "a version's metadata")


def validate_diff_record(record: DiffRecord) -> None:
    _validate_target(record.owner_type, record.owner_id, record.label)
    _check_import_key(record.import_key, "import_key")
    if record.operation not in Operation.values:
        raise InvalidInput(f"operation must be one of {', '.join(Operation.values)}")
    if record.status not in DiffStatus.values:
        raise InvalidInput(f"status must be one of {', '.join(DiffStatus.values)}")
    if record.proposed_content is not None and not isinstance(record.proposed_content, str):
        raise InvalidInput("proposed_content must be a string")
    json_normalized(record.arguments, "arguments")
    json_normalized(record.metadata, "metadata")
