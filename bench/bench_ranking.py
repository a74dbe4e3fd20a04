"""Benchmark: the scheduler's ranking for one site, and the network plan.

Run:  .venv/bin/python bench/bench_ranking.py                  (10k and 100k targets; 100 and 1,000 sites)
      .venv/bin/python bench/bench_ranking.py --quick          (10,000 targets, 100 sites: a smoke run)
      .venv/bin/python bench/bench_ranking.py --write-results  (also rewrite our part of bench/RESULTS.md)

Compared side by side, at one site and a new instant on every call (nothing may be cached across calls):

* engine (full)      targets.sky.rank: every constraint (horizon mask, filters, limiting magnitude, FOV,
                     Moon by brightness, airmass, expiry, windows) and the full score with the context
                     arrays the server passes (last observations, network counts, campaign boosts,
                     transits), top 10;
* engine (same 3)    targets.sky.rank_arrays with only what astroplan checks below (altitude >= 30 deg,
                     Sun below -12 deg, Moon >= 10 deg away), every target: verdicts compared;
* astroplan          is_observable([AltitudeConstraint(30 deg), AtNightConstraint(-12 deg),
                     MoonSeparationConstraint(10 deg)], observer, ONE array-valued FixedTarget, time);
* naive loop         one SkyCoord.transform_to(AltAz) per target, timed on a sample and scaled to N;
* bare numpy         J2000 RA/Dec with GMST (no precession, nutation, aberration), threshold, top 10.

"agree" is the fraction of targets whose verdict (observable or not) matches the reference: astropy's
full AltAz transform of all targets at once (pressure 0, no refraction), Sun and Moon from get_body.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

from astropy.utils import iers

iers.conf.auto_download = False
iers.conf.auto_max_age = None

import astropy.units as u  # noqa: E402
import numpy as np  # noqa: E402
from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_body  # noqa: E402
from astropy.time import Time  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from astropy.utils.exceptions import AstropyWarning  # noqa: E402

from targets.sky import (  # noqa: E402
    PlanSettings,
    RankContext,
    SiteParams,
    TargetArrays,
    Weights,
    plan_network,
    rank,
    rank_arrays,
)

warnings.simplefilter("ignore", AstropyWarning)
warnings.filterwarnings("ignore", module="erfa")
warnings.filterwarnings("ignore", message=".*IERS.*")
warnings.filterwarnings("ignore", message=".*dubious year.*")

LAT, LON, ELEV = 34.05, -118.24, 100.0
START = dt.datetime(2026, 11, 25, 7, 0, tzinfo=dt.UTC)  # a night near full Moon: the Moon constraint bites
MIN_ALT, TWILIGHT, MOON_SEP = 30.0, -12.0, 10.0
FILTERS = ["U", "B", "V", "R", "I", "Clear", "g", "r", "i", "z"]


def make_catalog(n: int, seed: int = 1) -> tuple[TargetArrays, RankContext]:
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    now = START.timestamp()
    filters = [list(rng.choice(FILTERS, size=rng.integers(0, 3), replace=False)) for _ in range(n)]
    has_eph = rng.uniform(size=n) < 0.05
    windows = [[(now - 3600, now + 7200, 3.0)] if rng.uniform() < 0.002 else [] for _ in range(n)]
    targets = TargetArrays.build(
        [f"t{i}" for i in range(n)], ra, dec,
        magnitude=rng.uniform(6, 18, n), priority=rng.exponential(1.5, n), filters=filters,
        min_altitude_deg=np.where(rng.uniform(size=n) < 0.05, 40.0, np.nan),
        min_fov_arcmin=np.where(rng.uniform(size=n) < 0.1, rng.uniform(10, 60, n), np.nan),
        cadence_hours=np.where(rng.uniform(size=n) < 0.3, rng.choice([2.0, 12.0, 24.0], n), np.nan),
        min_observations=rng.integers(0, 50, n),
        expires_at=np.where(rng.uniform(size=n) < 0.01, now - 60.0, np.nan),
        transit_epoch_bjd=np.where(has_eph, 2461000.0 + rng.uniform(0, 5, n), np.nan),
        transit_period_days=rng.uniform(0.8, 6, n), transit_duration_hours=rng.uniform(1, 4, n),
        windows=windows,
    )  # fmt: skip
    n_rows = len(targets)
    context = RankContext(
        last_observed_here_s=np.where(rng.uniform(size=n_rows) < 0.05, now - rng.uniform(0, 86400, n_rows), np.nan),
        last_observed_any_s=np.where(rng.uniform(size=n_rows) < 0.4, now - rng.uniform(0, 5e5, n_rows), np.nan),
        network_observations_24h=rng.poisson(0.5, n_rows).astype(float),
        total_observations=rng.integers(0, 80, n_rows).astype(float),
        campaign_boost=np.where(rng.uniform(size=n_rows) < 0.1, 1.5, 1.0),
    )
    return targets, context


FULL_SITE = SiteParams(
    LAT, LON, ELEV, min_altitude_deg=MIN_ALT, horizon=[[0, 30], [60, 38], [120, 33], [200, 30], [290, 42]],
    twilight_sun_altitude_deg=TWILIGHT, filters=("B", "V", "R", "Clear"), limiting_mag=16.5, fov_arcmin=40.0,
    max_airmass=2.5,
)  # fmt: skip
SIMPLE_SITE = SiteParams(LAT, LON, ELEV, min_altitude_deg=MIN_ALT, twilight_sun_altitude_deg=TWILIGHT)
SIMPLE_WEIGHTS = Weights(moon_min_sep_deg=MOON_SEP, moon_extra_sep_deg=0.0, moon_sky_mag=0.0)


def instants(k: int) -> list[dt.datetime]:
    return [START + dt.timedelta(seconds=61 * i) for i in range(k)]


CPU_MS: dict[int, list[float]] = {}


def timed(fn, calls: list) -> list[float]:
    """Wall-clock ms per call; the CPU ms of the same calls are kept in CPU_MS[id(result)]."""
    out, cpu = [], []
    for arg in calls:
        c0, t0 = time.process_time(), time.perf_counter()
        fn(arg)
        out.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    CPU_MS[id(out)] = cpu
    return out


def cpu_median(wall: list[float]) -> float:
    return statistics.median(CPU_MS[id(wall)])


def reference_verdict(targets: TargetArrays, at: dt.datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observable per astropy (all three constraints); the altitude verdict alone; Sun and Moon alone."""
    loc = EarthLocation.from_geodetic(LON * u.deg, LAT * u.deg, ELEV * u.m)
    t = Time(at)
    frame = AltAz(obstime=t, location=loc, pressure=0 * u.hPa)
    aa = SkyCoord(targets.ra_deg * u.deg, targets.dec_deg * u.deg).transform_to(frame)
    sun_alt = get_body("sun", t, loc).transform_to(frame).alt.deg
    moon = get_body("moon", t, loc).transform_to(frame)
    sep = aa.separation(moon).deg
    high = aa.alt.deg >= MIN_ALT
    sun_and_moon = (sun_alt < TWILIGHT) & (sep >= MOON_SEP)
    return high & sun_and_moon, high, sun_and_moon


