"""Shapes of the proposal routes. The per-operation argument serializers below are the single
description of what each operation takes: the propose route validates with them, the OpenAPI
schema documents them, and GET /api/v1/tools/ turns them into function-calling definitions."""

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from blocks.api.serializers import MAX_VERSION
from diffs import edits, services
from diffs.models import DiffStatus, Operation, PendingDiff
from youlab.api.fields import StrictBodySerializer, StrictCharField, StrictIntegerField

# What a list row leaves out (DiffListItemSerializer; diffs.selectors does not even read them).
HEAVY_DIFF_FIELDS = ("arguments", "proposed_content", "preview")
# The largest text an operation may carry (v1 had 290 KB blocks); bigger is 400 invalid_arguments.
MAX_TEXT_LENGTH = 1_000_000
MAX_OPERATION_LENGTH = 64


def _text(**kwargs):
    kwargs.setdefault("max_length", MAX_TEXT_LENGTH)
    return StrictCharField(trim_whitespace=False, **kwargs)


# --- per-operation arguments (canonical names, design.md §4) ---------------------------------


class AppendArguments(serializers.Serializer):
    text = _text(min_length=1, help_text="Text to add at the end of the block, on a new line.")


class StrReplaceArguments(serializers.Serializer):
    old_str = _text(
        min_length=1,
        help_text="Text that occurs exactly once in the block, copied verbatim (include enough "
        "surrounding text to make it unique)."
    )
    new_str = _text(allow_blank=True, help_text="What replaces old_str (empty deletes it).")


class InsertArguments(serializers.Serializer):
    insert_line = StrictIntegerField(
        min_value=0, max_value=MAX_VERSION,
        help_text="Insert after this line: 0 is the top, the number of lines is the end.",
    )
    text = _text(min_length=1, help_text="The line(s) to insert.")


class RethinkArguments(serializers.Serializer):
    content = _text(allow_blank=True, help_text="The block's complete new content (replaces all of it).")


class CreateArguments(serializers.Serializer):
    content = _text(allow_blank=True, help_text="The new block's content.")
    description = _text(
        required=False, allow_blank=True, max_length=10_000,
        help_text="What the block is for (shown to agents and reviewers).",
    )
    char_limit = StrictIntegerField(
        required=False, min_value=1, max_value=MAX_VERSION,
        help_text="Maximum length of the block's content in characters.",
    )


OPERATION_ARGUMENTS = {
    Operation.APPEND: AppendArguments,
    Operation.STR_REPLACE: StrReplaceArguments,
    Operation.INSERT: InsertArguments,
    Operation.RETHINK: RethinkArguments,
    Operation.CREATE: CreateArguments,
}
assert set(OPERATION_ARGUMENTS) == set(edits.OPERATIONS)


# --- the proposal request ----------------------------------------------------------------------


class ProposalReasoningSerializer(serializers.Serializer):
    reasoning = StrictCharField(
        required=False, allow_blank=True, default="", trim_whitespace=False,
        max_length=services.MAX_REASONING_LENGTH,
        help_text="Why the change is needed, for the reviewer.",
    )


class ProposalMetaSerializer(ProposalReasoningSerializer):
    agent_id = StrictCharField(
        required=False, allow_blank=True, default="", max_length=services.MAX_AGENT_ID_LENGTH,
        help_text="The calling agent's own id (the API key names the agent service).",
    )
    # Checked (length included) by youlab.webhooks.check_callback_url: one validator, one error code.
    callback_url = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False,
        help_text="Where to POST the decision (approved, rejected, conflict, superseded), signed "
        "with HMAC-SHA256 (X-YouLab-Signature). Its host must be listed in YOULAB_WEBHOOK_HOSTS, "
        "else 400 callback_not_allowed.",
    )


class ProposalEnvelopeSerializer(ProposalMetaSerializer):
    """What the propose route reads besides the operation's arguments."""

    ENVELOPE_FIELDS = ("operation", "arguments", "reasoning", "agent_id", "callback_url")

    operation = StrictCharField(
        max_length=MAX_OPERATION_LENGTH, trim_whitespace=False,
        help_text="append · str_replace · insert · rethink · create, or a Letta / memory-tool "
        "name (core_memory_append, core_memory_replace, memory_replace, memory_str_replace, "
        "memory_insert, memory_rethink, memory_create).",
    )
    arguments = serializers.DictField(
        required=False,
        help_text="The operation's arguments nested here, instead of flattened next to "
        "`operation` (not both).",
    )


