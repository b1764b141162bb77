"""Serializer fields that take JSON as it is: DRF's own ones coerce ("12" → 12, "true" → True,
12 → "12"), which would let a malformed request through as something it did not say."""

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictBodySerializer(serializers.Serializer):
    """A request body whose keys it does not name are refused (400), never ignored: a misspelt
    `edited_content` must not approve the proposal as it stands."""

    def validate(self, attrs):
        data = self.initial_data
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return super().validate(attrs)
