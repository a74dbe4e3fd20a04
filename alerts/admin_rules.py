"""Coordinator console for the alert rules and the dead-letter table (imported by alerts/admin.py)."""

import base64

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from alerts.models import AlertRule, DeadLetter
from sites.admin import CoordinatorPermissions

BODY_SHOWN_CHARS = 20_000

__all__ = ["AlertRuleAdmin", "DeadLetterAdmin"]


@admin.register(AlertRule)
class AlertRuleAdmin(CoordinatorPermissions, admin.ModelAdmin):
    list_display = [
        "order", "name", "enabled", "source_pattern", "alert_types", "priority_min", "priority_max",
        "max_error_radius_deg", "max_age_days", "expiry_days", "campaign_name",
    ]  # fmt: skip
    list_display_links = ["name"]
    list_editable = ["order", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name", "alert_types", "source_pattern", "campaign_name"]
    fieldsets = [
        (None, {"fields": ["name", "order", "enabled", "description"]}),
        ("Which alerts", {"fields": ["source_pattern", "alert_types", "max_error_radius_deg", "max_magnitude",
                                     "max_age_days"]}),
        ("Priority and expiry", {"fields": ["priority_min", "priority_max", "precise_radius_deg",
                                            "priority_half_life_days", "expiry_days", "target_type"]}),
        ("Crossmatch", {"fields": ["crossmatch_radius_deg"]}),
        ("Campaign trigger", {"fields": ["campaign_name", "campaign_window_hours", "campaign_window_boost"]}),
    ]  # fmt: skip


@admin.register(DeadLetter)
class DeadLetterAdmin(CoordinatorPermissions, admin.ModelAdmin):
    list_display = ["received_at", "feed", "content_type", "body_size", "error_short", "resolved"]
    list_filter = ["resolved", "feed", "received_at"]
    search_fields = ["feed", "error"]
    date_hierarchy = "received_at"
    actions = ["mark_resolved", "replay"]
    fields = [
        "id", "received_at", "feed", "content_type", "body_size", "truncated", "body_encoding", "error", "resolved",
        "body_shown",
    ]  # fmt: skip
    readonly_fields = [f for f in fields if f != "resolved"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="error")
    def error_short(self, letter: DeadLetter) -> str:
        return Truncator(letter.error).chars(100)

    @admin.display(description="body")
    def body_shown(self, letter: DeadLetter) -> str:
        text = letter.body
        if letter.body_encoding == "base64":
            raw = base64.b64decode(text)[:2048]
            text = " ".join(f"{b:02x}" for b in raw)
        return format_html("<pre>{}</pre>", Truncator(text).chars(BODY_SHOWN_CHARS))

    @admin.action(description="Mark as resolved")
    def mark_resolved(self, request, queryset):
        n = queryset.update(resolved=True)
        self.message_user(request, f"{n} dead letter(s) marked resolved.")

    @admin.action(description="Replay (parse and ingest again)")
    def replay(self, request, queryset):
        from alerts import services

        done = failed = 0
        for letter in queryset.filter(resolved=False, truncated=False):
            before = timezone.now()
            results = services.message_ingest(
                feed=f"replay:{letter.feed}", body=services.dead_letter_body(letter), content_type=letter.content_type
            )
            if results:
                DeadLetter.objects.filter(pk=letter.pk).update(resolved=True)
                done += 1
            else:
                # A failed replay made a new dead letter of its own; keep only the original.
                DeadLetter.objects.filter(feed=f"replay:{letter.feed}", received_at__gte=before).delete()
                failed += 1
        level = messages.SUCCESS if not failed else messages.WARNING
        self.message_user(request, f"Replayed {done}; {failed} still fail.", level=level)
