"""Shapes of the block routes (requests and answers); the services decide everything else."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from blocks import services
from blocks.models import Block, HistoricalBlock
from youlab.api.fields import (
    StrictBodySerializer,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from youlab.errors import InvalidInput
from youlab.validators import MAX_IDENTIFIER_LENGTH, validate_label

MAX_VERSION = 2**31 - 1
MAX_NOTE_LENGTH = 20_000


def _label_validator(value):
    try:
        validate_label(value)
    except InvalidInput as exc:
        raise serializers.ValidationError(exc.message, code="invalid")


class BlockLabelSerializer(serializers.Serializer):
    """Which block: used for the `{label}` of every block route and by the tools."""

    label = serializers.CharField(
        min_length=1,
        max_length=MAX_IDENTIFIER_LENGTH,
        trim_whitespace=False,
        validators=[_label_validator],
        help_text="The memory block's label, e.g. `human`, `persona`, `reading-list` or `目标`.",
    )


class BlockSerializer(serializers.ModelSerializer):
    class Meta:
        model = Block
        fields = [
            "id", "owner_type", "owner_id", "label", "content", "description", "char_limit",
            "read_only", "metadata", "version", "created_at", "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "owner_id": {"help_text": "The learner's id, or the shared namespace."},
            "version": {"help_text": "+1 per change; the block's ETag."},
            "char_limit": {"help_text": "Maximum length of `content` in characters (null: none)."},
            "read_only": {"help_text": "Agents may not propose changes to a read-only block."},
        }


class BlockVersionSerializer(serializers.ModelSerializer):
    """One version of a block, as kept in block_history."""

    reason = serializers.CharField(
        source="history_change_reason", allow_null=True, read_only=True,
        help_text="Why the version was made (e.g. which diff was approved by whom).",
    )
    date = serializers.DateTimeField(source="history_date", read_only=True)
    diff_id = serializers.UUIDField(
        allow_null=True, read_only=True, help_text="The approved proposal that made this version."
    )
    deleted = serializers.SerializerMethodField(help_text="The block was soft-deleted at this version.")

    class Meta:
        model = HistoricalBlock
        fields = ["version", "content", "actor", "reason", "date", "diff_id", "deleted"]
        read_only_fields = fields
        extra_kwargs = {
            "actor": {"help_text": "`staff:<username>`, `agent:<key name>`, `import:letta`, "
                                   "`import:youlab_v1` or `system`."},
        }

    @extend_schema_field(serializers.BooleanField())
    def get_deleted(self, obj) -> bool:
        return obj.deleted_at is not None


class RevertSerializer(StrictBodySerializer):
    version = StrictIntegerField(
        min_value=1, max_value=MAX_VERSION, help_text="The version whose content comes back."
    )
    reason = StrictCharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=MAX_NOTE_LENGTH,
        help_text="Why (kept in the history row; a default names the reviewer and version).",
    )


class BlockSettingsSerializer(StrictBodySerializer):
    """Staff: change any of a block's settings (those left out keep their value)."""

    description = StrictCharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=services.MAX_DESCRIPTION_LENGTH,
        help_text="What the block is for (agents see it).",
    )
    char_limit = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=services.MAX_CHAR_LIMIT,
        help_text="Maximum length of `content` in characters; null for none. Below the current "
        "length: 400 `over_char_limit`.",
    )
    read_only = StrictBooleanField(required=False, help_text="true: agents' proposals are refused (409 `block_read_only`).")
    metadata = serializers.DictField(required=False, help_text="Replaces the block's metadata (a JSON object).")
    reason = StrictCharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=MAX_NOTE_LENGTH,
        help_text="Why (kept in the history row and the Dolt commit message).",
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if not set(attrs) & set(services.SETTINGS):
            raise serializers.ValidationError("give at least one of " + ", ".join(services.SETTINGS))
        return attrs


class AsOfQuerySerializer(serializers.Serializer):
    as_of = serializers.CharField(required=False)
