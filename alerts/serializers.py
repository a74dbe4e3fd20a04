from rest_framework import serializers

from alerts.models import Alert
from network.fields import AwareDateTimeField, DecField, FiniteFloatField, RaField


class AlertInSerializer(serializers.Serializer):
    """The normalised alert form of API.md."""

    source = serializers.CharField(max_length=100)
    external_id = serializers.CharField(max_length=300)
    ra_deg = RaField(required=False, allow_null=True)
    dec_deg = DecField(required=False, allow_null=True)
    error_radius_deg = FiniteFloatField(min_value=0, max_value=180, required=False, allow_null=True)
    alert_type = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    priority = FiniteFloatField(min_value=0, required=False, allow_null=True)
    magnitude = FiniteFloatField(min_value=-30, max_value=40, required=False, allow_null=True)
    event_time = AwareDateTimeField(required=False, allow_null=True)
    payload = serializers.DictField(required=False, default=dict)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected an alert object."]})
        return super().to_internal_value(data)

    def validate(self, attrs):
        if (attrs.get("ra_deg") is None) != (attrs.get("dec_deg") is None):
            raise serializers.ValidationError({"dec_deg": ["Give both ra_deg and dec_deg, or neither."]})
        return attrs


class AlertSerializer(serializers.ModelSerializer):
    alert_id = serializers.UUIDField(source="id")
    event_time = AwareDateTimeField()
    received_at = AwareDateTimeField()
    updated_at = AwareDateTimeField()
    target_id = serializers.UUIDField(allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "alert_id", "source", "external_id", "alert_type", "ra_deg", "dec_deg", "error_radius_deg",
            "magnitude", "priority", "event_time", "received_at", "updated_at", "update_count", "target_id",
            "decision",
        ]  # fmt: skip
        read_only_fields = fields
