"""What to do with an alert: pure decision logic (no database, no Django).

The caller (the alert service) loads the coordinators' rules, finds the target the alert's series already
made (if any) and the nearest existing target (with :func:`crossmatch_radius_deg` as the search radius), then
calls :func:`decide` and carries out the :class:`Decision`. Every decision has a ``reason`` sentence to store
on the alert, so the admin shows why a target was (or was not) made.

Rules are tried in order; the first enabled rule whose source pattern and alert types match is used.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from alerts.formats.base import ParsedAlert

Action = Literal["create_target", "update_target", "merge_into_existing", "ignore", "deactivate"]
ACTIONS: tuple[str, ...] = ("create_target", "update_target", "merge_into_existing", "ignore", "deactivate")
ARCSEC = 1.0 / 3600.0


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One coordinator-editable rule (mirrors a model row)."""

    name: str
    source_pattern: str = "*"  # fnmatch on ParsedAlert.source, case-insensitive ("GCN", "ZTF", "*")
    alert_types: tuple[str, ...] = ()  # fnmatch patterns on alert_type; empty = any type
    enabled: bool = True
    priority_min: float = 1.0  # priority of an old / imprecise alert that still passes
    priority_max: float = 5.0  # priority of a fresh alert with a small error box
    precise_radius_deg: float = 0.1  # error radius at or below which precision costs nothing
    max_error_radius_deg: float | None = 1.0  # larger → region too large for one target
    max_magnitude: float | None = None  # fainter than this → ignored (the network limit applies too)
    max_age_days: float | None = None  # events older than this → ignored
    priority_half_life_days: float | None = None  # priority decays toward priority_min with event age
    expiry_days: float = 7.0  # the target expires after this long without news
    crossmatch_radius_deg: float = 2 * ARCSEC  # an existing target this close is the same object
    campaign_name: str | None = None  # join (create or extend) this campaign
    campaign_window_hours: float | None = None  # time-critical window from the event time
    target_type: str = "transient"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AlertRule:
        """Build from a model row / dict: unknown keys are ignored, ``alert_types`` may be a list or a
        comma-separated string."""
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in values.items() if k in known}
        types = data.get("alert_types")
        if isinstance(types, str):
            data["alert_types"] = tuple(t.strip() for t in types.split(",") if t.strip())
        elif types is not None:
            data["alert_types"] = tuple(types)
        return cls(**data)

    def matches(self, alert: ParsedAlert) -> bool:
        if not self.enabled:
            return False
        if not fnmatch.fnmatchcase(alert.source.lower(), self.source_pattern.lower()):
            return False
        if not self.alert_types:
            return True
        kind = alert.alert_type.lower()
        return any(fnmatch.fnmatchcase(kind, pattern.lower()) for pattern in self.alert_types)


@dataclass(frozen=True, slots=True)
class CrossmatchHit:
    """The nearest existing target (from alerts.crossmatch or a DB cone search)."""

    target_id: str
    separation_deg: float
    priority: float | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    rule: str | None = None
    priority: float | None = None
    expires_at: dt.datetime | None = None
    target_id: str | None = None  # target to update / merge into / deactivate
    target_type: str | None = None
    campaign: str | None = None
    campaign_window_start: dt.datetime | None = None
    campaign_window_end: dt.datetime | None = None
    region_too_large: bool = False


