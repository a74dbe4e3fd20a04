import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class SiteQuerySet(models.QuerySet):
    def usable(self):
        """Sites allowed to take part: active, and approved when the network asks for approval."""
        qs = self.filter(is_active=True)
        if settings.SITES_REQUIRE_APPROVAL:
            qs = qs.filter(approved=True)
        return qs

    def online(self, *, now=None):
        """Usable sites with a fresh heartbeat that are safe and not closed."""
        now = now or timezone.now()
        cutoff = now - timedelta(seconds=settings.SITE_HEARTBEAT_MAX_AGE_S)
        return (
            self.usable()
            .filter(last_heartbeat_at__gte=cutoff, safe=True)
            .exclude(state__in=[Site.State.CLOSED, Site.State.ERROR])
        )

    def owned_by(self, user):
        return self.filter(owner=user)


class Site(models.Model):
    class MountType(models.TextChoices):
        EQUATORIAL = "equatorial"
        ALTAZ = "altaz"
        FORK = "fork"
        OTHER = "other"

    class Automation(models.TextChoices):
        ROBOTIC = "robotic"
        REMOTE = "remote"
        MANUAL = "manual"

    class State(models.TextChoices):
        OBSERVING = "observing"
        IDLE = "idle"
        CLOSED = "closed"
        ERROR = "error"
        UNKNOWN = "unknown"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(max_length=200)

    latitude = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)])
    elevation_m = models.FloatField(default=0.0)
    timezone = models.CharField(max_length=64, default="UTC")

    aperture_mm = models.FloatField(null=True, blank=True)
    focal_length_mm = models.FloatField(null=True, blank=True)
    camera_model = models.CharField(max_length=200, blank=True)
    filters = models.JSONField(default=list, blank=True)
    fov_arcmin = models.FloatField(null=True, blank=True)
    limiting_mag = models.FloatField(null=True, blank=True)
    mount_type = models.CharField(max_length=20, choices=MountType.choices, blank=True)
    automation_level = models.CharField(max_length=20, choices=Automation.choices, default=Automation.ROBOTIC)

    # Observing limits: altitude floor, azimuth->min altitude mask [[az_deg, alt_deg], ...], night definition.
    min_altitude_deg = models.FloatField(default=20.0, validators=[MinValueValidator(0), MaxValueValidator(90)])
    horizon = models.JSONField(default=list, blank=True)
    twilight_sun_altitude_deg = models.FloatField(
        default=-12.0, validators=[MinValueValidator(-90), MaxValueValidator(0)]
    )
    max_airmass = models.FloatField(null=True, blank=True)
    max_hour_angle_hours = models.FloatField(null=True, blank=True)
    embargo_days = models.PositiveIntegerField(default=0)

    # Only a SHA-256 of the key is kept; keys are 256 random bits, so a fast hash is safe and lookups are cheap.
    api_key_hash = models.CharField(max_length=64, unique=True)
    api_key_prefix = models.CharField(max_length=8, blank=True, help_text="First characters, to recognise a key.")
    key_rotated_at = models.DateTimeField(null=True, blank=True)

    is_active = models.BooleanField(default=True)
    approved = models.BooleanField(default=False)

    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.UNKNOWN)
    safe = models.BooleanField(default=True)
    weather = models.JSONField(default=dict, blank=True)
    client_version = models.CharField(max_length=50, blank=True)
    current_target = models.ForeignKey(
        "targets.Target", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reliability = models.FloatField(default=1.0, help_text="Share of assignments delivered (0-1).")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SiteQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["is_active", "last_heartbeat_at"])]

    def __str__(self) -> str:
        return self.name

    def is_online(self, *, now=None) -> bool:
        now = now or timezone.now()
        if not self.is_active or (settings.SITES_REQUIRE_APPROVAL and not self.approved):
            return False
        if self.last_heartbeat_at is None:
            return False
        fresh = now - self.last_heartbeat_at <= timedelta(seconds=settings.SITE_HEARTBEAT_MAX_AGE_S)
        return fresh and self.safe and self.state not in (self.State.CLOSED, self.State.ERROR)

    def embargo_cutoff(self, *, now=None):
        """Observations made after this instant are still under embargo (None: no embargo)."""
        if not self.embargo_days:
            return None
        return (now or timezone.now()) - timedelta(days=self.embargo_days)
