"""Observations in the coordinator console: read-only for everyone, since they are the sites' data.

Observations arrive through the API (idempotent by the client's `observation_id`) and the pipeline; editing one
here would break that record, so the admin only shows them, with quality flags and the pipeline's state.
"""

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from observations.models import Observation
from sites.admin import ReadOnlyForCoordinators

MEASUREMENT_FIELDS = [
    "id", "target", "site", "observed_at", "bjd_tdb", "exposure_sec", "filter", "airmass", "seeing_arcsec",
]  # fmt: skip
REPORTED_FIELDS = ["photometry_json", "astrometry_json", "client_flags", "raw_metadata_json"]
IMAGE_FIELDS = [
    "image_link", "preview_image", "image_size_bytes", "image_sha256", "image_uploaded_at", "image_header_json",
]  # fmt: skip
PIPELINE_FIELDS = [
    "pipeline_state", "pipeline_error", "pipeline_flags", "pipeline_result_json", "pipeline_attempts",
    "pipeline_claimed_at",
]  # fmt: skip


def _pretty_json(value) -> str:
    if not value:
        return "-"
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


def _quality_flags(obs: Observation) -> list[str]:
    """The pipeline's flags once it is done, else the client's own."""
    if obs.pipeline_state == Observation.PipelineState.DONE:
        flags = (obs.pipeline_result or {}).get("quality_flags")
        if flags is not None:
            return list(flags)
    return list(obs.quality_flags or [])


class HasImageFilter(admin.SimpleListFilter):
    title = "image"
    parameter_name = "has_image"

    def lookups(self, request, model_admin):
        return [("yes", "With image"), ("no", "Without image")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(image="").exclude(image__isnull=True)
        if self.value() == "no":
            return queryset.filter(image__in=["", None])
        return queryset


class FlaggedFilter(admin.SimpleListFilter):
    title = "client quality flags"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "Flagged"), ("no", "Clean")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(quality_flags=[])
        if self.value() == "no":
            return queryset.filter(quality_flags=[])
        return queryset


@admin.register(Observation)
class ObservationAdmin(ReadOnlyForCoordinators, admin.ModelAdmin):
    list_display = [
        "observed_at", "target_link", "site", "filter", "exposure_sec", "magnitude", "pipeline_state",
        "flags", "has_image",
    ]  # fmt: skip
    list_filter = [
        "pipeline_state", "site", "filter", "target__target_type", HasImageFilter, FlaggedFilter,
        "target__campaigns",
    ]  # fmt: skip
    search_fields = ["=id", "target__name", "target__names_key", "site__name"]
    list_select_related = ["target", "site"]
    date_hierarchy = "observed_at"
    show_full_result_count = False
    list_per_page = 100
    actions = None
    fieldsets = [
        (None, {"fields": MEASUREMENT_FIELDS}),
        ("Reported by the site", {"fields": REPORTED_FIELDS}),
        ("Image", {"fields": IMAGE_FIELDS}),
        ("Pipeline", {"fields": PIPELINE_FIELDS}),
        ("Record", {"fields": ["content_hash", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [name for _, options in self.fieldsets for name in options["fields"]]

    @admin.display(description="target", ordering="target__name")
    def target_link(self, obs: Observation) -> str:
        url = reverse("admin:targets_target_change", args=[obs.target_id])
        return format_html('<a href="{}">{}</a>', url, obs.target.name)

    @admin.display(description="mag")
    def magnitude(self, obs: Observation) -> str:
        pipeline = (obs.pipeline_result or {}).get("photometry") or {}
        client = obs.photometry or {}
        for phot in (pipeline, client):
            if phot.get("magnitude") is not None:
                err = phot.get("error")
                return f"{phot['magnitude']:.3f}" + (f" ± {err:.3f}" if err is not None else "")
            if phot.get("flux") is not None:
                return f"flux {phot['flux']:.4f}"
        return "-"

    @admin.display(description="quality flags")
    def flags(self, obs: Observation) -> str:
        return ", ".join(_quality_flags(obs)) or "-"

    @admin.display(description="image", boolean=True)
    def has_image(self, obs: Observation) -> bool:
        return bool(obs.image)

    @admin.display(description="client quality flags")
    def client_flags(self, obs: Observation) -> str:
        return ", ".join(obs.quality_flags or []) or "-"

    @admin.display(description="pipeline quality flags")
    def pipeline_flags(self, obs: Observation) -> str:
        return ", ".join((obs.pipeline_result or {}).get("quality_flags") or []) or "-"

    @admin.display(description="photometry")
    def photometry_json(self, obs: Observation) -> str:
        return _pretty_json(obs.photometry)

    @admin.display(description="astrometry")
    def astrometry_json(self, obs: Observation) -> str:
        return _pretty_json(obs.astrometry)

    @admin.display(description="raw FITS metadata")
    def raw_metadata_json(self, obs: Observation) -> str:
        return _pretty_json(obs.raw_metadata)

    @admin.display(description="FITS header")
    def image_header_json(self, obs: Observation) -> str:
        return _pretty_json(obs.image_header)

    @admin.display(description="pipeline result")
    def pipeline_result_json(self, obs: Observation) -> str:
        return _pretty_json(obs.pipeline_result)

    @admin.display(description="image")
    def image_link(self, obs: Observation) -> str:
        if not obs.image:
            return "no image uploaded"
        try:
            return format_html('<a href="{}">{}</a>', obs.image.url, obs.image.name)
        except (NotImplementedError, ValueError):
            return obs.image.name

    @admin.display(description="preview")
    def preview_image(self, obs: Observation) -> str:
        if not obs.preview:
            return "-"
        try:
            return format_html('<img src="{}" style="max-width: 512px" alt="preview">', obs.preview.url)
        except (NotImplementedError, ValueError):
            return obs.preview.name
