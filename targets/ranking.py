"""The scheduler's answer for one site: the catalogue as arrays (cached), a few aggregate queries, the engine.

A request makes a constant number of queries whatever the catalogue's size: one to learn whether the cached
arrays are still current, a few grouped aggregates over recent observations, and (only after a change) one
read of the whole active catalogue.
"""

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.db.models import Count, Max, Q
from django.utils import timezone

from campaigns.models import Campaign, CampaignTarget
from observations.models import Observation
from sites.models import Site
from targets.models import Target
from targets.sky.catalog import TargetArrays
from targets.sky.ranking import RankContext, SiteParams, rank

AGGREGATE_TTL_S = 60.0
CADENCE_LOOKBACK = timedelta(days=30)


@dataclass
class Catalogue:
    version: tuple
    arrays: TargetArrays
    info: dict  # target id -> the fields the answer shows
    campaign_boost: np.ndarray
    campaign_ids: dict  # target id -> [campaign id, ...]
    campaign_members: dict  # campaign id -> set of target ids


_lock = threading.Lock()
_catalogue: Catalogue | None = None
_aggregates: tuple[float, dict] | None = None
_aligned: tuple | None = None


def _version(now: datetime) -> tuple:
    """Changes whenever a target, a campaign or a membership changes (one query)."""
    targets = Target.objects.aggregate(t=Max("updated_at"))["t"]
    campaigns = Campaign.objects.aggregate(c=Max("updated_at"))["c"]
    members = CampaignTarget.objects.aggregate(n=Count("id"), m=Max("added_at"))
    # Campaigns start and end by date, so the day is part of the version too.
    return (targets, campaigns, members["n"], members["m"], now.date())


def _load(version: tuple, now: datetime) -> Catalogue:
    rows = list(
        Target.objects.active(now=now).values_list(
            "id", "name", "ra_deg", "dec_deg", "target_type", "magnitude", "priority", "filters", "exposure_sec",
            "cadence_hours", "min_observations", "expires_at", "windows", "ephemeris", "metadata",
        )
    )
    memberships = list(
        CampaignTarget.objects.filter(campaign__in=Campaign.objects.active(today=now.date())).values_list(
            "target_id", "campaign_id", "campaign__priority_boost"
        )
    )
    campaign_ids: dict = {}
    members: dict = {}
    boost_of: dict = {}
    for target_id, campaign_id, boost in memberships:
        campaign_ids.setdefault(target_id, []).append(str(campaign_id))
        members.setdefault(campaign_id, set()).add(target_id)
        boost_of[target_id] = boost_of.get(target_id, 1.0) * (boost or 1.0)

    def window_tuples(windows):
        return [(_parse(w["start"]), _parse(w["end"]), w.get("priority_boost", 1.0)) for w in windows or []]

    def eph(e, key):
        return (e or {}).get(key)

    ids = [r[0] for r in rows]
    arrays = TargetArrays.build(
        ids,
        [r[2] for r in rows],
        [r[3] for r in rows],
        magnitude=[r[5] for r in rows],
        priority=[r[6] for r in rows],
        filters=[r[7] or [] for r in rows],
        target_type=[r[4] for r in rows],
        cadence_hours=[r[9] for r in rows],
        min_observations=[r[10] or 0 for r in rows],
        exposure_sec=[r[8] for r in rows],
        expires_at=[r[11] for r in rows],
        min_altitude_deg=[(r[14] or {}).get("min_altitude_deg") for r in rows],
        min_fov_arcmin=[(r[14] or {}).get("min_fov_arcmin") for r in rows],
        transit_epoch_bjd=[eph(r[13], "epoch_bjd_tdb") for r in rows],
        transit_period_days=[eph(r[13], "period_days") for r in rows],
        transit_duration_hours=[eph(r[13], "duration_hours") for r in rows],
        windows=[window_tuples(r[12]) for r in rows],
    )
    info = {
        r[0]: {"name": r[1], "ra_deg": r[2], "dec_deg": r[3], "target_type": r[4], "magnitude": r[5],
               "priority": r[6], "filters": r[7] or [], "exposure_sec": r[8], "cadence_hours": r[9]}
        for r in rows
    }  # fmt: skip
    return Catalogue(
        version=version,
        arrays=arrays,
        info=info,
        campaign_boost=arrays.align(boost_of, fill=1.0),
        campaign_ids=campaign_ids,
        campaign_members=members,
    )


def _parse(value) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def catalogue(*, now: datetime) -> Catalogue:
    global _catalogue
    version = _version(now)
    current = _catalogue
    if current is not None and current.version == version:
        return current
    with _lock:
        if _catalogue is None or _catalogue.version != version:
            _catalogue = _load(version, now)
        return _catalogue


def network_aggregates(*, now: datetime) -> dict:
    """Per-target network counts and last times; shared by all sites and refreshed every minute."""
    global _aggregates
    cached = _aggregates
    if cached is not None and time.monotonic() - cached[0] < AGGREGATE_TTL_S:
        return cached[1]
    recent = (
        Observation.objects.filter(observed_at__gte=now - CADENCE_LOOKBACK)
        .values("target_id")
        .annotate(last=Max("observed_at"), n24=Count("id", filter=Q(observed_at__gte=now - timedelta(hours=24))))
    )
    totals = Observation.objects.values("target_id").annotate(n=Count("id"))
    data = {
        "last_any": {r["target_id"]: r["last"].timestamp() for r in recent},
        "n24": {r["target_id"]: r["n24"] for r in recent},
        "total": {r["target_id"]: r["n"] for r in totals},
    }
    _aggregates = (time.monotonic(), data)
    return data


