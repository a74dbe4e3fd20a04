"""Coordinator console for sites: approval, activation, key rotation, and who is online now."""

import zoneinfo

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from rest_framework import serializers

from sites.models import Site
from sites.serializers import validate_horizon
from sites.services import site_register, site_rotate_key, site_set_approval, site_update

# Filled in on the add form; everything the site reports about itself (heartbeat, weather, version) is read-only.
REGISTRATION_FIELDS = [
    "owner", "name", "latitude", "longitude", "elevation_m", "timezone", "aperture_mm", "focal_length_mm",
    "camera_model", "filters", "fov_arcmin", "limiting_mag", "mount_type", "automation_level", "min_altitude_deg",
    "horizon", "twilight_sun_altitude_deg", "max_airmass", "max_hour_angle_hours", "embargo_days",
]  # fmt: skip
REPORTED_FIELDS = [
    "online_status", "state", "safe", "last_heartbeat_at", "heartbeat_age", "weather_summary", "client_version",
    "current_target", "reliability",
]  # fmt: skip
EQUIPMENT_FIELDS = [
    "aperture_mm", "focal_length_mm", "camera_model", "filters", "fov_arcmin", "limiting_mag", "mount_type",
    "automation_level",
]  # fmt: skip
LIMIT_FIELDS = [
    "min_altitude_deg", "horizon", "twilight_sun_altitude_deg", "max_airmass", "max_hour_angle_hours", "embargo_days",
]  # fmt: skip
KEY_FIELDS = ["api_key_prefix", "key_rotated_at"]


class CoordinatorPermissions:
    """Staff are the network's coordinators (see API.md): every staff user may use the console in full.

    Mixed into the domain apps' ModelAdmins and inlines instead of handing each coordinator Django model
    permissions one by one. Read-only admins (observations, alerts) use ReadOnlyForCoordinators below.
    """

    @staticmethod
    def _is_coordinator(request) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request):
        return self._is_coordinator(request)

    def has_view_permission(self, request, obj=None):
        return self._is_coordinator(request)

    def has_add_permission(self, request, *args):
        return self._is_coordinator(request)

    def has_change_permission(self, request, obj=None):
        return self._is_coordinator(request)

    def has_delete_permission(self, request, obj=None):
        return self._is_coordinator(request)