def bare_numpy(targets: TargetArrays, sin_dec, cos_dec, ra_rad, at: dt.datetime) -> tuple[np.ndarray, np.ndarray]:
    jd = 2440587.5 + at.timestamp() / 86400.0
    gmst_deg = (280.46061837 + 360.98564736629 * (jd - 2451545.0)) % 360.0
    ha = np.radians(gmst_deg + LON) - ra_rad
    phi = np.radians(LAT)
    sin_alt = sin_dec * np.sin(phi) + cos_dec * np.cos(phi) * np.cos(ha)
    cos_alt = np.sqrt(1 - sin_alt**2)
    az = np.arctan2(-cos_dec * np.sin(ha), (sin_dec - sin_alt * np.sin(phi)) / np.cos(phi))  # noqa: F841
    ok = sin_alt >= np.sin(np.radians(MIN_ALT))
    score = np.where(ok, targets.priority * (0.5 + 0.5 * sin_alt) + 0 * cos_alt, -np.inf)
    top = np.argpartition(-score, 10)[:10]
    return top[np.argsort(-score[top])], ok


def bench_one_size(n: int, repeats: int, naive_sample: int, with_astroplan: bool) -> list[tuple]:
    targets, context = make_catalog(n)
    rows = []
    calls = instants(repeats)
    rank(FULL_SITE, targets, calls[0], context=context)  # warm: IERS table, imports
    full_ms = timed(lambda at: rank(FULL_SITE, targets, at, context=context, count=10), calls)
    listed = len(rank_arrays(FULL_SITE, targets, calls[0], context=context).rows)

    ref, ref_high, ref_sun_moon = reference_verdict(targets, calls[0])
    # The same sky without per-target limits, expiry or windows, so only the three shared constraints count.
    plain = TargetArrays.build(targets.ids, targets.ra_deg, targets.dec_deg, priority=targets.priority)
    simple = rank_arrays(SIMPLE_SITE, plain, calls[0], weights=SIMPLE_WEIGHTS)
    ours = np.zeros(len(targets), dtype=bool)
    ours[simple.rows] = True  # plain's rows are in the same (declination) order as targets'
    simple_ms = timed(lambda at: rank_arrays(SIMPLE_SITE, plain, at, weights=SIMPLE_WEIGHTS, top=10), calls)
    rows.append(
        (
            n,
            "engine, every constraint + full score, top 10",
            statistics.median(full_ms),
            np.percentile(full_ms, 95),
            cpu_median(full_ms),
            "",
            f"{listed} listed",
        )
    )
    rows.append(
        (
            n,
            "engine, same 3 constraints as astroplan",
            statistics.median(simple_ms),
            np.percentile(simple_ms, 95),
            cpu_median(simple_ms),
            f"{np.mean(ours == ref):.5f}",
            f"{ours.sum()} observable",
        )
    )

    if with_astroplan:
        from astroplan import (
            AltitudeConstraint,
            AtNightConstraint,
            FixedTarget,
            MoonSeparationConstraint,
            Observer,
            is_observable,
        )  # fmt: skip

        observer = Observer(location=EarthLocation.from_geodetic(LON * u.deg, LAT * u.deg, ELEV * u.m))
        constraints = [
            AltitudeConstraint(min=MIN_ALT * u.deg),
            AtNightConstraint(max_solar_altitude=TWILIGHT * u.deg),
            MoonSeparationConstraint(min=MOON_SEP * u.deg),
        ]
        target = FixedTarget(SkyCoord(targets.ra_deg * u.deg, targets.dec_deg * u.deg))
        verdict = is_observable(constraints, observer, target, times=Time(calls[0]))
        k = max(3, min(repeats, 10))
        ap_ms = timed(lambda at: is_observable(constraints, observer, target, times=Time(at)), calls[1 : k + 1])
        rows.append(
            (
                n,
                "astroplan is_observable, one array-valued FixedTarget",
                statistics.median(ap_ms),
                np.percentile(ap_ms, 95),
                cpu_median(ap_ms),
                f"{np.mean(verdict == ref):.5f}",
                f"{int(verdict.sum())} observable",
            )
        )

    if naive_sample:
        loc = EarthLocation.from_geodetic(LON * u.deg, LAT * u.deg, ELEV * u.m)
        frame = AltAz(obstime=Time(calls[0]), location=loc, pressure=0 * u.hPa)
        idx = np.linspace(0, len(targets) - 1, naive_sample).astype(int)
        c0, t0 = time.process_time(), time.perf_counter()
        alts = [SkyCoord(targets.ra_deg[i] * u.deg, targets.dec_deg[i] * u.deg).transform_to(frame).alt.deg
                for i in idx]  # fmt: skip
        per = (time.perf_counter() - t0) / naive_sample
        per_cpu = (time.process_time() - c0) / naive_sample
        naive_verdict = (np.array(alts) >= MIN_ALT) & ref_sun_moon[idx]  # Sun and Moon done once, as ours
        rows.append(
            (
                n,
                f"naive loop, 1 AltAz transform per target (sample {naive_sample}, scaled)",
                per * len(targets) * 1e3,
                float("nan"),
                per_cpu * len(targets) * 1e3,
                f"{np.mean(naive_verdict == ref[idx]):.5f}*",
                f"{per * 1e3:.2f} ms per target",
            )
        )

    ra_rad = np.radians(targets.ra_deg)
    sin_dec, cos_dec = np.sin(np.radians(targets.dec_deg)), np.cos(np.radians(targets.dec_deg))
    bare_ms = timed(lambda at: bare_numpy(targets, sin_dec, cos_dec, ra_rad, at), calls)
    _, bare_ok = bare_numpy(targets, sin_dec, cos_dec, ra_rad, calls[0])
    rows.append(
        (
            n,
            "bare numpy alt/az (J2000, GMST), threshold, top 10",
            statistics.median(bare_ms),
            np.percentile(bare_ms, 95),
            cpu_median(bare_ms),
            f"{np.mean(bare_ok == ref_high):.5f}",
            "altitude verdict only (no precession)",
        )
    )
    return rows


