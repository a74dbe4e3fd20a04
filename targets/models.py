import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


def names_key(name: str, aliases: list[str]) -> str:
    """`|name|alias1|alias2|` lower-cased: an exact, case-insensitive name-or-alias match on any database."""
    names = [name, *aliases]
    return "|" + "|".join(n.strip().lower() for n in names if n and n.strip()) + "|"


class TargetQuerySet(models.QuerySet):
    def active(self, *, now=None):
        now = now or timezone.now()
        return self.filter(active=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))

    def of_type(self, target_type: str):
        return self.filter(target_type=target_type)

    def in_campaign(self, campaign):
        return self.filter(campaigns=campaign)

    def named(self, name: str):
        cleaned = name.strip().lower().replace("|", "")
        return self.filter(names_key__contains=f"|{cleaned}|")


class Target(models.Model):
    class Type(models.TextChoices):
        EXOPLANET = "exoplanet"
        VARIABLE = "variable"
        OCCULTATION = "occultation"
        TRANSIENT = "transient"
        ASTEROID = "asteroid"
        COMET = "comet"
        OTHER = "other"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    aliases = models.JSONField(default=list, blank=True)
    names_key = models.TextField(editable=False, default="")

    # ICRS (J2000) catalogue position.
    ra_deg = models.FloatField(validators=[MinValueValidator(0), MaxValueValidator(360)])
    dec_deg = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    target_type = models.CharField(max_length=20, choices=Type.choices, default=Type.OTHER)
    magnitude = models.FloatField(null=True, blank=True)
    priority = models.FloatField(default=1.0, validators=[MinValueValidator(0)])

    # What a useful observation of it looks like.
    filters = models.JSONField(default=list, blank=True)
    exposure_sec = models.FloatField(null=True, blank=True)
    cadence_hours = models.FloatField(null=True, blank=True)
    min_observations = models.PositiveIntegerField(null=True, blank=True)
    total_hours = models.FloatField(null=True, blank=True)

    # [{"start", "end", "priority_boost"}] time-critical windows; {"epoch_bjd_tdb", "period_days", "duration_hours"}.
    windows = models.JSONField(default=list, blank=True)
    ephemeris = models.JSONField(null=True, blank=True)
    comparison_stars = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    active = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Coarse sky cell (see alerts.crossmatch) so positional prefilters use an index on SQLite and PostgreSQL alike.
    sky_cell = models.IntegerField(default=0, db_index=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TargetQuerySet.as_manager()

    class Meta:
        ordering = ["-priority", "name"]
        indexes = [
            models.Index(fields=["target_type", "active"]),
            models.Index(fields=["active", "priority"]),
            models.Index(fields=["name"]),
            models.Index(fields=["updated_at"]),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        from alerts.crossmatch import sky_cell

        self.names_key = names_key(self.name, self.aliases or [])
        self.sky_cell = sky_cell(self.ra_deg, self.dec_deg)
        super().save(*args, **kwargs)
