import hashlib
import json

from django.urls import reverse
from rest_framework import serializers

from network.fields import AwareDateTimeField, DecField, FiniteFloatField, RaField
from observations.models import Observation

QUALITY_FLAG_MAX = 50


class PhotometrySerializer(serializers.Serializer):
    magnitude = FiniteFloatField(min_value=-30, max_value=40, required=False, allow_null=True)
    error = FiniteFloatField(min_value=0, max_value=10, required=False, allow_null=True)
    flux = FiniteFloatField(required=False, allow_null=True)
    flux_error = FiniteFloatField(min_value=0, required=False, allow_null=True)
    comparison_stars = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=500
    )
    method = serializers.CharField(max_length=50, required=False, allow_blank=True)
    zero_point = FiniteFloatField(required=False, allow_null=True)
    snr = FiniteFloatField(min_value=0, required=False, allow_null=True)

    def validate(self, attrs):
        if attrs.get("magnitude") is None and attrs.get("flux") is None:
            raise serializers.ValidationError("Photometry needs a magnitude or a relative flux.")
        return attrs


class AstrometrySerializer(serializers.Serializer):
    ra_deg = RaField()
    dec_deg = DecField()
    error_arcsec = FiniteFloatField(min_value=0, required=False, allow_null=True)


class ObservationSubmitSerializer(serializers.Serializer):
    observation_id = serializers.UUIDField()
    target_id = serializers.UUIDField()
    observed_at = AwareDateTimeField()
    exposure_sec = FiniteFloatField(min_value=0, max_value=86400, required=False, allow_null=True)
    filter = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    airmass = FiniteFloatField(min_value=1, max_value=100, required=False, allow_null=True)
    seeing_arcsec = FiniteFloatField(min_value=0, max_value=60, required=False, allow_null=True)
    photometry = PhotometrySerializer(required=False, allow_null=True)
    astrometry = AstrometrySerializer(required=False, allow_null=True)
    quality_flags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=QUALITY_FLAG_MAX
    )
    raw_metadata = serializers.DictField(required=False)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected an observation object."]})
        return super().to_internal_value(data)

    def validate_raw_metadata(self, value):
        if len(json.dumps(value, default=str)) > 256 * 1024:
            raise serializers.ValidationError("raw_metadata is over 256 kB.")
        return value


def normalise_submission(data: dict) -> dict:
    """The canonical form of a submission: what "the same content" means for a retried observation."""
    return {
        "target_id": str(data["target_id"]),
        "observed_at": data["observed_at"].isoformat(timespec="microseconds"),
        "exposure_sec": data.get("exposure_sec"),
        "filter": data.get("filter") or "",
        "airmass": data.get("airmass"),
        "seeing_arcsec": data.get("seeing_arcsec"),
        "photometry": _without_nulls(data.get("photometry")),
        "astrometry": _without_nulls(data.get("astrometry")),
        "quality_flags": list(data.get("quality_flags") or []),
        "raw_metadata": data.get("raw_metadata") or {},
    }


def _without_nulls(block) -> dict | None:
    """A nested block with unset (null) keys dropped: `{"flux": null}` says nothing more than leaving it out."""
    if not block:
        return None
    return {k: v for k, v in dict(block).items() if v is not None} or None


def content_hash(normalised: dict) -> str:
    text = json.dumps(normalised, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class ObservationSerializer(serializers.ModelSerializer):
    observation_id = serializers.UUIDField(source="id")
    site_id = serializers.UUIDField()
    target_id = serializers.UUIDField()
    target_name = serializers.CharField(source="target.name")
    observed_at = AwareDateTimeField()
    created_at = AwareDateTimeField()
    bjd_tdb = serializers.FloatField(allow_null=True)
    pipeline = serializers.SerializerMethodField()

    class Meta:
        model = Observation
        fields = [
            "observation_id", "site_id", "target_id", "target_name", "observed_at", "bjd_tdb", "exposure_sec",
            "filter", "airmass", "seeing_arcsec", "photometry", "astrometry", "quality_flags", "raw_metadata",
            "created_at", "pipeline",
        ]  # fmt: skip
        read_only_fields = fields

    def get_pipeline(self, obs) -> dict:
        request = self.context.get("request")

        def url(field, name: str, query: str = "") -> str | None:
            # Files are served through the API, which applies the same visibility (embargo) as the data.
            if not field:
                return None
            link = reverse(name, kwargs={"observation_id": obs.pk}) + query
            return request.build_absolute_uri(link) if request else link

        result = obs.pipeline_result or {}
        return {
            "state": obs.pipeline_state if obs.image else "pending",
            "error": obs.pipeline_error or None,
            "has_image": bool(obs.image),
            "photometry": result.get("photometry"),
            "astrometry": result.get("astrometry"),
            "quality_flags": result.get("quality_flags", []),
            "calibration": result.get("calibration"),
            "steps": result.get("steps", {}),
            "image_url": url(obs.image, "observation-image"),
            "image_sha256": obs.image_sha256 or None,
            "preview_url": url(obs.preview, "observation-preview"),
            "thumbnail_url": url(obs.thumbnail, "observation-preview", "?size=thumbnail"),
        }
