"""Coordinator console for campaigns: their targets inline, and progress against each target's goal."""

from django.contrib import admin, messages
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from campaigns.models import Campaign, CampaignTarget
from campaigns.selectors import campaign_progress
from campaigns.services import campaign_save
from sites.admin import CoordinatorPermissions


class CampaignTargetInline(CoordinatorPermissions, admin.TabularInline):
    model = CampaignTarget
    fk_name = "campaign"
    fields = ["target", "target_type", "target_priority", "notes", "added_at"]
    readonly_fields = ["target_type", "target_priority", "added_at"]
    autocomplete_fields = ["target"]
    extra = 1
    verbose_name = "target"
    verbose_name_plural = "targets (type a name or alias to find one; add many at once from the target list)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("target").order_by("-target__priority", "target__name")

    @admin.display(description="type")
    def target_type(self, membership: CampaignTarget) -> str:
        return membership.target.get_target_type_display() if membership.target_id else "-"

    @admin.display(description="priority")
    def target_priority(self, membership: CampaignTarget) -> str:
        return f"{membership.target.priority:g}" if membership.target_id else "-"


@admin.register(Campaign)
class CampaignAdmin(CoordinatorPermissions, admin.ModelAdmin):
    list_display = [
        "name", "kind", "is_active", "running", "start_date", "end_date", "priority_boost", "redundancy",
        "target_count", "progress_summary",
    ]  # fmt: skip
    list_filter = ["kind", "is_active", "start_date"]
    search_fields = ["name", "description"]
    date_hierarchy = "start_date"
    inlines = [CampaignTargetInline]
    actions = ["activate", "deactivate"]
    readonly_fields = ["id", "progress", "created_by", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["id", "name", "description", "kind", "is_active"]}),
        ("When", {"fields": ["start_date", "end_date"]}),
        (
            "Scheduling",
            {
                "fields": ["priority_boost", "redundancy"],
                "description": "The boost multiplies the score of the campaign's targets while it runs; "
                "redundancy is how many sites should observe the same target at once.",
            },
        ),
        ("Progress", {"fields": ["progress"]}),
        ("Record", {"fields": ["created_by", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_targets=Count("memberships", distinct=True))

    def save_model(self, request, obj, form, change):
        data = {} if change else {"created_by": request.user}
        campaign_save(campaign=obj, data=data, user=request.user)

    @admin.display(description="running now", boolean=True)
    def running(self, campaign: Campaign) -> bool:
        return campaign.is_running()

    @admin.display(description="targets", ordering="n_targets")
    def target_count(self, campaign: Campaign) -> int:
        return campaign.n_targets

    @admin.display(description="progress")
    def progress_summary(self, campaign: Campaign) -> str:
        p = campaign_progress(campaign=campaign)
        goal = f"{p['targets_complete']}/{p['targets_with_goal']} targets done, " if p["targets_with_goal"] else ""
        return f"{goal}{p['total_observations']} obs. from {p['sites_taking_part']} site(s)"

    @admin.display(description="progress (observations inside the campaign's dates vs. each target's goal)")
    def progress(self, campaign: Campaign) -> str:
        if campaign._state.adding:
            return "Save the campaign to see its progress."
        p = campaign_progress(campaign=campaign)
        if not p["targets"]:
            return "No targets yet."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:targets_target_change", args=[t["target_id"]]),
                    t["name"],
                    t["target_type"],
                    t["observations"],
                    t["min_observations"] if t["min_observations"] else "-",
                    _progress_cell(t),
                )
                for t in p["targets"]
            ),
        )
        summary = (
            f"{p['total_observations']} observations from {p['sites_taking_part']} site(s); "
            f"{p['targets_complete']} of {p['targets_with_goal']} targets with a goal have reached it."
        )
        return format_html(
            "<p>{}</p><table><thead><tr><th>target</th><th>type</th><th>observations</th>"
            "<th>wanted</th><th>done</th></tr></thead><tbody>{}</tbody></table>",
            summary,
            rows,
        )

    @admin.action(description="Activate selected campaigns")
    def activate(self, request, queryset):
        for campaign in queryset:
            campaign_save(campaign=campaign, data={"is_active": True})
        self.message_user(request, f"Activated {len(queryset)} campaign(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected campaigns")
    def deactivate(self, request, queryset):
        for campaign in queryset:
            campaign_save(campaign=campaign, data={"is_active": False})
        self.message_user(request, f"Deactivated {len(queryset)} campaign(s).", messages.SUCCESS)


def _progress_cell(row: dict) -> str:
    if not row["min_observations"]:
        return "no goal"
    pct = min(100, round(100 * row["observations"] / row["min_observations"]))
    return "✔ done" if row["complete"] else f"{pct}%"