def default_rules() -> list[AlertRule]:
    """Sensible starting rules; coordinators edit them in the admin."""
    return [
        AlertRule(
            name="GRB afterglows",
            alert_types=("GRB",),
            priority_min=4.0,
            priority_max=10.0,
            precise_radius_deg=0.1,
            max_error_radius_deg=1.0,
            max_age_days=3.0,
            priority_half_life_days=0.25,
            expiry_days=3.0,
            crossmatch_radius_deg=5 * ARCSEC,
            campaign_name="GRB afterglows",
            campaign_window_hours=48.0,
        ),
        AlertRule(
            name="Neutrino counterparts",
            alert_types=("neutrino",),
            priority_min=2.0,
            priority_max=6.0,
            precise_radius_deg=0.2,
            max_error_radius_deg=1.0,
            max_age_days=3.0,
            priority_half_life_days=1.0,
            expiry_days=5.0,
            crossmatch_radius_deg=5 * ARCSEC,
        ),
        AlertRule(
            name="X-ray transients",
            alert_types=("X-ray transient",),
            priority_min=2.0,
            priority_max=6.0,
            precise_radius_deg=0.05,
            max_error_radius_deg=0.3,
            max_age_days=5.0,
            priority_half_life_days=1.0,
            expiry_days=5.0,
            crossmatch_radius_deg=5 * ARCSEC,
        ),
        AlertRule(
            name="Microlensing",
            alert_types=("microlensing",),
            priority_min=2.0,
            priority_max=5.0,
            max_error_radius_deg=0.01,
            max_age_days=60.0,
            expiry_days=30.0,
        ),
        AlertRule(
            name="Supernovae and optical transients",
            alert_types=("SN candidate", "SN", "SN *", "optical transient", "nova", "CV", "TDE"),
            priority_min=0.5,
            priority_max=4.0,
            precise_radius_deg=0.001,
            max_error_radius_deg=0.01,
            max_age_days=30.0,
            priority_half_life_days=7.0,
            expiry_days=14.0,
        ),
    ]


def _fmt_deg(value: float) -> str:
    if value < 1 / 60:
        return f"{value * 3600:.1f}″"
    if value < 1:
        return f"{value * 60:.1f}′"
    return f"{value:.2f}°"


def _fmt_age(days: float) -> str:
    if days < 1 / 24:
        return f"{days * 1440:.0f} min"
    if days < 2:
        return f"{days * 24:.1f} h"
    return f"{days:.1f} days"


def match_rule(alert: ParsedAlert, rules: Sequence[AlertRule]) -> AlertRule | None:
    return next((r for r in rules if r.matches(alert)), None)


def crossmatch_radius_deg(alert: ParsedAlert, rules: Sequence[AlertRule]) -> float | None:
    """The radius to search existing targets with for this alert (None: no rule, no search needed)."""
    rule = match_rule(alert, rules)
    return rule.crossmatch_radius_deg if rule else None


def compute_priority(rule: AlertRule, alert: ParsedAlert, age_days: float | None) -> float:
    """Map precision and freshness onto [priority_min, priority_max]."""
    precision = 1.0
    err = alert.error_radius_deg
    if err is not None and err > rule.precise_radius_deg > 0:
        worst = rule.max_error_radius_deg or rule.precise_radius_deg * 100
        if worst > rule.precise_radius_deg:
            precision = 1.0 - math.log(err / rule.precise_radius_deg) / math.log(worst / rule.precise_radius_deg)
        precision = min(1.0, max(0.0, precision))
    freshness = 1.0
    if age_days is not None and rule.priority_half_life_days and age_days > 0:
        freshness = 0.5 ** (age_days / rule.priority_half_life_days)
    value = rule.priority_min + (rule.priority_max - rule.priority_min) * precision * freshness
    return round(max(0.0, value), 2)


