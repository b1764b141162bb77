"""Request and response shapes of the chats routes (also the OpenAPI schema's source)."""

from rest_framework import serializers

from youlab.api.fields import StrictBodySerializer, StrictCharField

# --- module chats --------------------------------------------------------------------------------


class ModuleChatSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    agent_id = serializers.CharField()
    module_id = serializers.CharField()
    chat_id = serializers.CharField(help_text="The OpenWebUI chat id.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ModuleChatPutSerializer(StrictBodySerializer):
    # Not trimmed: " abc" is refused by the service rather than silently stored as "abc".
    chat_id = StrictCharField(
        max_length=255, trim_whitespace=False,
        help_text="The OpenWebUI chat id: ≤255 characters, no '/', '\\' or control characters.",
    )


# --- learners' OpenWebUI keys --------------------------------------------------------------------


class OwuiKeyMaskedSerializer(serializers.Serializer):
    """What anyone but an agent asking for the one key sees: never the key itself."""

    user_id = serializers.CharField()
    present = serializers.SerializerMethodField()
    fingerprint = serializers.CharField(help_text="First 16 hex digits of the key's SHA-256.")
    last4 = serializers.CharField()
    masked = serializers.CharField(help_text="'…' + last 4 + fingerprint, for display.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_present(self, obj) -> bool:
        return True


class OwuiKeySecretSerializer(OwuiKeyMaskedSerializer):
    """GET by an agent key: the key in plaintext, to call OpenWebUI on the learner's behalf."""

    key = serializers.SerializerMethodField()

    def get_key(self, obj) -> str:
        return self.context["key"]


class OwuiKeyPutSerializer(StrictBodySerializer):
    # No trimming and no length limit here: the service's rules apply (and never quote the key).
    key = StrictCharField(
        write_only=True, trim_whitespace=False, allow_blank=True,
        help_text="The learner's OpenWebUI API key: 8–4096 printable ASCII characters, no spaces.",
    )
