"""Coordinator console for the target catalogue: search by name or alias, bulk actions, coverage at a glance.

Bulk actions: activate / deactivate, raise or lower priority (x1.5 or /1.5 — multiplicative so the ranking's
relative order among the selected targets is kept; a priority of 0 is raised to 1), add to a campaign (an
intermediate page asks which campaign).
"""

from astropy import units as u
from astropy.coordinates import Angle
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpResponse
from django.template import engines
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from campaigns.models import Campaign, CampaignTarget
from campaigns.services import campaign_add_targets
from sites.admin import CoordinatorPermissions
from targets.models import Target
from targets.selectors import target_coverage
from targets.serializers import TargetSerializer
from targets.services import target_update, targets_set_active

PRIORITY_FACTOR = 1.5

# Fields the API's serializer checks (ranges, windows, ephemeris, comparison stars): the admin form checks them
# the same way, so the console cannot store what the API would refuse.
VALIDATED_FIELDS = [
    "name", "aliases", "ra_deg", "dec_deg", "target_type", "magnitude", "priority", "cadence_hours",
    "min_observations", "total_hours", "filters", "exposure_sec", "active", "expires_at", "windows", "ephemeris",
    "comparison_stars", "metadata",
]  # fmt: skip
EMPTY_JSON = {"aliases": list, "filters": list, "windows": list, "comparison_stars": list, "metadata": dict}

ADD_TO_CAMPAIGN_TEMPLATE = """{% extends "admin/base_site.html" %}
{% load admin_urls %}
{% block bodyclass %}{{ block.super }} app-targets model-target{% endblock %}
{% block breadcrumbs %}
<div class="breadcrumbs">
<a href="{% url 'admin:index' %}">Home</a>
&rsaquo; <a href="{% url 'admin:app_list' app_label=opts.app_label %}">{{ opts.app_config.verbose_name }}</a>
&rsaquo; <a href="{% url opts|admin_urlname:'changelist' %}">{{ opts.verbose_name_plural|capfirst }}</a>
&rsaquo; Add to campaign
</div>
{% endblock %}
{% block content %}
<p>Add {{ count }} target{{ count|pluralize }} to a campaign
{% if not select_across %}({{ names|join:", " }}{% if count > names|length %}, …{% endif %}){% endif %}.
Targets already in the campaign are left as they are.</p>
<form method="post">{% csrf_token %}
  {{ form.as_p }}
  {% for pk in selected %}<input type="hidden" name="{{ checkbox_name }}" value="{{ pk }}">{% endfor %}
  <input type="hidden" name="select_across" value="{{ select_across|yesno:'1,0' }}">
  <input type="hidden" name="index" value="0">
  <input type="hidden" name="action" value="add_to_campaign">
  <input type="submit" name="apply" value="Add to campaign">
  <a href="{% url opts|admin_urlname:'changelist' %}" class="button cancel-link">Cancel</a>
</form>
{% endblock %}
"""


class AddToCampaignForm(forms.Form):
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.order_by("name"), empty_label=None)


class TargetAdminForm(forms.ModelForm):
    class Meta:
        model = Target
        fields = VALIDATED_FIELDS

    def clean(self):
        cleaned = super().clean()
        for name, empty in EMPTY_JSON.items():
            if name in cleaned and cleaned[name] is None:
                cleaned[name] = empty()
        payload = {name: cleaned[name] for name in VALIDATED_FIELDS if name in cleaned}
        serializer = TargetSerializer(data=payload)
        if serializer.is_valid():
            for name in payload:
                if name in serializer.validated_data:
                    cleaned[name] = serializer.validated_data[name]
            return cleaned
        for name, problems in serializer.errors.items():
            if name in self.errors:
                continue  # the form already said what is wrong with it
            field = name if name in self.fields else None
            self.add_error(field, f"{'' if field else name + ': '}{_flatten(problems)}")
        return cleaned


def _flatten(problems) -> str:
    """Serializer errors can nest (a window, an ephemeris field); make one readable sentence of them."""
    if isinstance(problems, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in problems.items())
    if isinstance(problems, list):
        return " ".join(_flatten(p) for p in problems if p)
    return str(problems)


class CampaignMembershipInline(CoordinatorPermissions, admin.TabularInline):
    model = CampaignTarget
    fk_name = "target"
    fields = ["campaign", "notes", "added_at"]
    readonly_fields = ["added_at"]
    autocomplete_fields = ["campaign"]
    extra = 0
    verbose_name = "campaign membership"


