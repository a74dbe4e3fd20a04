"""Alerts in the coordinator console: read-only, as the feeds sent them, with what the rules decided."""

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from alerts.models import Alert
from sites.admin import ReadOnlyForCoordinators

PAYLOAD_SHOWN_CHARS = 50_000


class MadeTargetFilter(admin.SimpleListFilter):
    title = "target"
    parameter_name = "has_target"

    def lookups(self, request, model_admin):
        return [("yes", "Made or updated a target"), ("no", "No target")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(target__isnull=False)
        if self.value() == "no":
            return queryset.filter(target__isnull=True)
        return queryset


@admin.register(Alert)
class AlertAdmin(ReadOnlyForCoordinators, admin.ModelAdmin):
    list_display = [
        "received_at", "source", "external_id", "alert_type", "position", "magnitude", "priority", "action",
        "rule_name", "target_link", "decision_short", "update_count",
    ]  # fmt: skip
    list_filter = ["source", "action", "role", "format", "is_retraction", "alert_type", MadeTargetFilter, "received_at"]
    search_fields = ["source", "external_id", "alert_type", "decision", "target__name"]
    list_select_related = ["target"]
    date_hierarchy = "received_at"
    show_full_result_count = False
    actions = None
    fields = [
        "id", "source", "external_id", "alert_type", "format", "role", "ivorn", "revision", "is_retraction",
        "ra_deg", "dec_deg", "error_radius_deg", "magnitude", "priority", "event_time", "received_at", "updated_at",
        "update_count", "skymap", "action", "rule_name", "target_link", "decision", "payload_json",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="RA, Dec (deg)")
    def position(self, alert: Alert) -> str:
        if alert.ra_deg is None or alert.dec_deg is None:
            return "-"
        radius = f" ±{alert.error_radius_deg:g}°" if alert.error_radius_deg is not None else ""
        return f"{alert.ra_deg:.4f}, {alert.dec_deg:+.4f}{radius}"

    @admin.display(description="target", ordering="target__name")
    def target_link(self, alert: Alert) -> str:
        if alert.target_id is None:
            return "-"
        url = reverse("admin:targets_target_change", args=[alert.target_id])
        return format_html('<a href="{}">{}</a>', url, alert.target.name)

    @admin.display(description="decision")
    def decision_short(self, alert: Alert) -> str:
        return Truncator(alert.decision).chars(80)

    @admin.display(description="payload")
    def payload_json(self, alert: Alert) -> str:
        if not alert.payload:
            return "-"
        text = json.dumps(alert.payload, indent=2, sort_keys=True, default=str)
        # Native packets can carry large blobs (sky maps, cutouts); show the start of them only.
        return format_html("<pre>{}</pre>", Truncator(text).chars(PAYLOAD_SHOWN_CHARS))


from alerts.admin_rules import *  # noqa: E402, F403  (alert rules and dead letters)
