from rest_framework import serializers

from alerts.models import Alert
from network.fields import AwareDateTimeField, DecField, FiniteFloatField, RaField


class AlertInSerializer(serializers.Serializer):
    """The normalised alert form of API.md (extra optional fields: name, aliases, role, revision, ...)."""

    source = serializers.CharField(max_length=100)
    external_id = serializers.CharField(max_length=300)
    ra_deg = RaField(required=False, allow_null=True)
    dec_deg = DecField(required=False, allow_null=True)
    error_radius_deg = FiniteFloatField(min_value=0, max_value=180, required=False, allow_null=True)
    alert_type = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    priority = FiniteFloatField(min_value=0, required=False, allow_null=True)
    magnitude = FiniteFloatField(min_value=-30, max_value=40, required=False, allow_null=True)
    event_time = AwareDateTimeField(required=False, allow_null=True)
    filter = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, allow_null=True)
    aliases = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=50)
    role = serializers.ChoiceField(choices=Alert.Role.choices, required=False, default=Alert.Role.OBSERVATION)
    is_retraction = serializers.BooleanField(required=False, default=False)
    revision = serializers.IntegerField(required=False, allow_null=True, min_value=-(2**31), max_value=2**31 - 1)
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
            "alert_id", "source", "external_id", "alert_type", "format", "role", "name", "ivorn", "notice_type",
            "revision", "is_retraction", "ra_deg", "dec_deg", "error_radius_deg", "magnitude", "priority",
            "event_time", "skymap", "received_at", "updated_at", "update_count", "target_id", "action", "rule_name",
            "decision",
        ]  # fmt: skip
        read_only_fields = fields


class AlertIngestedSerializer(serializers.Serializer):
    """The answer to one ingested alert (API.md)."""

    alert = AlertSerializer()
    target_id = serializers.UUIDField(allow_null=True)
    decision = serializers.CharField()
    created = serializers.BooleanField()


class AlertBatchIngestedSerializer(serializers.Serializer):
    """The answer to a message holding several alerts (a CSV export, an Avro file with many records)."""

    alerts = AlertIngestedSerializer(many=True)
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
