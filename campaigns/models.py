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