class ReadOnlyForCoordinators(CoordinatorPermissions):
    """Records the network receives (observations, alerts) are shown as they came: nobody adds, edits or deletes."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SiteAdminForm(forms.ModelForm):
    """The console checks the horizon mask and time zone as the API does."""

    class Meta:
        model = Site
        fields = [*REGISTRATION_FIELDS, "approved", "is_active"]

    def clean_horizon(self):
        value = self.cleaned_data.get("horizon")
        if value in (None, ""):
            return []
        try:
            return validate_horizon(value)
        except serializers.ValidationError as exc:
            raise forms.ValidationError(" ".join(str(m) for m in exc.detail)) from exc

    def clean_filters(self):
        value = self.cleaned_data.get("filters")
        if value in (None, ""):
            return []
        if not isinstance(value, list) or not all(isinstance(f, str) and f.strip() for f in value):
            raise forms.ValidationError('Expected a list of filter names, e.g. ["V", "R", "Clear"].')
        return value

    def clean_timezone(self):
        value = self.cleaned_data.get("timezone") or "UTC"
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise forms.ValidationError(f"Unknown IANA time zone '{value}'.") from exc
        return value


class OnlineFilter(admin.SimpleListFilter):
    """Online as the scheduler judges it: usable, fresh heartbeat, safe, not closed."""

    title = "online now"
    parameter_name = "online"

    def lookups(self, request, model_admin):
        return [("yes", "Online"), ("no", "Offline")]

    def queryset(self, request, queryset):
        online = Site.objects.online().values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=online)
        if self.value() == "no":
            return queryset.exclude(pk__in=online)
        return queryset


@admin.register(Site)
class SiteAdmin(CoordinatorPermissions, admin.ModelAdmin):
    form = SiteAdminForm
    list_display = [
        "name", "owner", "approved", "is_active", "online_status", "state", "last_heartbeat_at", "aperture_mm",
        "limiting_mag", "filter_list", "observation_count", "api_key_prefix", "client_version",
    ]  # fmt: skip
    list_filter = [OnlineFilter, "approved", "is_active", "state", "automation_level", "mount_type", "safe"]
    search_fields = ["name", "owner__username", "owner__email", "camera_model", "api_key_prefix"]
    list_select_related = ["owner"]
    autocomplete_fields = ["owner"]
    date_hierarchy = "created_at"
    actions = ["approve", "unapprove", "activate", "deactivate", "rotate_key"]
    # The key hash is never shown or editable; the prefix is enough to recognise a key.
    exclude = ["api_key_hash"]
    readonly_fields = [*REPORTED_FIELDS, *KEY_FIELDS, "id", "created_at", "updated_at"]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": REGISTRATION_FIELDS})]
        return [
            (None, {"fields": ["id", "owner", "name", "approved", "is_active"]}),
            ("Location", {"fields": ["latitude", "longitude", "elevation_m", "timezone"]}),
            ("Equipment", {"fields": EQUIPMENT_FIELDS}),
            ("Observing limits", {"fields": LIMIT_FIELDS}),
            ("Reported by the site", {"fields": REPORTED_FIELDS}),
            ("API key", {"fields": KEY_FIELDS, "description": "Rotate the key with the 'Rotate key' action."}),
            ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
        ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_observations=Count("observations"))

    def save_model(self, request, obj, form, change):
        if change:
            # Only what the coordinator edited: a full save could undo a key rotation made meanwhile.
            site_update(site=obj, data={name: form.cleaned_data[name] for name in form.changed_data})
            return
        # A new site gets its key from the same service the API uses; the key is shown here once.
        data = {name: form.cleaned_data[name] for name in REGISTRATION_FIELDS if name != "owner"}
        site, key = site_register(owner=form.cleaned_data["owner"], data=data)
        obj.pk = site.pk
        obj.refresh_from_db()
        obj._state.adding = False
        self.message_user(
            request,
            f"Site '{site.name}' registered. Its API key, shown only this once — pass it on to the observer: {key}",
            messages.SUCCESS,
        )

    @admin.display(description="online", boolean=True)
    def online_status(self, site: Site) -> bool:
        return site.is_online()

    @admin.display(description="heartbeat age")
    def heartbeat_age(self, site: Site) -> str:
        if site.last_heartbeat_at is None:
            return "never"
        seconds = int((timezone.now() - site.last_heartbeat_at).total_seconds())
        if seconds < 120:
            return f"{seconds} s ago"
        if seconds < 7200:
            return f"{seconds // 60} min ago"
        return f"{seconds // 3600} h ago"

    @admin.display(description="weather")
    def weather_summary(self, site: Site) -> str:
        if not site.weather:
            return "-"
        return format_html_join(", ", "{}: {}", sorted(site.weather.items()))

    @admin.display(description="filters")
    def filter_list(self, site: Site) -> str:
        return ", ".join(site.filters or [])

    @admin.display(description="observations", ordering="n_observations")
    def observation_count(self, site: Site) -> int:
        return site.n_observations

    @admin.action(description="Approve selected sites")
    def approve(self, request, queryset):
        count = site_set_approval(sites=list(queryset), approved=True)
        self.message_user(request, f"Approved {count} site(s).", messages.SUCCESS)

    @admin.action(description="Withdraw approval of selected sites")
    def unapprove(self, request, queryset):
        count = site_set_approval(sites=list(queryset), approved=False)
        self.message_user(request, f"Withdrew approval of {count} site(s).", messages.SUCCESS)

    @admin.action(description="Activate selected sites")
    def activate(self, request, queryset):
        for site in queryset:
            site_update(site=site, data={"is_active": True})
        self.message_user(request, f"Activated {len(queryset)} site(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected sites (they get no targets)")
    def deactivate(self, request, queryset):
        for site in queryset:
            site_update(site=site, data={"is_active": False})
        self.message_user(request, f"Deactivated {len(queryset)} site(s).", messages.SUCCESS)

    @admin.action(description="Rotate API key of selected sites (old keys stop working at once)")
    def rotate_key(self, request, queryset):
        for site in queryset:
            key = site_rotate_key(site=site)
            # Shown once: only the hash is kept, so this message is the coordinator's one chance to copy it.
            self.message_user(
                request,
                format_html("New API key for <strong>{}</strong> (shown only once): <code>{}</code>", site.name, key),
                messages.SUCCESS,
            )