def sites_worldwide(k: int, seed: int) -> list[SiteParams]:
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-0.85, 0.9, k)))
    lon = rng.uniform(-180, 180, k)
    return [
        SiteParams(float(a), float(o), 100.0, min_altitude_deg=25.0, limiting_mag=float(rng.uniform(14, 18)),
                   filters=("V", "R", "Clear"), reliability=float(rng.uniform(0.7, 1.0)))
        for a, o in zip(lat, lon, strict=True)
    ]  # fmt: skip


def sites_all_dark(k: int, seed: int) -> list[SiteParams]:
    """Every site in the night (the Americas at 07:00 UTC in December): the plan's worst case."""
    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(-45, 55, k), rng.uniform(-150, -60, k)
    return [
        SiteParams(float(a), float(o), 100.0, min_altitude_deg=25.0, limiting_mag=16.0, filters=("V", "R"))
        for a, o in zip(lat, lon, strict=True)
    ]  # fmt: skip


PLAN_IDLE_ESTIMATE: dict[tuple[int, str], float] = {}


def bench_plan(site_counts: list[int], n_targets: int, workers: int) -> list[tuple]:
    targets, context = make_catalog(n_targets, seed=2)
    rows = []
    at = dt.datetime(2026, 12, 9, 7, 0, tzinfo=dt.UTC)
    for k in site_counts:
        for label, sites in (("worldwide", sites_worldwide(k, k)), ("all at night", sites_all_dark(k, k))):
            kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            c0, t0 = time.process_time(), time.perf_counter()
            plan = plan_network(
                sites, targets, at, contexts=context, workers=workers, settings=PlanSettings(per_site=5)
            )
            secs = time.perf_counter() - t0
            kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            parent_cpu = time.process_time() - c0
            workers_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
            cpu = parent_cpu + workers_cpu
            # On idle cores: the parent's own (serial) part, plus the workers' share of each core.
            PLAN_IDLE_ESTIMATE[(k, label)] = parent_cpu + workers_cpu / max(1, workers)
            assigned = [r for v in plan.values() for r in v]
            busy = sum(1 for v in plan.values() if v)
            rows.append((k, n_targets, label, secs, cpu, busy, len(assigned), len(set(assigned))))
    return rows


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = f"{os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))})"
    return f"{cores}, {cpu}, Python {platform.python_version()}, numpy {np.__version__}"