def decide(
    alert: ParsedAlert,
    rules: Sequence[AlertRule],
    *,
    network_limiting_mag: float | None = None,
    crossmatch: CrossmatchHit | None = None,
    existing_target_id: str | None = None,
    now: dt.datetime | None = None,
) -> Decision:
    """Decide what an alert does.

    ``existing_target_id``: the target an earlier alert of the same ``(source, external_id)`` series made
    (updates and retractions act on it). ``crossmatch``: the nearest *other* existing target, if any.
    ``network_limiting_mag``: the faintest magnitude any active site reaches.
    """
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    what = f"{alert.alert_type} from {alert.source}"

    if alert.role != "observation":
        return Decision("ignore", f"Ignored: a {alert.role} packet ({what}), not a real event.")

    if alert.is_retraction:
        if existing_target_id:
            return Decision(
                "deactivate",
                f"Retraction of {alert.external_id}: its target is deactivated.",
                target_id=existing_target_id,
            )
        return Decision("ignore", f"Retraction of {alert.external_id}, which made no target: nothing to do.")

    if alert.alert_type == "GW" or (not alert.has_position and alert.skymap is not None):
        area = alert.skymap.area_90_deg2 if alert.skymap else None
        size = f" (90% area {area:,.0f} deg²)" if area is not None else ""
        return Decision(
            "ignore",
            f"No target: region too large — a gravitational-wave localisation{size} is "
            "not a single position; the alert is kept for tiling.",
            region_too_large=True,
        )

    rule = match_rule(alert, rules)
    if rule is None:
        return Decision("ignore", f"Ignored: no enabled rule accepts {what}.")

    if not alert.has_position:
        return Decision("ignore", f"No target: the {what} gives no position yet.", rule=rule.name)
    assert alert.ra_deg is not None and alert.dec_deg is not None

    err = alert.error_radius_deg
    if err is not None and rule.max_error_radius_deg is not None and err > rule.max_error_radius_deg:
        return Decision(
            "ignore",
            f"No target: region too large — error radius {_fmt_deg(err)} exceeds the "
            f"{_fmt_deg(rule.max_error_radius_deg)} limit of rule '{rule.name}'.",
            rule=rule.name,
            region_too_large=True,
        )

    age_days = None
    if alert.event_time is not None:
        age_days = max(0.0, (now - alert.event_time).total_seconds() / 86400.0)
        if rule.max_age_days is not None and age_days > rule.max_age_days:
            return Decision(
                "ignore",
                f"Ignored: the event is {_fmt_age(age_days)} old, beyond the "
                f"{_fmt_age(rule.max_age_days)} of rule '{rule.name}'.",
                rule=rule.name,
            )

    if alert.magnitude is not None:
        limits = [
            (v, label)
            for v, label in ((rule.max_magnitude, f"rule '{rule.name}'"), (network_limiting_mag, "the network"))
            if v is not None
        ]
        if limits:
            limit, label = min(limits, key=lambda x: x[0])
            if alert.magnitude > limit:
                return Decision(
                    "ignore",
                    f"Ignored: magnitude {alert.magnitude:.1f} is fainter than the {limit:.1f} limit of {label}.",
                    rule=rule.name,
                )

    # A feed that states a priority (the normalised form) gets it; otherwise the rule's mapping decides.
    priority = alert.priority if alert.priority is not None else compute_priority(rule, alert, age_days)
    expires_at = now + dt.timedelta(days=rule.expiry_days)
    campaign = start = end = None
    campaign_text = ""
    if rule.campaign_name:
        campaign = rule.campaign_name
        start = alert.event_time or now
        if rule.campaign_window_hours:
            end = start + dt.timedelta(hours=rule.campaign_window_hours)
            campaign_text = f"; joins campaign '{campaign}' for {rule.campaign_window_hours:g} h from the event"
        else:
            campaign_text = f"; joins campaign '{campaign}'"
    details = []
    if err is not None:
        details.append(f"error radius {_fmt_deg(err)}")
    if age_days is not None:
        details.append(f"{_fmt_age(age_days)} old")
    if alert.magnitude is not None:
        details.append(f"mag {alert.magnitude:.1f}")
    detail = f" ({', '.join(details)})" if details else ""
    tail = (
        f"priority {priority:g} by rule '{rule.name}'{campaign_text}; expires in {rule.expiry_days:g} days "
        "without news."
    )
    common = {
        "rule": rule.name,
        "priority": priority,
        "expires_at": expires_at,
        "target_type": rule.target_type,
        "campaign": campaign,
        "campaign_window_start": start,
        "campaign_window_end": end,
    }

    if existing_target_id:
        return Decision(
            "update_target",
            f"Updated the target of {alert.external_id} with a newer {what}{detail}: " + tail,
            target_id=existing_target_id,
            **common,
        )  # type: ignore[arg-type]
    if crossmatch is not None and crossmatch.separation_deg <= rule.crossmatch_radius_deg:
        merged = max(priority, crossmatch.priority or 0.0)
        common["priority"] = merged
        name = f" '{crossmatch.name}'" if crossmatch.name else ""
        return Decision(
            "merge_into_existing",
            f"Merged into existing target{name} {_fmt_deg(crossmatch.separation_deg)} away (within "
            f"{_fmt_deg(rule.crossmatch_radius_deg)}): alias added, position refined; {what}{detail}, "
            + tail.replace(f"priority {priority:g}", f"priority {merged:g}"),
            target_id=crossmatch.target_id,
            **common,
        )  # type: ignore[arg-type]
    return Decision("create_target", f"Created a target for {what}{detail}: " + tail, **common)  # type: ignore[arg-type]
