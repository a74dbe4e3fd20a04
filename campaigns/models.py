import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone


class CampaignQuerySet(models.QuerySet):
    def active(self, *, today=None):
        today = today or timezone.now().date()
        return (
            self.filter(is_active=True)
            .filter(models.Q(start_date__isnull=True) | models.Q(start_date__lte=today))
            .filter(models.Q(end_date__isnull=True) | models.Q(end_date__gte=today))
        )


class Campaign(models.Model):
    class Kind(models.TextChoices):
        MONITORING = "monitoring"
        OCCULTATION = "occultation"
        TRANSIT = "transit"
        TRANSIENT = "transient"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.MONITORING)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    # Multiplies the score of the campaign's targets while the campaign runs.
    priority_boost = models.FloatField(default=1.0, validators=[MinValueValidator(0)])
    # How many sites should observe the same target at once (occultations want several).
    redundancy = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    is_active = models.BooleanField(default=True)
    targets = models.ManyToManyField("targets.Target", through="CampaignTarget", related_name="campaigns")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def is_running(self, *, today=None) -> bool:
        today = today or timezone.now().date()
        return (
            self.is_active
            and (self.start_date is None or self.start_date <= today)
            and (self.end_date is None or self.end_date >= today)
        )


class CampaignTarget(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="memberships")
    target = models.ForeignKey("targets.Target", on_delete=models.CASCADE, related_name="memberships")
    added_at = models.DateTimeField(auto_now_add=True)
    notes = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "target"], name="unique_campaign_target")]

    def __str__(self) -> str:
        return f"{self.campaign} / {self.target}"


class NetworkPlan(models.Model):
    """The latest network-wide assignment: which site should observe what (made by a periodic task)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    generated_at = models.DateTimeField(db_index=True)
    valid_until = models.DateTimeField()
    # {site_id: [target_id, ...]} best first.
    assignments = models.JSONField(default=dict)
    sites_planned = models.PositiveIntegerField(default=0)
    targets_assigned = models.PositiveIntegerField(default=0)
    duration_ms = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-generated_at"]

    def __str__(self) -> str:
        return f"Plan {self.generated_at:%Y-%m-%d %H:%M} ({self.targets_assigned} assignments)"


class Assignment(models.Model):
    """A target given to a site by a plan; delivered when the site sends an observation of it in time.

    The share delivered over the last 30 days is the site's reliability, which feeds back into the scores.
    """

    site = models.ForeignKey("sites.Site", on_delete=models.CASCADE, related_name="assignments")
    target = models.ForeignKey("targets.Target", on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField()
    due_by = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    settled = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["site", "assigned_at"]), models.Index(fields=["settled", "due_by"])]

    def __str__(self) -> str:
        return f"{self.target} → {self.site}"
