"""Network-wide assignment: which site should observe what, now.

Every site is ranked on its own (``ranking.rank_arrays``, the same score the
per-site answer uses, site reliability included), keeping its best
``candidates_per_site`` - more for a site with many neighbours under the same
sky (2 * per_site * (1 + sites within ``crowd_radius_deg``), at most
``max_candidates_per_site``), since they draw on the same list.  Then one greedy
pass over the targets assigns them:

1. Targets are taken in order: urgent ones first (inside a time-critical
   window, or a transit that fits now), then by their best score anywhere.
2. A target goes to ``redundancy`` sites (1 unless a campaign asks for more),
   chosen among the sites that listed it and still have a free slot
   (``per_site`` slots each), by

       site value = score at that site
                    * reliability again for urgent targets (a missed occultation is lost)
                    * (1 + diversity_weight * |longitude - longitude of its last observer| / 180)

   The last factor spreads long-term coverage over longitudes (a target last
   seen from Europe is worth more to a site in Chile or Japan).
3. With redundancy > 1 the extra sites must add something:
   * occultations want chords spread across the shadow path: each further site
     is weighted by min(1, distance to the nearest chosen site / occultation_spacing_km)
     and sites closer than ``occultation_min_spacing_km`` to a chosen one are skipped;
   * transits want overlap near ingress and egress: sites whose window covers the
     whole transit come first (x 1.5), and further sites are weighted by their
     longitude distance, so a second site's night holds the part the first one may lose.
4. Nothing else is assigned twice: no redundant simultaneous coverage.
5. If a site still has free slots while it is dark (its whole list went to
   others), it is ranked again without the targets already taken, for up to
   ``rounds`` rounds.

Each site's list is then ordered urgent first, then by its own score.  The
result is plain data ``{site_index: [row, ...]}`` (rows of ``TargetArrays``);
the Django layer stores it and serves it while fresh.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from targets.sky.catalog import CAMPAIGN_KINDS, TargetArrays
from targets.sky.geometry import site_frame
from targets.sky.ranking import RankArrays, RankContext, SiteParams, Weights, rank_arrays

_log = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0
_OCCULTATION = CAMPAIGN_KINDS.index("occultation")
_TRANSIT = CAMPAIGN_KINDS.index("transit")


@dataclass(frozen=True)
class PlanSettings:
    per_site: int = 5
    candidates_per_site: int = 400
    max_candidates_per_site: int = 3000  # for sites with many neighbours, and the rounds that fill sites
    crowd_radius_deg: float = 30.0  # sites closer than this see much the same sky at the same time
    diversity_weight: float = 0.25
    occultation_spacing_km: float = 200.0
    occultation_min_spacing_km: float = 2.0
    transit_whole_bonus: float = 1.5


def _distance_km(lat1: NDArray[np.float64], lon1: NDArray[np.float64], lat2: float, lon2: float) -> NDArray[np.float64]:
    p1, p2 = np.radians(lat1), math.radians(lat2)
    dlat, dlon = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


# What forked workers inherit (copy-on-write) instead of receiving 100,000-row arrays by pickle.
_FORK_SHARED: dict[str, Any] = {}
_FORK_LOCK = threading.Lock()


def _slim(r: RankArrays) -> RankArrays:
    """Only what the assignment reads: a fraction of the bytes to send back from a worker."""
    fits = r.factors.get("transit_fits", np.zeros(r.rows.size, dtype=bool))
    none = np.empty(0)
    return dataclasses.replace(
        r, factors={"transit_fits": fits}, frame=None, altitude_deg=none, azimuth_deg=none, airmass=none,
        hour_angle_deg=none,
    )  # fmt: skip


def _rank_one(i: int) -> RankArrays:
    sites, targets, at, contexts, weights, top = _FORK_SHARED["job"]
    site = sites[i]
    top = top if isinstance(top, int) else int(top[i])
    frame = site_frame(site.latitude_deg, site.longitude_deg, site.elevation_m, at)
    result = rank_arrays(
        site, targets, at, context=_context_of(contexts, i), weights=weights, top=top, frame=frame,
        refine_until=False,
    )  # fmt: skip
    return _slim(result)


def _rank_chunk(indices: list[int]) -> list[RankArrays]:
    return [_rank_one(i) for i in indices]


def _can_fork() -> bool:
    # A daemonic process (a Celery prefork child) may not have children of its own, and forking a process that
    # runs other threads can copy a lock some thread holds into the child, which then waits forever.
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
        and threading.active_count() == 1
    )


def rank_sites(
    sites: Sequence[SiteParams],
    targets: TargetArrays,
    at: dt.datetime | float,
    *,
    contexts: Sequence[RankContext | None] | RankContext | None = None,
    weights: Weights | None = None,
    top: int | Sequence[int] = 100,
    workers: int = 2,
) -> list[RankArrays]:
    """Rank every site (its best ``top``, one number or one per site), on ``workers`` forked processes.

    Processes, because the per-site work is many short numpy calls that hold the
    GIL between them (threads measured no faster than one).  Where forking is
    impossible (a daemonic Celery prefork child, a platform without fork) it
    runs on threads.  Run the plan task on a worker started with ``-P solo`` or
    ``-P threads`` to get the processes.
    """
    n = len(sites)
    chunks = [list(range(k, n, workers * 4)) for k in range(workers * 4)]
    with _FORK_LOCK:
        _FORK_SHARED["job"] = (sites, targets, at, contexts, weights, top)
        try:
            if workers <= 1 or n < 2 * workers:
                return [_rank_one(i) for i in range(n)]
            if _can_fork():
                with multiprocessing.get_context("fork").Pool(workers) as pool:
                    parts = pool.map(_rank_chunk, chunks)
            else:
                with ThreadPoolExecutor(max_workers=workers) as threads:
                    parts = list(threads.map(_rank_chunk, chunks))
        finally:
            _FORK_SHARED.clear()
    out: list[RankArrays | None] = [None] * n
    for chunk, part in zip(chunks, parts, strict=True):
        for i, r in zip(chunk, part, strict=True):
            out[i] = r
    return [r for r in out if r is not None]


def assign(
    rankings: Sequence[RankArrays],
    sites: Sequence[SiteParams],
    n_targets: int,
    *,
    redundancy: NDArray[np.integer] | None = None,
    campaign_kind: NDArray[np.integer] | None = None,
    last_longitude_deg: NDArray[np.float64] | None = None,
    transit_end_s: NDArray[np.float64] | None = None,
    settings: PlanSettings | None = None,
    capacity: Sequence[int] | None = None,
    taken: NDArray[np.bool_] | None = None,
) -> dict[int, list[int]]:
    """Greedy assignment of targets to sites from per-site rankings (see the module docstring).

    ``redundancy`` (sites wanted at once), ``campaign_kind`` (index into
    ``CAMPAIGN_KINDS``) and ``last_longitude_deg`` are per target row; all optional.
    ``capacity`` overrides ``settings.per_site`` per site and rows marked in
    ``taken`` are skipped (both for a further round).
    """
    cfg = settings or PlanSettings()
    n_sites = len(sites)
    plan: dict[int, list[int]] = {i: [] for i in range(n_sites)}
    lens = [r.rows.size for r in rankings]
    if sum(lens) == 0:
        return plan
    site_idx = np.repeat(np.arange(n_sites), lens)
    rows = np.concatenate([r.rows for r in rankings])
    score = np.concatenate([r.score for r in rankings])
    urgent = np.concatenate([r.urgent for r in rankings])
    until = np.concatenate([r.until_s for r in rankings])
    lat = np.array([s.latitude_deg for s in sites])
    lon = np.array([s.longitude_deg for s in sites])
    rel = np.array([s.reliability for s in sites])

    value = score.copy()
    value[urgent] *= rel[site_idx[urgent]]
    if last_longitude_deg is not None:
        last = last_longitude_deg[rows]
        dlon = np.abs((lon[site_idx] - last + 180.0) % 360.0 - 180.0)
        value *= np.where(np.isnan(last), 1.0, 1.0 + cfg.diversity_weight * dlon / 180.0)

    # Group candidates by target, best site first within each group.
    order = np.lexsort((-value, rows))
    rows_s, sites_s, value_s = rows[order], site_idx[order], value[order]
    until_s = until[order]
    starts = np.flatnonzero(np.r_[True, rows_s[1:] != rows_s[:-1]])
    ends = np.r_[starts[1:], rows_s.size]
    group_rows = rows_s[starts]
    group_urgent = np.logical_or.reduceat(urgent[order], starts)
    group_best = np.maximum.reduceat(value_s, starts)
    target_order = np.lexsort((-group_best, ~group_urgent))

    red = np.ones(n_targets, dtype=np.int64) if redundancy is None else np.asarray(redundancy, dtype=np.int64)
    kind = np.zeros(n_targets, dtype=np.int64) if campaign_kind is None else np.asarray(campaign_kind)
    free = list(capacity) if capacity is not None else [cfg.per_site] * n_sites
    total_free = sum(free)
    sites_l = sites_s.tolist()
    picked: list[int] = []  # positions in the grouped order of the (site, target) pairs assigned

    for g in target_order.tolist():
        if total_free == 0:
            break
        row = int(group_rows[g])
        if taken is not None and taken[row]:
            continue
        lo, hi = int(starts[g]), int(ends[g])
        want = max(1, int(red[row]))
        if want == 1:
            for k in range(lo, hi):
                s = sites_l[k]
                if free[s]:
                    picked.append(k)
                    free[s] -= 1
                    total_free -= 1
                    break
            continue
        cand = np.array([k for k in range(lo, hi) if free[sites_l[k]]], dtype=np.intp)
        if not cand.size:
            continue
        c_sites, c_value = sites_s[cand], value_s[cand].copy()
        if kind[row] == _TRANSIT and transit_end_s is not None and np.isfinite(transit_end_s[row]):
            c_value *= np.where(until_s[cand] >= transit_end_s[row], cfg.transit_whole_bonus, 1.0)
        chosen: list[int] = []
        chosen_k: list[int] = []
        alive = np.ones(cand.size, dtype=bool)
        nearest_km = np.full(cand.size, np.inf)  # to the closest chosen site
        spread_deg = np.full(cand.size, 180.0)  # longitude gap to the closest chosen site
        while len(chosen) < want and alive.any():
            weight = np.ones(cand.size)
            if chosen:
                if kind[row] == _OCCULTATION:
                    weight = np.minimum(1.0, nearest_km / cfg.occultation_spacing_km)
                else:
                    weight = 0.5 + 0.5 * spread_deg / 180.0
            pick_value = np.where(alive, c_value * weight, -np.inf)
            k = int(np.argmax(pick_value))
            if not np.isfinite(pick_value[k]):
                break
            s = int(c_sites[k])
            chosen.append(s)
            chosen_k.append(int(cand[k]))
            alive &= c_sites != s
            d_km = _distance_km(lat[c_sites], lon[c_sites], lat[s], lon[s])
            nearest_km = np.minimum(nearest_km, d_km)
            spread_deg = np.minimum(spread_deg, np.abs((lon[c_sites] - lon[s] + 180.0) % 360.0 - 180.0))
            if kind[row] == _OCCULTATION:
                alive &= nearest_km >= cfg.occultation_min_spacing_km
        for s in chosen:
            free[s] -= 1
            total_free -= 1
        picked.extend(chosen_k)

    # Per site: urgent first, then by the site's own score.
    k_arr = np.array(picked, dtype=np.intp)
    p_site, p_row = sites_s[k_arr], rows_s[k_arr]
    p_urgent, p_score = urgent[order][k_arr], score[order][k_arr]
    by = np.lexsort((-p_score, ~p_urgent, p_site))
    for s_i, r_i in zip(p_site[by].tolist(), p_row[by].tolist(), strict=True):
        plan[s_i].append(r_i)
    return plan


def plan_network(
    sites: Sequence[SiteParams],
    targets: TargetArrays,
    at: dt.datetime | float,
    *,
    contexts: Sequence[RankContext | None] | RankContext | None = None,
    redundancy: NDArray[np.integer] | None = None,
    campaign_kind: NDArray[np.integer] | None = None,
    last_longitude_deg: NDArray[np.float64] | None = None,
    weights: Weights | None = None,
    settings: PlanSettings | None = None,
    workers: int = 2,
    rounds: int = 3,
) -> dict[int, list[int]]:
    """Rank all ``sites`` and assign targets across the network: ``{site_index: [row, ...]}``."""
    cfg = settings or PlanSettings()
    # A site among many neighbours under the same sky needs a deeper list: they take from it too.
    crowd = _neighbours(sites, cfg.crowd_radius_deg)
    depth = np.clip(2 * cfg.per_site * (1 + crowd), cfg.candidates_per_site, cfg.max_candidates_per_site)
    rankings = rank_sites(sites, targets, at, contexts=contexts, weights=weights, top=depth.tolist(), workers=workers)
    plan = assign(
        rankings,
        sites,
        len(targets),
        redundancy=redundancy,
        campaign_kind=campaign_kind,
        last_longitude_deg=last_longitude_deg,
        transit_end_s=_transit_end_s(rankings, len(targets), campaign_kind),
        settings=cfg,
    )
    # Neighbouring sites share most of their best candidates, so a crowded region can leave a
    # site with free slots although it can see plenty: rank those again without what is taken.
    for _ in range(rounds):
        taken = np.zeros(len(targets), dtype=bool)
        for lst in plan.values():
            taken[lst] = True
        short = [i for i in range(len(sites)) if rankings[i].dark and len(plan[i]) < cfg.per_site]
        if not short:
            break
        _log.debug("plan round: %d sites short of %d targets", len(short), cfg.per_site)
        ctxs = [_with_eligible(_context_of(contexts, i), ~taken) for i in short]
        # Deep enough that the short sites, which share candidates, can all be filled at once.
        depth = min(cfg.max_candidates_per_site, max(cfg.candidates_per_site, 2 * cfg.per_site * len(short)))
        extra = rank_sites(
            [sites[i] for i in short], targets, at, contexts=ctxs, weights=weights, top=depth, workers=workers
        )
        more = assign(
            extra,
            [sites[i] for i in short],
            len(targets),
            last_longitude_deg=last_longitude_deg,
            settings=cfg,
            capacity=[cfg.per_site - len(plan[i]) for i in short],
            taken=taken,
        )
        added = 0
        for j, i in enumerate(short):
            plan[i].extend(more[j])
            added += len(more[j])
        if added == 0:
            break
    return plan


def _neighbours(sites: Sequence[SiteParams], radius_deg: float) -> NDArray[np.int64]:
    """How many other sites lie within ``radius_deg`` of each site (great circle)."""
    lat = np.radians([s.latitude_deg for s in sites])
    lon = np.radians([s.longitude_deg for s in sites])
    xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    cos_r = math.cos(math.radians(radius_deg))
    counts = np.zeros(len(sites), dtype=np.int64)
    for lo in range(0, len(sites), 1000):  # blocks keep the pair matrix small for large networks
        counts[lo : lo + 1000] = (np.einsum("ik,jk->ij", xyz[lo : lo + 1000], xyz) >= cos_r).sum(axis=1) - 1
    return counts


def _context_of(contexts: Sequence[RankContext | None] | RankContext | None, i: int) -> RankContext | None:
    return contexts[i] if isinstance(contexts, Sequence) else contexts


def _with_eligible(ctx: RankContext | None, eligible: NDArray[np.bool_]) -> RankContext:
    if ctx is None:
        return RankContext(eligible=eligible)
    both = eligible if ctx.eligible is None else (ctx.eligible & eligible)
    return dataclasses.replace(ctx, eligible=both)


def _transit_end_s(
    rankings: Sequence[RankArrays], n_targets: int, campaign_kind: NDArray[np.integer] | None
) -> NDArray[np.float64] | None:
    """When each fitting transit ends (its trailing baseline): the same instant at every site."""
    if campaign_kind is None or not np.any(np.asarray(campaign_kind) == _TRANSIT):
        return None
    end = np.full(n_targets, np.nan)
    for r in rankings:
        fits = r.factors.get("transit_fits")
        if fits is not None and fits.any():
            end[r.rows[fits]] = r.until_s[fits]
    return end