def aligned_aggregates(cat: Catalogue, *, now: datetime) -> dict:
    """The network aggregates as arrays aligned with the catalogue, rebuilt only when either changes (aligning
    is a Python loop over observed targets: done once a minute, not per request)."""
    global _aligned
    data = network_aggregates(now=now)
    cached = _aligned
    if cached is not None and cached[0] is data and cached[1] is cat:
        return cached[2]
    arrays = {
        "last_any": cat.arrays.align(data["last_any"]),
        "n24": cat.arrays.align(data["n24"], fill=0.0),
        "total": cat.arrays.align(data["total"], fill=0.0),
    }
    _aligned = (data, cat, arrays)
    return arrays


def reset_caches() -> None:
    """Forget cached arrays and aggregates (tests; after bulk changes outside the services)."""
    global _catalogue, _aggregates, _aligned
    _catalogue = None
    _aggregates = None
    _aligned = None


def site_params(site: Site) -> SiteParams:
    return SiteParams(
        latitude_deg=site.latitude,
        longitude_deg=site.longitude,
        elevation_m=site.elevation_m,
        min_altitude_deg=site.min_altitude_deg,
        horizon=site.horizon or None,
        twilight_sun_altitude_deg=site.twilight_sun_altitude_deg,
        filters=tuple(site.filters) if site.filters else None,
        limiting_mag=site.limiting_mag,
        fov_arcmin=site.fov_arcmin,
        automation_level=site.automation_level or "robotic",
        max_airmass=site.max_airmass,
        max_hour_angle_hours=site.max_hour_angle_hours,
        reliability=site.reliability,
    )


def _plan_for(site: Site, *, now: datetime) -> dict | None:
    from campaigns.planning import fresh_plan

    plan = fresh_plan(now=now)
    if plan is None:
        return None
    mine = [uuid.UUID(t) for t in plan.assignments.get(str(site.pk), [])]
    elsewhere = {uuid.UUID(t) for s, ts in plan.assignments.items() if s != str(site.pk) for t in ts}
    return {"mine": mine, "elsewhere": elsewhere - set(mine)}


def _choose_filter(target_filters: list[str], site_filters: list[str]) -> str | None:
    for name in target_filters:
        if not site_filters or name in site_filters:
            return name
    return site_filters[0] if site_filters else None


def site_answer(*, site: Site, count: int = 10, at: datetime | None = None, priority_min=None, campaign_id=None):
    now = timezone.now()
    at = at or now
    answer = {"site_id": site.pk, "at": at, "generated_at": now, "targets": []}
    if not site.is_online(now=now):
        answer["note"] = "The site is offline (stale heartbeat, unsafe, closed or not approved): no targets."
        return answer

    cat = catalogue(now=now)
    if len(cat.arrays) == 0:
        return answer
    aggregates = aligned_aggregates(cat, now=now)
    mine = (
        Observation.objects.filter(site=site, observed_at__gte=at - timedelta(hours=24), observed_at__lte=at)
        .values("target_id")
        .annotate(last=Max("observed_at"))
    )
    eligible = None
    if priority_min is not None:
        eligible = cat.arrays.priority >= priority_min
    if campaign_id is not None:
        in_campaign = cat.arrays.align(dict.fromkeys(cat.campaign_members.get(campaign_id, ()), 1.0), fill=0.0) > 0
        eligible = in_campaign if eligible is None else eligible & in_campaign
    current_row = None
    if site.current_target_id is not None and site.current_target_id in cat.info:
        current_row = cat.arrays.row_of(site.current_target_id)
    context = RankContext(
        last_observed_here_s=cat.arrays.align({r["target_id"]: r["last"].timestamp() for r in mine}),
        last_observed_any_s=aggregates["last_any"],
        network_observations_24h=aggregates["n24"],
        total_observations=aggregates["total"],
        campaign_boost=cat.campaign_boost,
        eligible=eligible,
        current_row=current_row,
    )
    plan = _plan_for(site, now=now)
    elsewhere = plan["elsewhere"] if plan else set()
    wanted = count + min(len(elsewhere), 500)
    ranked = rank(site_params(site), cat.arrays, at.astimezone(UTC), context=context, count=wanted)
    if plan:
        # A fresh network plan: this site's assignments first (if still observable here now), then the rest of
        # the live ranking minus what the plan gave to other sites.
        order = {target_id: i for i, target_id in enumerate(plan["mine"])}
        ranked = sorted(
            (r for r in ranked if r.target_id in order or r.target_id not in elsewhere),
            key=lambda r: (0, order[r.target_id]) if r.target_id in order else (1, -r.score),
        )
        for r in ranked:
            r.reasons["assigned"] = r.target_id in order
    for r in ranked[:count]:
        info = cat.info[r.target_id]
        answer["targets"].append(
            {
                "target_id": r.target_id,
                **{k: info[k] for k in ("name", "ra_deg", "dec_deg", "target_type", "magnitude", "priority",
                                        "exposure_sec", "cadence_hours")},
                "score": round(r.score, 4),
                "altitude_deg": round(r.altitude_deg, 3),
                "azimuth_deg": round(r.azimuth_deg, 3),
                "airmass": round(r.airmass, 4),
                "observable_until": r.observable_until,
                "filter": _choose_filter(info["filters"], site.filters or []),
                "campaigns": cat.campaign_ids.get(r.target_id, []),
                "reasons": r.reasons,
            }
        )  # fmt: skip
    return answer
