"""Serializer fields shared by the API: timestamps that must carry an offset, finite numbers."""

import math
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime
from rest_framework import serializers


def parse_aware_datetime(value: str) -> datetime:
    """Parse ISO 8601 with an explicit offset; a timestamp without one is rejected, never guessed."""
    if not isinstance(value, str):
        raise serializers.ValidationError("Expected an ISO 8601 timestamp string with an offset.")
    text = value.strip()
    try:
        parsed = parse_datetime(text)
    except ValueError as exc:
        raise serializers.ValidationError(f"Not a valid date and time: {exc}.") from exc
    if parsed is None:
        raise serializers.ValidationError("Not an ISO 8601 timestamp (e.g. 2026-11-23T06:01:30Z).")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise serializers.ValidationError(
            "Timestamp has no UTC offset; add 'Z' or '+00:00' (times are never guessed)."
        )
    return parsed.astimezone(UTC)


class AwareDateTimeField(serializers.DateTimeField):
    def to_internal_value(self, value):
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise serializers.ValidationError("Timestamp has no UTC offset.")
            return value.astimezone(UTC)
        return parse_aware_datetime(value)

    def to_representation(self, value):
        if value is None:
            return None
        if isinstance(value, str):
            value = parse_datetime(value)
        value = value.astimezone(UTC)
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FiniteFloatField(serializers.FloatField):
    """A float that is a real number: NaN and infinities are bad input, not data."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            raise serializers.ValidationError("A number is required, not a boolean.")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            raise serializers.ValidationError("A finite number is required.")
        return value


class RaField(FiniteFloatField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0.0)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value >= 360.0:
            raise serializers.ValidationError("Ensure this value is less than 360.")
        return value


class DecField(FiniteFloatField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", -90.0)
        kwargs.setdefault("max_value", 90.0)
        super().__init__(**kwargs)


class StringListField(serializers.ListField):
    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.CharField(max_length=64, allow_blank=False))
        kwargs.setdefault("max_length", 100)
        super().__init__(**kwargs)
