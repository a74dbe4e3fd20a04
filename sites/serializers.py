import zoneinfo

from rest_framework import serializers

from network.fields import AwareDateTimeField, FiniteFloatField, StringListField
from sites.models import Site
from targets.models import Target


def validate_horizon(value):
    """[[az_deg, min_alt_deg], ...]: azimuth 0-360 from north through east, altitude 0-90."""
    if not isinstance(value, list):
        raise serializers.ValidationError("Expected a list of [azimuth_deg, min_altitude_deg] pairs.")
    if len(value) > 3600:
        raise serializers.ValidationError("At most 3600 horizon points.")
    cleaned = []
    for i, point in enumerate(value):
        if (
            not isinstance(point, list | tuple)
            or len(point) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
        ):
            raise serializers.ValidationError(f"Point {i} is not an [azimuth_deg, min_altitude_deg] pair of numbers.")
        az, alt = float(point[0]), float(point[1])
        if not 0 <= az <= 360:
            raise serializers.ValidationError(f"Point {i}: azimuth {az} is outside 0-360.")
        if not 0 <= alt <= 90:
            raise serializers.ValidationError(f"Point {i}: altitude {alt} is outside 0-90.")
        cleaned.append([az, alt])
    return sorted(cleaned)


class SiteWriteSerializer(serializers.ModelSerializer):
    latitude = FiniteFloatField(min_value=-90, max_value=90)
    longitude = FiniteFloatField(min_value=-180, max_value=180)
    elevation_m = FiniteFloatField(min_value=-500, max_value=9000, required=False)
    aperture_mm = FiniteFloatField(min_value=0, required=False, allow_null=True)
    focal_length_mm = FiniteFloatField(min_value=0, required=False, allow_null=True)
    fov_arcmin = FiniteFloatField(min_value=0, max_value=3600 * 60, required=False, allow_null=True)
    limiting_mag = FiniteFloatField(min_value=-30, max_value=40, required=False, allow_null=True)
    min_altitude_deg = FiniteFloatField(min_value=0, max_value=90, required=False)
    twilight_sun_altitude_deg = FiniteFloatField(min_value=-90, max_value=0, required=False)
    max_airmass = FiniteFloatField(min_value=1, required=False, allow_null=True)
    max_hour_angle_hours = FiniteFloatField(min_value=0, max_value=12, required=False, allow_null=True)
    filters = StringListField(required=False)
    horizon = serializers.JSONField(required=False, validators=[validate_horizon])
    embargo_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)

    class Meta:
        model = Site
        fields = [
            "name", "latitude", "longitude", "elevation_m", "timezone", "aperture_mm", "focal_length_mm",
            "camera_model", "filters", "fov_arcmin", "limiting_mag", "mount_type", "automation_level",
            "min_altitude_deg", "horizon", "twilight_sun_altitude_deg", "max_airmass", "max_hour_angle_hours",
            "embargo_days",
        ]  # fmt: skip

    def validate_timezone(self, value):
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise serializers.ValidationError(f"Unknown IANA time zone '{value}'.") from exc
        return value

    def validate_horizon(self, value):
        return validate_horizon(value)


PUBLIC_FIELDS = [
    "site_id", "name", "latitude", "longitude", "aperture_mm", "focal_length_mm", "filters", "fov_arcmin",
    "limiting_mag", "mount_type", "automation_level", "is_active", "approved", "online", "state", "reliability",
]  # fmt: skip


class SiteSerializer(serializers.ModelSerializer):
    """Everything about a site, for its owner, coordinators and the site itself."""

    site_id = serializers.UUIDField(source="id", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)
    online = serializers.SerializerMethodField()
    last_heartbeat_at = AwareDateTimeField(read_only=True)
    created_at = AwareDateTimeField(read_only=True)
    updated_at = AwareDateTimeField(read_only=True)
    key_rotated_at = AwareDateTimeField(read_only=True)
    current_target_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = Site
        fields = [
            *PUBLIC_FIELDS, "owner", "elevation_m", "timezone", "camera_model", "min_altitude_deg", "horizon",
            "twilight_sun_altitude_deg", "max_airmass", "max_hour_angle_hours", "embargo_days", "api_key_prefix",
            "key_rotated_at", "last_heartbeat_at", "safe", "weather", "client_version", "current_target_id",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_online(self, site) -> bool:
        return site.is_online()


class SitePublicSerializer(SiteSerializer):
    """What any signed-in user sees of someone else's site: the telescope, a rounded location (~10 km)."""

    latitude = serializers.SerializerMethodField()
    longitude = serializers.SerializerMethodField()

    class Meta(SiteSerializer.Meta):
        fields = PUBLIC_FIELDS
        read_only_fields = fields

    def get_latitude(self, site) -> float:
        return round(site.latitude, 1)

    def get_longitude(self, site) -> float:
        return round(site.longitude, 1)


class WeatherSerializer(serializers.Serializer):
    cloud_cover_pct = FiniteFloatField(min_value=0, max_value=100, required=False, allow_null=True)
    rain = serializers.BooleanField(required=False, allow_null=True)
    humidity_pct = FiniteFloatField(min_value=0, max_value=100, required=False, allow_null=True)
    wind_mps = FiniteFloatField(min_value=0, max_value=200, required=False, allow_null=True)
    sky_quality_mpsas = FiniteFloatField(min_value=0, max_value=30, required=False, allow_null=True)
    seeing_arcsec = FiniteFloatField(min_value=0, max_value=60, required=False, allow_null=True)
    temperature_c = FiniteFloatField(min_value=-100, max_value=70, required=False, allow_null=True)
    dew_point_c = FiniteFloatField(min_value=-100, max_value=70, required=False, allow_null=True)


class HeartbeatSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=[Site.State.OBSERVING, Site.State.IDLE, Site.State.CLOSED, Site.State.ERROR], required=False
    )
    safe = serializers.BooleanField(required=False)
    client_version = serializers.CharField(max_length=50, required=False, allow_blank=True)
    current_target_id = serializers.UUIDField(required=False, allow_null=True)
    weather = WeatherSerializer(required=False)

    def validate_current_target_id(self, value):
        if value is not None and not Target.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"No target with id {value}.")
        return value


class HeartbeatResponseSerializer(serializers.Serializer):
    server_time = AwareDateTimeField()
    next_poll_s = serializers.IntegerField()
