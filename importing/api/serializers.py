"""Response shape of the learner export route (also the OpenAPI schema's source)."""

from rest_framework import serializers

# --- export (documentation only: the view returns importing.export's document as is) ---------------


class ExportKeySerializer(serializers.Serializer):
    present = serializers.BooleanField()
    fingerprint = serializers.CharField(allow_null=True)
    last4 = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class ExportBlockVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    content = serializers.CharField()
    actor = serializers.CharField()
    history_change_reason = serializers.CharField(allow_null=True)
    history_date = serializers.DateTimeField()
    history_type = serializers.ChoiceField(choices=["+", "~", "-"])
    history_user = serializers.CharField(allow_null=True, help_text="Username, or null.")
    diff_id = serializers.UUIDField(allow_null=True)
    import_key = serializers.CharField(allow_null=True)
    deleted_at = serializers.DateTimeField(allow_null=True)


class ExportBlockSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    owner_type = serializers.CharField()
    owner_id = serializers.CharField()
    label = serializers.CharField()
    content = serializers.CharField()
    description = serializers.CharField()
    char_limit = serializers.IntegerField(allow_null=True)
    read_only = serializers.BooleanField()
    metadata = serializers.JSONField()
    version = serializers.IntegerField()
    deleted_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    history = ExportBlockVersionSerializer(many=True)


class ExportDiffSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    label = serializers.CharField()
    block_id = serializers.UUIDField(allow_null=True)
    operation = serializers.CharField()
    arguments = serializers.JSONField()
    status = serializers.CharField()
    reviewer = serializers.CharField(allow_null=True, help_text="Username, or null.")
    created_at = serializers.DateTimeField()


class ExportModuleChatVersionSerializer(serializers.Serializer):
    chat_id = serializers.CharField(help_text="Empty: cleared.")
    actor = serializers.CharField()
    history_change_reason = serializers.CharField(allow_null=True)
    history_date = serializers.DateTimeField()
    history_type = serializers.ChoiceField(choices=["+", "~", "-"])
    history_user = serializers.CharField(allow_null=True)


class ExportModuleChatSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    agent_id = serializers.CharField()
    module_id = serializers.CharField()
    chat_id = serializers.CharField(help_text="Empty: cleared.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    history = ExportModuleChatVersionSerializer(many=True)


class ExportProfileVersionSerializer(serializers.Serializer):
    display_name = serializers.CharField()
    email = serializers.CharField()
    updated_by = serializers.CharField(help_text="Who made this version.")
    history_change_reason = serializers.CharField(allow_null=True)
    history_date = serializers.DateTimeField()
    history_type = serializers.ChoiceField(choices=["+", "~", "-"])
    history_user = serializers.CharField(allow_null=True)


class ExportProfileSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    display_name = serializers.CharField()
    email = serializers.CharField()
    updated_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    history = ExportProfileVersionSerializer(many=True)


class ExportDocumentSerializer(serializers.Serializer):
    """The youlab-export document (docs/export.md); rows carry every column."""

    format = serializers.CharField(default="youlab-export")
    format_version = serializers.IntegerField(default=2)
    exported_at = serializers.DateTimeField()
    user_id = serializers.CharField()
    profile = ExportProfileSerializer(allow_null=True, help_text="The learner's name and email (null: none).")
    blocks = ExportBlockSerializer(many=True)
    diffs = ExportDiffSerializer(many=True)
    module_chats = ExportModuleChatSerializer(many=True)
    owui_key = ExportKeySerializer()
