import uuid

from django.db import models


class Alert(models.Model):
    """One message from an alert feed, normalised; `(source, external_id)` is its identity."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.CharField(max_length=100)
    external_id = models.CharField(max_length=300)
    alert_type = models.CharField(max_length=100, blank=True)
    ra_deg = models.FloatField(null=True, blank=True)
    dec_deg = models.FloatField(null=True, blank=True)
    error_radius_deg = models.FloatField(null=True, blank=True)
    magnitude = models.FloatField(null=True, blank=True)
    priority = models.FloatField(null=True, blank=True)
    event_time = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    update_count = models.PositiveIntegerField(default=0)
    target = models.ForeignKey(
        "targets.Target", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    decision = models.TextField(blank=True, help_text="What the rules did with this alert, and why.")

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="unique_alert_source_external_id")
        ]
        indexes = [models.Index(fields=["received_at"])]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"
