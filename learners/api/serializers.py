"""Shapes of the profile route (requests and answers); learners.services decides the rest."""

from rest_framework import serializers

from learners import services


class ProfileSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    display_name = serializers.CharField(help_text="How staff see the learner; \"\" when unknown.")
    email = serializers.CharField(help_text="\"\" when unknown.")
    updated_by = serializers.CharField(
        allow_null=True,
        help_text="Who set the profile last: `agent:<key name>`, `staff:<username>`, `import:letta`, "
        "`import:youlab_v1`, … (null: never set).",
    )
    updated_at = serializers.DateTimeField(allow_null=True, help_text="null: never set.")


class _TextField(serializers.CharField):
    """Text only: DRF's CharField would store the number 12 as "12"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ProfilePutSerializer(serializers.Serializer):
    """Either field or both; a field left out keeps its value, "" (or null) clears it."""

    display_name = _TextField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False,
        max_length=services.MAX_DISPLAY_NAME_LENGTH,
        help_text="The learner's name as staff should see it (≤255 characters, no control characters).",
    )
    email = _TextField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False,
        max_length=services.MAX_EMAIL_LENGTH, help_text="An email address.",
    )

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        if not attrs:
            raise serializers.ValidationError("give display_name, email or both")
        return attrs