def render(rank_rows: list[tuple], plan_rows: list[tuple], workers: int) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        f"Measured {now} on {machine()}. Command: `.venv/bin/python bench/bench_ranking.py`.",
        f"Load average when it started: {LOAD_AT_START} (other jobs shared the machine: wall times include waiting "
        "for a core, CPU times do not).",
        "",
        "Rank for one site (Los Angeles, full-Moon night, a new instant every call), median and p95 in ms:",
        "",
        "| targets | method | median ms | p95 ms | CPU ms | agree with astropy AltAz | note |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for n, name, med, p95, cpu, agree, note in rank_rows:
        p95s = "" if np.isnan(p95) else f"{p95:.1f}"
        out.append(f"| {n:,} | {name} | {med:,.1f} | {p95s} | {cpu:,.1f} | {agree} | {note} |")
    out += [
        "",
        "\\* the naive loop's agreement is over its sample; it *is* the reference transform, one target at a time.",
        "",
        "Network plan at 07:00 UTC (rank every site for its best 400 candidates, up to 3,000 where many sites share "
        "the sky; greedy assignment, 5 slots per site; further rounds for dark sites left short; "
        f"{workers} forked worker processes). CPU s counts the parent and the workers:",
        "",
        "| sites | targets | where | wall s | CPU s (all processes) | sites given work | assignments | distinct |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for k, n, label, secs, cpu, busy, total, distinct in plan_rows:
        out.append(f"| {k:,} | {n:,} | {label} | {secs:.2f} | {cpu:.2f} | {busy} | {total} | {distinct} |")
    out += ["", "Against the goals of issue 5:", ""]
    for n in sorted({r[0] for r in rank_rows}):
        full = next((r for r in rank_rows if r[0] == n and r[1].startswith("engine, every")), None)
        same = next((r for r in rank_rows if r[0] == n and r[1].startswith("engine, same")), None)
        astroplan = next((r for r in rank_rows if r[0] == n and r[1].startswith("astroplan")), None)
        if full:
            out.append(f"- {n:,} targets: full ranking {full[2]:.1f} ms wall, {full[4]:.1f} ms CPU (goal <= 10 ms)")
        if same and astroplan:
            out.append(
                f"  - {astroplan[4] / same[4]:.0f}x less CPU than astroplan with the same three constraints "
                f"({astroplan[2] / same[2]:.0f}x wall; goal >= 5x)"
            )
    for k, n, label, secs, cpu, *_ in plan_rows:
        if k >= 1000:
            out.append(
                f"- plan {k:,} sites x {n:,} targets ({label}): {secs:.1f} s wall here, {cpu:.1f} CPU s in all, "
                f"so about {PLAN_IDLE_ESTIMATE[(k, label)]:.1f} s on {workers} otherwise idle cores "
                "(parent CPU + workers' CPU / workers; goal <= 10 s on 2 cores)"
            )
    out += ["", "`GET /api/v1/targets` over HTTP (p50, p95): measured by the server's own benchmark, not here."]
    return "\n".join(out) + "\n"


def write_results(path: Path, body: str) -> None:
    heading = "## Ranking (scheduler)"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    section = f"{heading}\n\n{body}"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        path.write_text(pattern.sub(lambda _: section + "\n", text))
    else:
        path.write_text(text.rstrip("\n") + "\n\n" + section)


LOAD_AT_START = "n/a"


def main() -> None:
    global LOAD_AT_START
    LOAD_AT_START = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="catalogue sizes, comma-separated")
    parser.add_argument("--sites", default="100,1000", help="site counts for the network plan")
    parser.add_argument("--plan-targets", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=50, help="calls per engine measurement")
    parser.add_argument("--naive-sample", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-astroplan", action="store_true")
    parser.add_argument("--quick", action="store_true", help="10,000 targets, 100 sites, fewer repeats")
    parser.add_argument("--write-results", action="store_true", help="rewrite our section of bench/RESULTS.md")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.sites, args.plan_targets, args.repeats, args.naive_sample = (
            "10000",
            "100",
            10_000,
            10,
            50,
        )

    rank_rows = []
    for n in [int(s) for s in args.sizes.split(",") if s]:
        print(f"ranking over {n:,} targets ...", file=sys.stderr)
        rank_rows += bench_one_size(n, args.repeats, args.naive_sample, not args.no_astroplan)
    print("network plan ...", file=sys.stderr)
    plan_rows = bench_plan([int(s) for s in args.sites.split(",") if s], args.plan_targets, args.workers)
    body = render(rank_rows, plan_rows, args.workers)
    print(body)
    if args.write_results:
        write_results(Path(__file__).resolve().parent / "RESULTS.md", body)


if __name__ == "__main__":
    main()
