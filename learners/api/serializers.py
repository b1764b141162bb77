"""Shapes of the profile route (requests and answers); learners.services decides the rest."""

from rest_framework import serializers

from learners import services
from youlab.api.fields import StrictBodySerializer, StrictCharField


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


class ProfilePutSerializer(StrictBodySerializer):
    """Either field or both; a field left out keeps its value, "" (or null) clears it."""

    display_name = StrictCharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False,
        max_length=services.MAX_DISPLAY_NAME_LENGTH,
        help_text="The learner's name as staff should see it (≤255 characters, no control characters).",
    )
    email = StrictCharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False,
        max_length=services.MAX_EMAIL_LENGTH, help_text="An email address.",
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if not attrs:
            raise serializers.ValidationError("give display_name, email or both")
        return attrs
