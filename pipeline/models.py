import uuid

from django.db import models


def calibration_upload_path(instance: "CalibrationFrame", filename: str) -> str:
    suffix = ".fits.gz" if filename.endswith(".gz") else ".fits"
    return f"calibration/{instance.site_id}/{instance.kind}/{instance.id}{suffix}"


class CalibrationFrame(models.Model):
    """A site's master bias, dark or flat; science frames are calibrated with the closest matching masters."""

    class Kind(models.TextChoices):
        BIAS = "bias"
        DARK = "dark"
        FLAT = "flat"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    site = models.ForeignKey("sites.Site", on_delete=models.CASCADE, related_name="calibration_frames")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    filter = models.CharField(max_length=32, blank=True)
    binning = models.PositiveSmallIntegerField(default=1)
    temperature_c = models.FloatField(null=True, blank=True)
    exposure_sec = models.FloatField(null=True, blank=True)
    shape = models.JSONField(default=list)
    file = models.FileField(upload_to=calibration_upload_path, max_length=300)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at"]
        indexes = [models.Index(fields=["site", "kind", "is_active"])]
        constraints = [models.UniqueConstraint(fields=["site", "sha256"], name="unique_calibration_file_per_site")]

    def __str__(self) -> str:
        return f"{self.kind} {self.filter or ''} bin{self.binning} ({self.site})"