def _propose_variant(operation: str, arguments_serializer):
    """ProposeAppend etc.: the documented body for one operation (arguments flattened)."""
    name = "Propose" + arguments_serializer.__name__.removesuffix("Arguments")
    doc = (
        f"Propose `{operation}`. The arguments may also be nested in `arguments`; Letta's and the "
        "memory tool's argument names are accepted too (old_string/new_string, old_content/"
        "new_content, new_memory, insert_text, file_text, content for append)."
    )
    attrs = {
        "__doc__": doc,
        "__module__": __name__,
        "operation": serializers.ChoiceField(
            choices=[operation], help_text="The operation (or one of its Letta / memory-tool names)."
        ),
        "arguments": arguments_serializer(
            required=False, help_text="Alternative to the flattened fields: the arguments nested."
        ),
    }
    return type(name, (arguments_serializer, ProposalMetaSerializer), attrs)


PROPOSE_VARIANTS = {op.value: _propose_variant(op.value, cls) for op, cls in OPERATION_ARGUMENTS.items()}

ProposeRequest = PolymorphicProxySerializer(
    component_name="ProposeRequest",
    serializers=PROPOSE_VARIANTS,
    resource_type_field_name="operation",
)


# --- answers and other requests ----------------------------------------------------------------


class DiffSerializer(serializers.ModelSerializer):
    block_id = serializers.UUIDField(
        read_only=True, allow_null=True, help_text="The block (null for a `create` until it is approved)."
    )
    agent = serializers.CharField(
        source="agent_key_name", read_only=True,
        help_text="Who proposed it: the API key's name (or `staff:<username>`).",
    )
    reviewer = serializers.SerializerMethodField(help_text="The reviewer's username, once decided.")
    is_stale = serializers.SerializerMethodField(
        help_text="The block has moved on since the proposal (approval will re-apply it, or conflict)."
    )

    class Meta:
        model = PendingDiff
        fields = [
            "id", "owner_type", "owner_id", "label", "block_id", "operation", "arguments",
            "status", "base_version", "proposed_content", "preview", "reasoning", "agent",
            "agent_id", "is_stale", "conflict_reason", "reviewer", "reviewed_at", "review_note",
            "applied_version", "created_at", "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "arguments": {"help_text": "The operation's canonical arguments."},
            "base_version": {"help_text": "The block's version the proposal was computed against."},
            "proposed_content": {"help_text": "The block's full text if applied at proposal time."},
            "preview": {"help_text": "Unified diff of current → proposed content at proposal time."},
            "applied_version": {"help_text": "The block version its approval made."},
        }

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_reviewer(self, obj):
        if hasattr(obj, "reviewer_username"):
            return obj.reviewer_username
        return obj.reviewer.get_username() if obj.reviewer_id else None

    @extend_schema_field(serializers.BooleanField())
    def get_is_stale(self, obj) -> bool:
        if obj.block_id is None or obj.base_version is None:
            return False
        current = getattr(obj, "current_block_version", None)
        if current is None:
            current = obj.block.version
        return current != obj.base_version


class DiffListItemSerializer(DiffSerializer):
    """A proposal in a list: everything but the texts (`arguments`, `proposed_content` and
    `preview` may each be a megabyte; a page of 500 would be gigabytes). GET diffs/{id}/ has them."""

    class Meta(DiffSerializer.Meta):
        fields = [f for f in DiffSerializer.Meta.fields if f not in HEAVY_DIFF_FIELDS]
        read_only_fields = fields


class DiffListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=DiffStatus.choices, required=False,
        help_text="Only proposals in this state (pending, approved, rejected, conflict, superseded).",
    )
    label = serializers.CharField(
        required=False, max_length=255, trim_whitespace=False,
        help_text="Only proposals for this block label.",
    )


class DiffListQuerySerializer(DiffListFilterSerializer):
    mine = serializers.BooleanField(
        required=False, default=False,
        help_text="Only proposals made with the calling API key.",
    )


class ApproveSerializer(StrictBodySerializer):
    edited_content = StrictCharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=MAX_TEXT_LENGTH,
        help_text="Staff edit: this full text is written instead of the proposal's.",
    )
    note = StrictCharField(
        required=False, allow_blank=True, default="", trim_whitespace=False,
        max_length=services.MAX_REASONING_LENGTH, help_text="A note for the record.",
    )


class RejectSerializer(StrictBodySerializer):
    reason = StrictCharField(
        trim_whitespace=False, max_length=services.MAX_REASONING_LENGTH,
        help_text="Why the proposal is rejected (required; the agent can read it).",
    )
