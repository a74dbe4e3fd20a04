"""Rank the catalogue for one site at one instant — the scheduler's answer.

Everything here works on numpy arrays over all targets at once (see
``catalog.TargetArrays``); astropy/ERFA is consulted once per call, in
``geometry.site_frame``.

Hard constraints (a target failing any of them is not listed)
--------------------------------------------------------------
* it is night: the Sun is below ``site.twilight_sun_altitude_deg`` (default -12°),
  else the answer is empty;
* geometric altitude ≥ max(site.min_altitude_deg, horizon mask at its azimuth,
  the target's own min_altitude_deg);
* airmass (sec z) ≤ site.max_airmass and |hour angle| ≤ site.max_hour_angle_hours, where set;
* the site has one of the target's filters (a target without filters suits any
  site; a site that lists no filters is not checked);
* magnitude ≤ the site's limiting magnitude, made brighter by moonlight:
  ``limiting_mag - weights.moon_sky_mag · illumination`` while the Moon is up;
* the site's FOV ≥ the target's min_fov_arcmin, where both are known;
* Moon separation ≥ ``moon_min_sep_deg + moon_extra_sep_deg · illumination · faintness``
  while the Moon is up, faintness = clip((mag - 8)/8, 0, 1) (0.5 when unknown):
  bright targets tolerate the Moon, faint ones need it far away or thin;
* not expired, not past its last time-critical window (a target that has
  windows is gone once all have ended), and in ``context.eligible`` if given.

Score (one formula; every factor is reported in ``reasons`` under its name)
---------------------------------------------------------------------------
::

    score = priority
          * campaign_boost                      # context.campaign_boost, product of active campaigns' boosts
          * window_boost                        # 1 + priority_boost of the window we are inside, else 1
          * coverage_deficit                    # 1 + clip(1 - total/min_observations, 0, 1)
          * cadence_factor                      # clip(hours since last network obs / cadence_hours, 0.25, 2);
                                                #   2 if never observed, 1 without a cadence
          * recent_penalty                      # 0.25 if this site observed it < min(4 h, cadence) ago
                                                #   (not for the target it is observing now)
          * network_penalty                     # 0.5 if the network made ≥ max(3, 24/cadence_hours)
                                                #   observations of it in the last 24 h
          * altitude_factor                     # 0.5 + 0.5·sin(altitude): better high up
          * moon_factor                         # 1 - 0.3·illum·clip(1 - (sep - required)/60°, 0, 1), Moon up
          * transit_factor                      # 2 if a whole transit (ingress-baseline → egress+baseline)
                                                #   starts within 30 min and ends before the target sets
                                                #   or the night ends; else 1
          * automation_factor                   # manual sites: 0.5 + 0.5·clip(hours left/3, 0, 1)
          * continuity                          # 1.5 for the target the site is observing now
          * reliability                         # the site's delivery record, 0..1

Manual sites also get at most ``weights.manual_max_targets`` (3) targets: fewer, longer ones.
``observable_until`` is when the target sinks below its limit (horizon mask
included), passes the hour-angle limit or the night ends, whichever is first; for a
transit with its bonus it is the end of the transit's trailing baseline.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from targets.sky.catalog import TARGET_TYPES, TargetArrays, filter_mask
from targets.sky.geometry import (
    SIDEREAL_DEG_PER_HOUR,
    SiteFrame,
    airmass_of,
    altaz_from_hadec,
    apparent,
    azimuth_deg,
    dot3,
    hour_angle_dec_deg,
    hours_until_altitude,
    local_enu,
    sin_altitude,
    site_frame,
)
from targets.sky.horizon import HorizonMask

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

AUTOMATION_LEVELS = ("robotic", "remote", "manual")
AU_LIGHT_TIME_S = 499.004783836
UNIX_EPOCH_JD = 2440587.5
_OCCULTATION = TARGET_TYPES.index("occultation")


@dataclass(frozen=True)
class SiteParams:
    """What the ranking needs to know about one site (degrees, metres, magnitudes)."""

    latitude_deg: float
    longitude_deg: float  # east-positive
    elevation_m: float = 0.0
    min_altitude_deg: float = 20.0
    horizon: Sequence[Sequence[float]] | None = None  # [[azimuth_deg, min_altitude_deg], ...]
    twilight_sun_altitude_deg: float = -12.0
    filters: tuple[str, ...] | None = None  # None: not declared, not checked
    limiting_mag: float | None = None
    fov_arcmin: float | None = None
    automation_level: str = "robotic"  # robotic | remote | manual
    max_airmass: float | None = None
    max_hour_angle_hours: float | None = None
    reliability: float = 1.0  # fraction of assignments delivered, 0..1

    def __post_init__(self) -> None:
        if self.automation_level not in AUTOMATION_LEVELS:
            raise ValueError(f"automation_level must be one of {AUTOMATION_LEVELS}")

    @functools.cached_property
    def mask(self) -> HorizonMask:
        return HorizonMask(self.horizon)


@dataclass(frozen=True)
class Weights:
    """The tunable numbers of the score (see the module docstring)."""

    recent_hours: float = 4.0
    recent_penalty: float = 0.25
    network_quota_24h: float = 3.0
    network_penalty: float = 0.5
    cadence_min_factor: float = 0.25
    cadence_max_factor: float = 2.0
    transit_bonus: float = 2.0
    transit_baseline_hours: float = 0.5  # before ingress and after egress
    transit_lead_hours: float = 0.5  # the transit's pre-baseline starts within this
    transit_late_start_hours: float = 0.25  # ... or started at most this long ago
    moon_min_sep_deg: float = 10.0
    moon_extra_sep_deg: float = 30.0
    moon_sky_mag: float = 1.5
    moon_score_weight: float = 0.3
    manual_max_targets: int = 3
    manual_min_hours: float = 3.0
    continuity_bonus: float = 1.5
    grid_step_min: float = 5.0


@dataclass
class RankContext:
    """Per-request facts from the database, each aligned with ``TargetArrays.ids``.

    Times are Unix seconds (NaN: never); build them with ``TargetArrays.align``.
    Anything left ``None`` simply does not take part in the score.
    """

    last_observed_here_s: FloatArray | None = None  # this site's last observation of each target
    last_observed_any_s: FloatArray | None = None  # the network's last observation (cadence)
    network_observations_24h: FloatArray | None = None
    total_observations: FloatArray | None = None  # against min_observations
    campaign_boost: FloatArray | None = None  # multiplicative, 1 = none
    eligible: NDArray[np.bool_] | None = None  # request filters (priority_min, campaign, ...)
    current_row: int | None = None  # the target the site reports observing now


@dataclass(frozen=True)
class RankedTarget:
    index: int  # row in TargetArrays
    target_id: Any
    score: float
    altitude_deg: float
    azimuth_deg: float
    airmass: float
    hour_angle_hours: float
    observable_until: dt.datetime
    reasons: dict[str, Any]


@dataclass(frozen=True)
class RankArrays:
    """The full ranking as arrays (best first) — what the network plan consumes."""

    rows: IntArray
    score: FloatArray
    altitude_deg: FloatArray
    azimuth_deg: FloatArray
    airmass: FloatArray
    hour_angle_deg: FloatArray
    until_s: FloatArray
    urgent: NDArray[np.bool_]  # inside a window, or a transit that fits now
    factors: dict[str, NDArray[Any]]
    frame: SiteFrame | None
    night_end_s: float
    dark: bool

    @classmethod
    def empty(cls, frame: SiteFrame | None, night_end_s: float = float("nan")) -> RankArrays:
        f = np.empty(0)
        return cls(
            np.empty(0, dtype=np.intp),
            f,
            f,
            f,
            f,
            f,
            f,
            np.empty(0, dtype=bool),
            {},
            frame,
            night_end_s,
            False,
        )


def _gather(values: NDArray[Any] | None, rows: IntArray, default: float) -> FloatArray:
    if values is None:
        return np.full(rows.shape, default)
    return np.asarray(values, dtype=np.float64)[rows]


def _window_state(targets: TargetArrays, now_s: float) -> tuple[FloatArray, NDArray[np.bool_], NDArray[np.bool_]]:
    """Per row: boost of the window we are in (NaN if none), inside any, all windows over."""
    n = len(targets)
    boost = np.full(n, np.nan)
    inside = np.zeros(n, dtype=bool)
    over = np.zeros(n, dtype=bool)
    if targets.window_row.size:
        w_in = (targets.window_start_s <= now_s) & (now_s < targets.window_end_s)
        w_open = targets.window_end_s > now_s  # now or later
        has = np.zeros(n, dtype=bool)
        has[targets.window_row] = True
        still = np.zeros(n, dtype=bool)
        still[targets.window_row[w_open]] = True
        over = has & ~still
        inside[targets.window_row[w_in]] = True
        best = np.full(n, -np.inf)
        np.maximum.at(best, targets.window_row[w_in], targets.window_boost[w_in])
        boost = np.where(inside, best, np.nan)
    return boost, inside, over


def _grid_until_s(
    frame: SiteFrame,
    site: SiteParams,
    ha_deg: FloatArray,
    dec_deg: FloatArray,
    limit_floor_deg: FloatArray,
    end_s: FloatArray,
    step_min: float,
) -> FloatArray:
    """When each target first drops below max(floor, mask(az)) before ``end_s`` (a time grid).

    Over a few hours the apparent place is fixed and only the hour angle moves,
    at the sidereal rate, so the grid costs no astropy at all.
    """
    if ha_deg.size == 0:
        return end_s.copy()
    span_h = float(np.max(end_s) - frame.unix_s) / 3600.0
    steps = max(2, math.ceil(span_h * 60.0 / step_min) + 1)
    t_h = np.linspace(0.0, max(span_h, 1e-6), steps)
    ha = ha_deg[:, None] + SIDEREAL_DEG_PER_HOUR * t_h[None, :]
    alt, az = altaz_from_hadec(ha, dec_deg[:, None], frame.latitude_deg)
    margin = alt - np.maximum(limit_floor_deg[:, None], site.mask.altitude_deg(az))
    bad = margin < 0
    first = np.where(bad.any(axis=1), bad.argmax(axis=1), steps)
    until = np.full(ha_deg.shape, np.inf)
    sets = (first > 0) & (first < steps)
    i = first[sets]
    m0, m1 = margin[sets, i - 1], margin[sets, i]
    frac = m0 / np.where(m0 - m1 > 0, m0 - m1, 1.0)
    until[sets] = frame.unix_s + (t_h[i - 1] + frac * (t_h[i] - t_h[i - 1])) * 3600.0
    until[first == 0] = frame.unix_s
    return np.minimum(until, end_s)


def rank_arrays(
    site: SiteParams,
    targets: TargetArrays,
    at: dt.datetime | float,
    *,
    context: RankContext | None = None,
    weights: Weights | None = None,
    top: int | None = None,
    frame: SiteFrame | None = None,
    refine_until: bool = True,
) -> RankArrays:
    """Rank every target for ``site`` at ``at``; the best ``top`` (all if None), best first.

    ``until_s`` of the returned targets follows the horizon mask (a small time grid)
    when ``refine_until`` and ``top`` are set; otherwise it is the analytic time the
    target sinks below its altitude floor, without the mask.
    """
    ctx = context or RankContext()
    w = weights or Weights()
    frame = frame or site_frame(site.latitude_deg, site.longitude_deg, site.elevation_m, at)
    now = frame.unix_s
    if frame.sun_alt_deg >= site.twilight_sun_altitude_deg:
        return RankArrays.empty(frame)
    night_end = frame.night_end_s(site.twilight_sun_altitude_deg)

    # Cheap pre-cut: the lowest limit any target could have, then one dot product per target.
    floor_deg = max(site.min_altitude_deg, site.mask.min_deg)
    if site.max_airmass is not None:
        floor_deg = max(floor_deg, math.degrees(math.asin(min(1.0, 1.0 / site.max_airmass))))
    sl = targets.dec_slice(site.latitude_deg, floor_deg)
    s_alt = sin_altitude(frame, targets.unit_xyz[:, sl])
    rows = np.flatnonzero(s_alt >= math.sin(math.radians(floor_deg))) + sl.start
    if ctx.eligible is not None:
        rows = rows[ctx.eligible[rows]]

    # Everything that does not need the exact position first, on the rows that remain.
    ok = np.ones(rows.shape, dtype=bool)
    expires = targets.expires_at_s[rows]
    ok &= ~(expires <= now)
    win_boost_all, inside_all, over_all = _window_state(targets, now)
    ok &= ~over_all[rows]
    if site.filters is not None:
        site_bits = np.uint64(filter_mask(site.filters, targets.filter_names))
        tf = targets.filters[rows]
        ok &= (tf == 0) | ((tf & site_bits) != 0)
    moon_up = bool(frame.moon_alt_deg > 0.0)
    illum = frame.moon_illumination if moon_up else 0.0
    mag = targets.magnitude[rows]
    if site.limiting_mag is not None:
        ok &= ~(mag > site.limiting_mag - w.moon_sky_mag * illum)
    if site.fov_arcmin is not None:
        ok &= ~(targets.min_fov_arcmin[rows] > site.fov_arcmin)
    rows = rows[ok]

    # Exact apparent places, but only what the constraints need on all rows: the altitude, the
    # azimuth if there is a horizon mask, the hour angle if there is a limit on it.
    v = apparent(frame, targets.unit_xyz[:, rows])
    east, north, up = local_enu(frame, v)
    alt = np.degrees(np.arcsin(np.clip(up, -1.0, 1.0)))
    target_floor = np.fmax(targets.min_altitude_deg[rows], site.min_altitude_deg)
    az = azimuth_deg(east, north) if site.mask else None
    limit = target_floor if az is None else np.maximum(target_floor, site.mask.altitude_deg(az))
    ok = alt >= limit
    if site.max_airmass is not None:
        ok &= up * site.max_airmass >= 1.0
    ha = None
    if site.max_hour_angle_hours is not None:
        ha, _ = hour_angle_dec_deg(frame, east, north, up)
        ok &= np.abs(ha) <= site.max_hour_angle_hours * 15.0
    mag = targets.magnitude[rows]
    faint = np.where(np.isnan(mag), 0.5, np.clip((mag - 8.0) / 8.0, 0.0, 1.0))
    if moon_up:
        moon_sep = np.degrees(np.arccos(np.clip(dot3(frame.moon_unit_icrs, v), -1.0, 1.0)))
        required = w.moon_min_sep_deg + w.moon_extra_sep_deg * illum * faint
        ok &= moon_sep >= required
    keep = np.flatnonzero(ok)
    rows = rows[keep]
    east, north, up = east[keep], north[keep], up[keep]
    alt, limit, target_floor = alt[keep], limit[keep], target_floor[keep]
    az = azimuth_deg(east, north) if az is None else az[keep]
    ha, dec_date = hour_angle_dec_deg(frame, east, north, up)
    airmass = airmass_of(up)
    unit_app = v[:, keep]
    if moon_up:
        moon_sep, required = moon_sep[keep], required[keep]
        moon_factor = 1.0 - w.moon_score_weight * illum * np.clip(1.0 - (moon_sep - required) / 60.0, 0.0, 1.0)
    else:
        moon_sep = np.full(rows.shape, np.nan)
        moon_factor = np.ones(rows.shape)

    # When it must stop: setting below its (mask-free) floor, the hour-angle limit, the night's end.
    # Computed where it is needed: manual sites (for the score), transits, and the targets returned.
    alt_floor = target_floor
    if site.max_airmass is not None:
        alt_floor = np.maximum(alt_floor, math.degrees(math.asin(min(1.0, 1.0 / site.max_airmass))))

    def until_of(idx: IntArray) -> FloatArray:
        hours = hours_until_altitude(ha[idx], dec_date[idx], site.latitude_deg, alt_floor[idx])
        if site.max_hour_angle_hours is not None:
            hours = np.minimum(hours, (site.max_hour_angle_hours * 15.0 - ha[idx]) / SIDEREAL_DEG_PER_HOUR)
        return np.minimum(now + hours * 3600.0, night_end)

    until = np.full(rows.shape, np.nan)
    manual = site.automation_level == "manual"
    if manual:
        until[:] = until_of(np.arange(rows.size))

    # --- the score -----------------------------------------------------------------------------
    priority = targets.priority[rows]
    campaign = _gather(ctx.campaign_boost, rows, 1.0)
    in_window = inside_all[rows]
    window_boost = np.where(in_window, 1.0 + np.nan_to_num(win_boost_all[rows]), 1.0)

    min_obs = targets.min_observations[rows]
    if ctx.total_observations is not None:
        total = ctx.total_observations[rows]
        deficit = np.where(min_obs > 0, 1.0 + np.clip(1.0 - total / np.where(min_obs > 0, min_obs, 1.0), 0, 1), 1.0)
    else:
        deficit = np.ones(rows.shape)

    cadence_h = targets.cadence_hours[rows]
    has_cadence = cadence_h > 0
    if ctx.last_observed_any_s is not None:
        since_h = (now - ctx.last_observed_any_s[rows]) / 3600.0
        ratio = np.where(np.isnan(since_h), w.cadence_max_factor, since_h / np.where(has_cadence, cadence_h, 1.0))
        cadence = np.where(has_cadence, np.clip(ratio, w.cadence_min_factor, w.cadence_max_factor), 1.0)
    else:
        cadence = np.ones(rows.shape)

    is_current = rows == (ctx.current_row if ctx.current_row is not None else -1)
    if ctx.last_observed_here_s is not None:
        # A target with a shorter cadence than the recent window is due again sooner than that.
        window_h = np.where(has_cadence, np.minimum(w.recent_hours, cadence_h), w.recent_hours)
        recently = (now - ctx.last_observed_here_s[rows]) < window_h * 3600.0
        recently &= ~is_current
    else:
        recently = np.zeros(rows.shape, dtype=bool)
    recent = np.where(recently, w.recent_penalty, 1.0)

    if ctx.network_observations_24h is not None:
        n24 = ctx.network_observations_24h[rows]
        quota = np.where(
            has_cadence,
            np.maximum(w.network_quota_24h, 24.0 / np.where(has_cadence, cadence_h, 1)),
            w.network_quota_24h,
        )
        covered = n24 >= quota
    else:
        n24 = np.full(rows.shape, np.nan)
        covered = np.zeros(rows.shape, dtype=bool)
    network = np.where(covered, w.network_penalty, 1.0)

    altitude_factor = 0.5 + 0.5 * np.sin(np.radians(alt))

    # Transits: the next one whose pre-baseline starts no earlier than `late_start` ago.
    transit = np.ones(rows.shape)
    transit_fits = np.zeros(rows.shape, dtype=bool)
    transit_mid_s = np.full(rows.shape, np.nan)
    eph = np.flatnonzero(np.isfinite(targets.transit_epoch_bjd[rows]) & (targets.transit_period_days[rows] > 0))
    if eph.size:
        r = rows[eph]
        epoch, period = targets.transit_epoch_bjd[r], targets.transit_period_days[r]
        half_d = (np.nan_to_num(targets.transit_duration_hours[r]) / 2.0 + w.transit_baseline_hours) / 24.0
        # BJD_TDB of now at each star: TT (≈TDB, < 2 ms) plus the Rømer delay toward it.
        roemer_s = dot3(frame.earth_bary_au, unit_app[:, eph]) * AU_LIGHT_TIME_S
        bjd_now = UNIX_EPOCH_JD + (now + frame.tt_minus_utc_s + roemer_s) / 86400.0
        k = np.ceil((bjd_now - w.transit_late_start_hours / 24.0 + half_d - epoch) / period)
        mid = epoch + k * period
        start_h = (mid - half_d - bjd_now) * 24.0
        end_s = now + (mid + half_d - bjd_now) * 86400.0
        soon = start_h <= w.transit_lead_hours
        cand = eph[soon]
        if cand.size:
            until[cand] = until_of(cand)
            stop = _grid_until_s(frame, site, ha[cand], dec_date[cand], alt_floor[cand], until[cand], w.grid_step_min)
            until[cand] = stop
            fits = end_s[soon] <= stop
            transit_fits[cand] = fits
            transit[cand[fits]] = w.transit_bonus
            until[cand[fits]] = end_s[soon][fits]
        transit_mid_s[eph] = now + (mid - bjd_now) * 86400.0

    if manual:
        automation = 0.5 + 0.5 * np.clip((until - now) / 3600.0 / w.manual_min_hours, 0.0, 1.0)
    else:
        automation = np.ones(rows.shape)
    continuity = np.where(is_current, w.continuity_bonus, 1.0)

    score = (
        priority
        * campaign
        * window_boost
        * deficit
        * cadence
        * recent
        * network
        * altitude_factor
        * moon_factor
        * transit
        * automation
        * continuity
        * site.reliability
    )

    # --- best first ------------------------------------------------------------------------------
    if site.automation_level == "manual":
        top = w.manual_max_targets if top is None else min(top, w.manual_max_targets)
    if top is not None and top < score.size:
        part = np.argpartition(-score, top)[:top]
        order = part[np.argsort(-score[part], kind="stable")]
    else:
        order = np.argsort(-score, kind="stable")
    missing = order[np.isnan(until[order])]
    until[missing] = until_of(missing)
    refine = order[~transit_fits[order]]
    if refine.size and top is not None and refine_until:  # the horizon mask for observable_until, on the few we return
        until[refine] = _grid_until_s(
            frame, site, ha[refine], dec_date[refine], alt_floor[refine], until[refine], w.grid_step_min
        )
    urgent = in_window | transit_fits
    factors: dict[str, NDArray[Any]] = {
        "priority": priority,
        "campaign_boost": campaign,
        "in_window": in_window,
        "window_boost": window_boost,
        "coverage_deficit": deficit,
        "cadence_factor": cadence,
        "recently_observed": recently,
        "recent_penalty": recent,
        "network_observations_24h": n24,
        "network_covered": covered,
        "network_penalty": network,
        "altitude_factor": altitude_factor,
        "moon_separation_deg": moon_sep,
        "moon_factor": moon_factor,
        "transit_fits": transit_fits,
        "transit_factor": transit,
        "transit_mid_s": transit_mid_s,
        "automation_factor": automation,
        "continuity": continuity,
        "limit_altitude_deg": limit,
    }
    return RankArrays(
        rows=rows[order],
        score=score[order],
        altitude_deg=alt[order],
        azimuth_deg=az[order],
        airmass=airmass[order],
        hour_angle_deg=ha[order],
        until_s=until[order],
        urgent=urgent[order],
        factors={k: v[order] for k, v in factors.items()},
        frame=frame,
        night_end_s=night_end,
        dark=True,
    )


def _utc(unix_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix_s, tz=dt.UTC)


def _reason_value(value: Any) -> Any:
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    v = float(value)
    return None if math.isnan(v) else round(v, 4)


def rank(
    site: SiteParams,
    targets: TargetArrays,
    at: dt.datetime,
    *,
    context: RankContext | None = None,
    weights: Weights | None = None,
    count: int = 10,
) -> list[RankedTarget]:
    """The ``count`` best targets for ``site`` at ``at`` (aware datetime), best first.

    Empty when the Sun is above the site's twilight limit.  Every listed target
    satisfies the hard constraints of the module docstring; ``reasons`` carries
    every factor of its score.
    """
    result = rank_arrays(site, targets, at, context=context, weights=weights, top=count)
    out: list[RankedTarget] = []
    for i in range(result.rows.size):
        reasons = {k: _reason_value(v[i]) for k, v in result.factors.items() if k != "transit_mid_s"}
        mid = result.factors["transit_mid_s"][i]
        if not math.isnan(mid):
            reasons["transit_mid_utc"] = _utc(float(mid)).isoformat().replace("+00:00", "Z")
        reasons["reliability"] = site.reliability
        row = int(result.rows[i])
        out.append(
            RankedTarget(
                index=row,
                target_id=targets.ids[row],
                score=float(result.score[i]),
                altitude_deg=float(result.altitude_deg[i]),
                azimuth_deg=float(result.azimuth_deg[i]),
                airmass=float(result.airmass[i]),
                hour_angle_hours=float(result.hour_angle_deg[i]) / 15.0,
                observable_until=_utc(float(result.until_s[i])),
                reasons=reasons,
            )
        )
    return out