@admin.register(Target)
class TargetAdmin(CoordinatorPermissions, admin.ModelAdmin):
    form = TargetAdminForm
    list_display = [
        "name", "target_type", "ra_display", "dec_display", "magnitude", "priority", "active", "expires_at",
        "campaign_names", "updated_at",
    ]  # fmt: skip
    list_filter = ["target_type", "active", "campaigns", "expires_at", "created_at"]
    # names_key holds `|name|alias|...|` lower-cased, so one search field covers the name and every alias.
    search_fields = ["name", "names_key"]
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False
    actions = ["activate", "deactivate", "raise_priority", "lower_priority", "add_to_campaign"]
    inlines = [CampaignMembershipInline]
    readonly_fields = [
        "id", "sexagesimal", "coverage", "observations_link", "alerts_link", "sky_cell", "created_at", "updated_at",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["id", "name", "aliases", "target_type", "active", "priority", "expires_at"]}),
        ("Position (ICRS)", {"fields": ["ra_deg", "dec_deg", "sexagesimal", "magnitude"]}),
        (
            "What a useful observation looks like",
            {"fields": ["filters", "exposure_sec", "cadence_hours", "min_observations", "total_hours"]},
        ),
        (
            "Timing",
            {
                "fields": ["windows", "ephemeris"],
                "description": 'Windows: [{"start": "2026-11-23T06:00:00Z", "end": "…", "priority_boost": 3.0}]. '
                'Ephemeris: {"epoch_bjd_tdb": …, "period_days": …, "duration_hours": …}.',
            },
        ),
        ("Photometry", {"fields": ["comparison_stars", "metadata"]}),
        ("Coverage", {"fields": ["coverage", "observations_link", "alerts_link"]}),
        ("Record", {"fields": ["sky_cell", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("campaigns")

    def save_model(self, request, obj, form, change):
        # The service keeps the derived fields (sky cell, names key) in step with the position and names.
        target_update(target=obj, data={})

    @admin.display(description="RA (deg)", ordering="ra_deg")
    def ra_display(self, target: Target) -> str:
        return f"{target.ra_deg:.5f}"

    @admin.display(description="Dec (deg)", ordering="dec_deg")
    def dec_display(self, target: Target) -> str:
        return f"{target.dec_deg:+.5f}"

    @admin.display(description="campaigns")
    def campaign_names(self, target: Target) -> str:
        return ", ".join(c.name for c in target.campaigns.all())

    @admin.display(description="RA / Dec (sexagesimal)")
    def sexagesimal(self, target: Target) -> str:
        if target.ra_deg is None or target.dec_deg is None:
            return "-"
        ra = Angle(target.ra_deg, u.deg).to_string(unit=u.hourangle, sep=":", precision=2, pad=True)
        dec = Angle(target.dec_deg, u.deg).to_string(unit=u.deg, sep=":", precision=1, pad=True, alwayssign=True)
        return f"{ra}  {dec}"

    @admin.display(description="coverage")
    def coverage(self, target: Target) -> str:
        if target.pk is None or target._state.adding:
            return "-"
        stats = target_coverage(target=target)
        goal = f" of {target.min_observations} wanted" if target.min_observations else ""
        return (
            f"{stats['total_observations']} observations{goal} from {stats['unique_sites']} site(s); "
            f"{stats['recent_observations']} in the last 7 days"
        )

    @admin.display(description="observations")
    def observations_link(self, target: Target) -> str:
        if target._state.adding:
            return "-"
        url = reverse("admin:observations_observation_changelist") + f"?target__id__exact={target.pk}"
        return format_html('<a href="{}">Observations of {}</a>', url, target.name)

    @admin.display(description="alerts")
    def alerts_link(self, target: Target) -> str:
        if target._state.adding:
            return "-"
        alerts = list(target.alerts.order_by("-received_at")[:10])
        if not alerts:
            return "none"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:alerts_alert_change", args=[a.pk]), str(a)) for a in alerts),
        )

    @staticmethod
    def _by_pk(queryset):
        # A plain queryset, free of the changelist's joins and distinct(), so bulk updates are allowed.
        return Target.objects.filter(pk__in=queryset.values("pk"))

    @admin.action(description="Activate selected targets")
    def activate(self, request, queryset):
        count = targets_set_active(queryset=self._by_pk(queryset), active=True)
        self.message_user(request, f"Activated {count} target(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected targets")
    def deactivate(self, request, queryset):
        count = targets_set_active(queryset=self._by_pk(queryset), active=False)
        self.message_user(request, f"Deactivated {count} target(s).", messages.SUCCESS)

    @admin.action(description="Raise priority (×1.5; 0 becomes 1)")
    def raise_priority(self, request, queryset):
        count = 0
        for target in self._by_pk(queryset):
            new = target.priority * PRIORITY_FACTOR if target.priority > 0 else 1.0
            target_update(target=target, data={"priority": round(new, 4)})
            count += 1
        self.message_user(request, f"Raised the priority of {count} target(s) ×{PRIORITY_FACTOR}.", messages.SUCCESS)

    @admin.action(description="Lower priority (÷1.5)")
    def lower_priority(self, request, queryset):
        count = 0
        for target in self._by_pk(queryset):
            target_update(target=target, data={"priority": round(target.priority / PRIORITY_FACTOR, 4)})
            count += 1
        self.message_user(request, f"Lowered the priority of {count} target(s) ÷{PRIORITY_FACTOR}.", messages.SUCCESS)

    @admin.action(description="Add selected targets to a campaign…")
    def add_to_campaign(self, request, queryset):
        if not Campaign.objects.exists():
            self.message_user(request, "There is no campaign yet: create one first.", messages.WARNING)
            return None
        if "apply" in request.POST:
            form = AddToCampaignForm(request.POST)
            if form.is_valid():
                campaign = form.cleaned_data["campaign"]
                added = campaign_add_targets(campaign=campaign, targets=self._by_pk(queryset).only("pk"))
                total = queryset.count()
                self.message_user(
                    request,
                    f"Added {added} target(s) to '{campaign.name}'"
                    + (f" ({total - added} were already in it)." if total > added else "."),
                    messages.SUCCESS,
                )
                return None
        else:
            form = AddToCampaignForm()
        select_across = request.POST.get("select_across") in ("1", "True", "true", "on")
        context = {
            **self.admin_site.each_context(request),
            "title": "Add targets to a campaign",
            "opts": self.model._meta,
            "form": form,
            "count": queryset.count(),
            "names": [t.name for t in queryset[:20]],
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": select_across,
            "checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        template = engines["django"].from_string(ADD_TO_CAMPAIGN_TEMPLATE)
        return HttpResponse(template.render(context, request))
