from rest_framework import serializers

from network.fields import AwareDateTimeField, DecField, FiniteFloatField, RaField, StringListField
from targets.models import Target


class WindowSerializer(serializers.Serializer):
    start = AwareDateTimeField()
    end = AwareDateTimeField()
    priority_boost = FiniteFloatField(min_value=0, default=1.0)

    def validate(self, attrs):
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": ["Window ends before it starts."]})
        return attrs


class EphemerisSerializer(serializers.Serializer):
    epoch_bjd_tdb = FiniteFloatField(min_value=2_400_000, max_value=2_600_000)
    period_days = FiniteFloatField(min_value=1e-4)
    duration_hours = FiniteFloatField(min_value=0.0, max_value=72.0, required=False, allow_null=True)
    depth = FiniteFloatField(min_value=0.0, max_value=1.0, required=False, allow_null=True)


class ComparisonStarSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    ra_deg = RaField()
    dec_deg = DecField()
    magnitudes = serializers.DictField(child=FiniteFloatField(min_value=-30, max_value=40), required=False)


class TargetSerializer(serializers.ModelSerializer):
    target_id = serializers.UUIDField(source="id", read_only=True)
    name = serializers.CharField(max_length=200)
    aliases = StringListField(required=False, child=serializers.CharField(max_length=200))
    ra_deg = RaField()
    dec_deg = DecField()
    target_type = serializers.ChoiceField(choices=Target.Type.choices, default=Target.Type.OTHER)
    magnitude = FiniteFloatField(min_value=-30, max_value=40, required=False, allow_null=True)
    priority = FiniteFloatField(min_value=0, default=1.0)
    cadence_hours = FiniteFloatField(min_value=0, required=False, allow_null=True)
    exposure_sec = FiniteFloatField(min_value=0, max_value=86400, required=False, allow_null=True)
    total_hours = FiniteFloatField(min_value=0, required=False, allow_null=True)
    filters = StringListField(required=False)
    expires_at = AwareDateTimeField(required=False, allow_null=True)
    windows = WindowSerializer(many=True, required=False)
    ephemeris = EphemerisSerializer(required=False, allow_null=True)
    comparison_stars = ComparisonStarSerializer(many=True, required=False)
    metadata = serializers.DictField(required=False)
    campaigns = serializers.SerializerMethodField()
    created_at = AwareDateTimeField(read_only=True)
    updated_at = AwareDateTimeField(read_only=True)

    class Meta:
        model = Target
        fields = [
            "target_id", "name", "aliases", "ra_deg", "dec_deg", "target_type", "magnitude", "priority",
            "cadence_hours", "min_observations", "total_hours", "filters", "exposure_sec", "active", "expires_at",
            "windows", "ephemeris", "comparison_stars", "metadata", "campaigns", "created_at", "updated_at",
        ]  # fmt: skip

    def get_campaigns(self, target) -> list[str]:
        if self.context.get("just_created"):
            return []  # a target made a moment ago belongs to no campaign yet: spare a query per target
        return [str(c.pk) for c in target.campaigns.all()]

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a target object."]})
        return super().to_internal_value(data)

    def validate_windows(self, value):
        return [
            {
                "start": w["start"].isoformat(),
                "end": w["end"].isoformat(),
                "priority_boost": w["priority_boost"],
            }
            for w in value
        ]


class CoverageSerializer(serializers.Serializer):
    total_observations = serializers.IntegerField()
    unique_sites = serializers.IntegerField()
    recent_observations = serializers.IntegerField()


class TargetDetailSerializer(TargetSerializer):
    coverage = serializers.SerializerMethodField()

    class Meta(TargetSerializer.Meta):
        fields = [*TargetSerializer.Meta.fields, "coverage"]

    def get_coverage(self, target) -> dict:
        from targets.selectors import target_coverage

        request = self.context.get("request")
        return target_coverage(target=target, principal=getattr(request, "user", None))


class RankedTargetSerializer(serializers.Serializer):
    target_id = serializers.UUIDField()
    name = serializers.CharField()
    ra_deg = serializers.FloatField()
    dec_deg = serializers.FloatField()
    target_type = serializers.CharField()
    magnitude = serializers.FloatField(allow_null=True)
    priority = serializers.FloatField()
    score = serializers.FloatField()
    altitude_deg = serializers.FloatField()
    azimuth_deg = serializers.FloatField()
    airmass = serializers.FloatField()
    observable_until = AwareDateTimeField(allow_null=True)
    filter = serializers.CharField(allow_null=True)
    exposure_sec = serializers.FloatField(allow_null=True)
    cadence_hours = serializers.FloatField(allow_null=True)
    campaigns = serializers.ListField(child=serializers.CharField())
    reasons = serializers.DictField()


class RankedAnswerSerializer(serializers.Serializer):
    site_id = serializers.UUIDField()
    at = AwareDateTimeField()
    generated_at = AwareDateTimeField()
    targets = RankedTargetSerializer(many=True)
