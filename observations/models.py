import uuid
from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone


def image_upload_path(instance: "Observation", filename: str) -> str:
    day = instance.observed_at.strftime("%Y/%m/%d")
    return f"frames/{instance.site_id}/{day}/{instance.id}.fits{'.gz' if filename.endswith('.gz') else ''}"


def preview_upload_path(instance: "Observation", filename: str) -> str:
    return f"previews/{instance.site_id}/{instance.id}/{filename}"


class ObservationQuerySet(models.QuerySet):
    def visible_to(self, principal, *, now=None):
        """Hide embargoed observations from everyone but coordinators, the site's owner and the site itself.

        `principal` is a user or a site agent (sites.auth.SiteAgent). Sites with an embargo are few, so one
        small query lists them and the rest is a single filter.
        """
        if getattr(principal, "is_staff", False):
            return self
        from sites.models import Site

        now = now or timezone.now()
        own_site = getattr(principal, "site", None)
        embargoes = Site.objects.filter(embargo_days__gt=0)
        if own_site is not None:
            embargoes = embargoes.exclude(pk=own_site.pk)
        elif getattr(principal, "is_authenticated", False):
            embargoes = embargoes.exclude(owner_id=principal.pk)
        hidden = Q()
        for site_id, days in embargoes.values_list("id", "embargo_days"):
            hidden |= Q(site_id=site_id, observed_at__gt=now - timedelta(days=days))
        return self.exclude(hidden) if hidden else self

    def for_site(self, site):
        return self.filter(site=site)


class Observation(models.Model):
    class PipelineState(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        DONE = "done"
        FAILED = "failed"

    # State machine of the pipeline, checked in one place (observations.services).
    PIPELINE_TRANSITIONS = {
        PipelineState.PENDING: {PipelineState.PROCESSING},
        PipelineState.PROCESSING: {PipelineState.DONE, PipelineState.FAILED, PipelineState.PENDING},
        PipelineState.DONE: {PipelineState.PENDING},
        PipelineState.FAILED: {PipelineState.PENDING},
    }

    # The client chooses this UUID (`observation_id`), which makes retries idempotent.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    site = models.ForeignKey("sites.Site", on_delete=models.PROTECT, related_name="observations")
    target = models.ForeignKey("targets.Target", on_delete=models.PROTECT, related_name="observations")

    observed_at = models.DateTimeField(help_text="Mid-exposure, UTC.")
    exposure_sec = models.FloatField(null=True, blank=True)
    filter = models.CharField(max_length=32, blank=True)
    airmass = models.FloatField(null=True, blank=True)
    seeing_arcsec = models.FloatField(null=True, blank=True)

    # What the client measured: {"magnitude", "error", "flux", "flux_error", "comparison_stars", "method"}.
    photometry = models.JSONField(null=True, blank=True)
    astrometry = models.JSONField(null=True, blank=True)
    quality_flags = models.JSONField(default=list, blank=True)
    raw_metadata = models.JSONField(default=dict, blank=True)
    # SHA-256 of the normalised submission: a resubmission is the same observation only if this matches.
    content_hash = models.CharField(max_length=64)

    image = models.FileField(upload_to=image_upload_path, max_length=300, null=True, blank=True)
    image_sha256 = models.CharField(max_length=64, blank=True)
    image_size_bytes = models.BigIntegerField(null=True, blank=True)
    image_uploaded_at = models.DateTimeField(null=True, blank=True)
    image_header = models.JSONField(default=dict, blank=True)
    preview = models.FileField(upload_to=preview_upload_path, max_length=300, null=True, blank=True)
    thumbnail = models.FileField(upload_to=preview_upload_path, max_length=300, null=True, blank=True)

    pipeline_state = models.CharField(
        max_length=20, choices=PipelineState.choices, default=PipelineState.PENDING, db_index=True
    )
    pipeline_error = models.TextField(blank=True)
    pipeline_result = models.JSONField(default=dict, blank=True)
    pipeline_claimed_at = models.DateTimeField(null=True, blank=True)
    pipeline_attempts = models.PositiveSmallIntegerField(default=0)
    bjd_tdb = models.FloatField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ObservationQuerySet.as_manager()

    class Meta:
        ordering = ["-observed_at"]
        indexes = [
            models.Index(fields=["target", "observed_at"]),
            models.Index(fields=["site", "observed_at"]),
            models.Index(fields=["observed_at"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.target} @ {self.site} {self.observed_at:%Y-%m-%d %H:%M:%S}"
