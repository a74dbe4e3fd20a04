import uuid

from django.core.validators import MinValueValidator
from django.db import models

from alerts import rules_engine


class Alert(models.Model):
    """One message series from an alert feed, normalised; `(source, external_id)` is its identity.

    A later message of the same series (VOEvent Preliminary → Initial → Update, GCN Kafka records of one trigger,
    IGWN alerts of one superevent) updates this row; `revision` orders them so a late, older packet cannot
    overwrite a newer one.
    """

    class Role(models.TextChoices):
        OBSERVATION = "observation"
        TEST = "test"
        UTILITY = "utility"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.CharField(max_length=100)
    external_id = models.CharField(max_length=300)
    alert_type = models.CharField(max_length=100, blank=True)
    format = models.CharField(max_length=30, blank=True, help_text="Parser that read it (voevent, gcn_json, ...).")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.OBSERVATION)
    name = models.CharField(max_length=200, blank=True, help_text="Object name given by the feed, if any.")
    ivorn = models.CharField(max_length=500, blank=True, help_text="Identity of the latest VOEvent packet.")
    notice_type = models.CharField(max_length=100, blank=True)
    revision = models.IntegerField(null=True, blank=True, help_text="Larger is newer within the series.")
    is_retraction = models.BooleanField(default=False)
    ra_deg = models.FloatField(null=True, blank=True)
    dec_deg = models.FloatField(null=True, blank=True)
    error_radius_deg = models.FloatField(null=True, blank=True)
    magnitude = models.FloatField(null=True, blank=True)
    priority = models.FloatField(null=True, blank=True)
    event_time = models.DateTimeField(null=True, blank=True)
    # Summary of a localisation map (90% area etc.), kept for tiling; never turned into one target.
    skymap = models.JSONField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    update_count = models.PositiveIntegerField(default=0)
    target = models.ForeignKey(
        "targets.Target", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    # True when this series created its target (a retraction deactivates only what the series made).
    made_target = models.BooleanField(default=False)
    action = models.CharField(max_length=30, blank=True, help_text="What the rules did, as a word.")
    rule_name = models.CharField(max_length=100, blank=True)
    decision = models.TextField(blank=True, help_text="What the rules did with this alert, and why.")

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="unique_alert_source_external_id")
        ]
        indexes = [models.Index(fields=["received_at"]), models.Index(fields=["alert_type", "received_at"])]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"


class AlertRuleQuerySet(models.QuerySet):
    def in_order(self):
        return self.order_by("order", "name")


class AlertRule(models.Model):
    """A coordinator-editable rule (mirrors `alerts.rules_engine.AlertRule`); the first enabled match decides."""

    name = models.CharField(max_length=100, unique=True)
    order = models.PositiveIntegerField(default=100, help_text="Rules are tried from the lowest order up.")
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    source_pattern = models.CharField(
        max_length=100, default="*", help_text="Feed name pattern, case-insensitive (GCN, ZTF, TNS, * for any)."
    )
    alert_types = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated alert type patterns (GRB, SN *); empty for any type."
    )
    priority_min = models.FloatField(default=1.0, validators=[MinValueValidator(0)])
    priority_max = models.FloatField(default=5.0, validators=[MinValueValidator(0)])
    precise_radius_deg = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0)],
        help_text="Error radius at or below which precision costs nothing.",
    )
    max_error_radius_deg = models.FloatField(
        null=True, blank=True, default=1.0, help_text="Larger error regions make no target (region too large)."
    )
    max_magnitude = models.FloatField(null=True, blank=True, help_text="Fainter alerts are ignored.")
    max_age_days = models.FloatField(null=True, blank=True, help_text="Older events are ignored.")
    priority_half_life_days = models.FloatField(null=True, blank=True)
    expiry_days = models.FloatField(default=7.0, validators=[MinValueValidator(0)])
    crossmatch_radius_deg = models.FloatField(
        default=2 / 3600, validators=[MinValueValidator(0)],
        help_text="An existing target this close is the same object (2 arcsec = 0.000556 deg).",
    )  # fmt: skip
    campaign_name = models.CharField(max_length=200, blank=True, help_text="Join (create or extend) this campaign.")
    campaign_window_hours = models.FloatField(null=True, blank=True, help_text="Time-critical window from the event.")
    campaign_window_boost = models.FloatField(
        default=2.0, validators=[MinValueValidator(0)], help_text="Priority boost of that window on the target."
    )
    target_type = models.CharField(max_length=20, default="transient")
    updated_at = models.DateTimeField(auto_now=True)

    objects = AlertRuleQuerySet.as_manager()

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name

    def to_engine(self) -> rules_engine.AlertRule:
        return rules_engine.AlertRule.from_mapping(
            {
                **{f.name: getattr(self, f.name) for f in self._meta.concrete_fields},
                "campaign_name": self.campaign_name or None,
            }
        )


class DeadLetter(models.Model):
    """A message a feed sent that could not be read or ingested: kept for a coordinator to look at."""

    MAX_BODY_BYTES = 256 * 1024

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    feed = models.CharField(max_length=200, help_text="Where it came from (gcn_kafka:<topic>, poller:tns, ...).")
    content_type = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True, help_text="The message as UTF-8 text, or base64 when it is binary.")
    body_encoding = models.CharField(max_length=10, default="utf-8")
    body_size = models.PositiveIntegerField(default=0, help_text="Size of the whole message in bytes.")
    truncated = models.BooleanField(default=False)
    error = models.TextField()
    resolved = models.BooleanField(default=False)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["resolved", "received_at"])]

    def __str__(self) -> str:
        return f"{self.feed} @ {self.received_at:%Y-%m-%d %H:%M:%S}"
