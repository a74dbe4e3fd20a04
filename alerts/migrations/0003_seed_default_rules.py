"""Seed the coordinators' rule table with `alerts.rules_engine.default_rules()` (values copied at this point)."""

from django.db import migrations

# Frozen copy: a migration must not change when the engine's defaults change later.
DEFAULT_RULES = [
    {"name": "GRB afterglows", "alert_types": "GRB", "priority_min": 4.0, "priority_max": 10.0,
     "precise_radius_deg": 0.1, "max_error_radius_deg": 1.0, "max_age_days": 3.0, "priority_half_life_days": 0.25,
     "expiry_days": 3.0, "crossmatch_radius_deg": 5 / 3600, "campaign_name": "GRB afterglows",
     "campaign_window_hours": 48.0},
    {"name": "Neutrino counterparts", "alert_types": "neutrino", "priority_min": 2.0, "priority_max": 6.0,
     "precise_radius_deg": 0.2, "max_error_radius_deg": 1.0, "max_age_days": 3.0, "priority_half_life_days": 1.0,
     "expiry_days": 5.0, "crossmatch_radius_deg": 5 / 3600},
    {"name": "X-ray transients", "alert_types": "X-ray transient", "priority_min": 2.0, "priority_max": 6.0,
     "precise_radius_deg": 0.05, "max_error_radius_deg": 0.3, "max_age_days": 5.0, "priority_half_life_days": 1.0,
     "expiry_days": 5.0, "crossmatch_radius_deg": 5 / 3600},
    {"name": "Microlensing", "alert_types": "microlensing", "priority_min": 2.0, "priority_max": 5.0,
     "max_error_radius_deg": 0.01, "max_age_days": 60.0, "expiry_days": 30.0},
    {"name": "Supernovae and optical transients",
     "alert_types": "SN candidate, SN, SN *, optical transient, nova, CV, TDE",
     "priority_min": 0.5, "priority_max": 4.0, "precise_radius_deg": 0.001, "max_error_radius_deg": 0.01,
     "max_age_days": 30.0, "priority_half_life_days": 7.0, "expiry_days": 14.0},
]  # fmt: skip


def seed(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    for order, values in enumerate(DEFAULT_RULES, start=1):
        AlertRule.objects.get_or_create(name=values["name"], defaults={**values, "order": order * 10})


def unseed(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    AlertRule.objects.filter(name__in=[r["name"] for r in DEFAULT_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0002_alert_series_rules_deadletter")]

    operations = [migrations.RunPython(seed, unseed)]
