"""Benchmark: crossmatch against 1,000,000 targets, and alert parsing throughput per format.

    .venv/bin/python bench/bench_crossmatch.py                  # print the tables
    .venv/bin/python bench/bench_crossmatch.py --update-results # also (re)write our section of RESULTS.md

Goal (issue 6): one position against 1,000,000 targets in <= 5 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts.crossmatch import SkyIndex, brute_force_nearest, cell_ranges, sky_cells  # noqa: E402
from alerts.formats import parse  # noqa: E402
from alerts.rules_engine import decide, default_rules  # noqa: E402

HEADING = "## Alerts (crossmatch and ingest)"
N_TARGETS = 1_000_000
DATA = ROOT / "alerts" / "tests" / "data"
SHARED = (ROOT / ".." / "shared" / "data").resolve()


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average at start {os.getloadavg()[0]:.1f} (other jobs share the machine)"
    return f"{os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}, numpy {np.__version__}{load}"


def timed(fn, repeat: int) -> tuple[float, float]:
    """Mean and 99th-percentile seconds per call."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    arr = np.array(times)
    return float(arr.mean()), float(np.percentile(arr, 99))


def bench_crossmatch() -> list[str]:
    rng = np.random.default_rng(6)
    ra = rng.uniform(0, 360, N_TARGETS)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, N_TARGETS)))
    t0 = time.perf_counter()
    index = SkyIndex(ra, dec)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sky_cells(ra, dec)
    cells_s = time.perf_counter() - t0

    n_q = 2000
    pick = rng.integers(0, N_TARGETS, n_q)
    q_ra = np.where(np.arange(n_q) % 2 == 0, np.mod(ra[pick] + 1e-4, 360), rng.uniform(0, 360, n_q))
    q_dec = np.where(np.arange(n_q) % 2 == 0, dec[pick], np.degrees(np.arcsin(rng.uniform(-1, 1, n_q))))

    rows = ["| method | radius | mean ms/query | p99 ms/query | queries |", "|---|---|---|---|---|"]
    for radius, label in ((2 / 3600, "2″"), (1 / 60, "1′"), (0.1, "0.1°"), (1.0, "1°")):
        it = iter(range(10**9))

        def one(radius: float = radius, it=it) -> None:
            i = next(it) % n_q
            index.nearest(float(q_ra[i]), float(q_dec[i]), radius)

        mean, p99 = timed(one, n_q)
        rows.append(f"| SkyIndex (0.5° cells) | {label} | {mean * 1e3:.3f} | {p99 * 1e3:.3f} | {n_q} |")

    # the same answers as a full scan (spot check while timing the scan)
    it2 = iter(range(10**9))
    mismatches = 0

    def scan() -> None:
        nonlocal mismatches
        i = next(it2) % n_q
        got = brute_force_nearest(ra, dec, float(q_ra[i]), float(q_dec[i]), 0.1)
        want = index.nearest(float(q_ra[i]), float(q_dec[i]), 0.1)
        mismatches += (got is None) != (want is None) or (got is not None and abs(got[1] - want[1]) > 1e-12)

    mean, p99 = timed(scan, 30)
    rows.append(f"| brute-force numpy scan (+ index check) | 0.1° | {mean * 1e3:.1f} | {p99 * 1e3:.1f} | 30 |")

    # brute force alone, so the column compares like with like
    xyz = np.stack(
        [
            np.cos(np.radians(dec)) * np.cos(np.radians(ra)),
            np.cos(np.radians(dec)) * np.sin(np.radians(ra)),
            np.sin(np.radians(dec)),
        ],
        axis=1,
    )

    def scan_only() -> None:
        q = xyz[pick[0]]
        np.argmin(((xyz - q) ** 2).sum(axis=1))

    mean, p99 = timed(scan_only, 30)
    rows.append(f"| brute-force numpy scan, precomputed xyz | any | {mean * 1e3:.1f} | {p99 * 1e3:.1f} | 30 |")

    try:
        from astropy import units as u
        from astropy.coordinates import SkyCoord, match_coordinates_sky

        catalog = SkyCoord(ra=ra * u.deg, dec=dec * u.deg)
        t0 = time.perf_counter()
        match_coordinates_sky(SkyCoord(ra=q_ra[:1] * u.deg, dec=q_dec[:1] * u.deg), catalog)  # builds the KD-tree
        tree_s = time.perf_counter() - t0
        it3 = iter(range(10**9))

        def astro() -> None:
            i = next(it3) % n_q
            match_coordinates_sky(SkyCoord(ra=q_ra[i] * u.deg, dec=q_dec[i] * u.deg), catalog)

        mean, p99 = timed(astro, 200)
        rows.append(
            f"| astropy match_coordinates_sky (KD-tree cached) | nearest | {mean * 1e3:.3f} | {p99 * 1e3:.3f} | 200 |"
        )
        astropy_note = f"astropy KD-tree build (first call) {tree_s:.2f} s."
    except Exception as exc:  # astropy/scipy missing: not essential
        astropy_note = f"astropy comparison skipped ({exc})."

    t0 = time.perf_counter()
    index.nearest_many(q_ra, q_dec, 2 / 3600)
    batch_s = time.perf_counter() - t0
    n_ranges = np.mean([len(cell_ranges(float(q_ra[i]), float(q_dec[i]), 2 / 3600)) for i in range(200)])
    n_ranges_1 = np.mean([len(cell_ranges(float(q_ra[i]), float(q_dec[i]), 1.0)) for i in range(200)])
    notes = [
        f"Index build over {N_TARGETS:,} targets {build_s:.2f} s; computing their `sky_cell` values {cells_s:.2f} s.",
        f"Batch `nearest_many` of {n_q} alerts at 2″: {batch_s * 1e3:.0f} ms ({n_q / batch_s:,.0f} alerts/s).",
        f"DB prefilter size: {n_ranges:.1f} `sky_cell BETWEEN` ranges for a 2″ cone, {n_ranges_1:.1f} for 1°.",
        astropy_note,
        f"Index vs scan disagreements in the spot check: {mismatches}.",
    ]
    return rows + [""] + [f"- {n}" for n in notes]


def _samples() -> list[tuple[str, bytes, str]]:
    out = [
        (
            "VOEvent (Swift BAT)",
            (DATA / "voevent" / "voeventparse_SWIFT_bat_position_v2.0_example.xml").read_bytes(),
            "application/xml",
        ),
        (
            "VOEvent (LVK)",
            (DATA / "voevent" / "fink_ivo__gwnet_LVCMS191201o1Preliminary.xml").read_bytes(),
            "application/xml",
        ),
        (
            "GCN Kafka JSON (IceCube)",
            (DATA / "gcn_kafka" / "icecube_single_neutrino_alerts.gold_bronze_track_alerts.example.json").read_bytes(),
            "application/json",
        ),
        (
            "GCN Classic binary",
            (DATA / "gcn_classic" / "SWIFT_BAT_GRB_POS_ACK.example.bin").read_bytes(),
            "application/octet-stream",
        ),
        (
            "IGWN JSON (retraction)",
            (DATA / "igwn" / "skyportal_igwn_gwalert_retraction.json").read_bytes(),
            "application/json",
        ),
        (
            "Rubin Avro via Fink (2 alerts/file)",
            (DATA / "brokers" / "fink_lsst_2records.avro").read_bytes(),
            "avro/binary",
        ),
        (
            "Fink JSON (3 rows)",
            (DATA / "brokers" / "fink_ztf_objects_ZTF19aaosfcb.json").read_bytes(),
            "application/json",
        ),
        (
            "Lasair LSST JSON (NaN)",
            (DATA / "brokers" / "lasair_lsst_object_169342390923427937.json").read_bytes(),
            "application/json",
        ),
        (
            "ALeRCE detections JSON",
            (DATA / "brokers" / "alerce_ztf_detections_ZTF18abcgqmz.json").read_bytes(),
            "application/json",
        ),
        (
            "TNS normalised form",
            b'{"source": "TNS", "external_id": "2026abc", "ra_deg": 150.1, "dec_deg": -2.3, '
            b'"alert_type": "SN candidate", "event_time": "2026-11-23T19:08:41Z"}',
            "application/json",
        ),
    ]
    ztf = SHARED / "ztf_alerts" / "ztf_avro" / "ztf_472263571115115000.avro"
    if ztf.exists():
        out.append(("ZTF Avro packet (67 kB, cutouts)", ztf.read_bytes(), "avro/binary"))
    gaia = SHARED / "gaia_alerts" / "gaia_alerts_notable.csv"
    if gaia.exists():
        out.append(("Gaia alerts.csv (7 rows)", gaia.read_bytes(), "text/csv"))
    return out


def bench_parsing() -> list[str]:
    rows = ["| format | alerts/s (one process) | µs per message |", "|---|---|---|"]
    for label, body, ctype in _samples():
        parse(body, ctype)  # warm up (imports, astropy time tables)
        n_alerts = n_msgs = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.7:
            n_alerts += len(parse(body, ctype))
            n_msgs += 1
        elapsed = time.perf_counter() - t0
        rows.append(f"| {label} | {n_alerts / elapsed:,.0f} | {elapsed / n_msgs * 1e6:,.0f} |")
    body = (DATA / "voevent" / "voeventparse_SWIFT_bat_position_v2.0_example.xml").read_bytes()
    alert = parse(body, "application/xml")[0]
    rules = default_rules()
    now = alert.event_time + dt.timedelta(minutes=5)
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        decide(alert, rules, now=now, network_limiting_mag=18.0)
    rule_s = (time.perf_counter() - t0) / n
    rows.append(f"| rules engine `decide()` (GRB, default rules) | {1 / rule_s:,.0f} | {rule_s * 1e6:.1f} |")
    return rows


def update_results(section: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    found = pattern.search(text)
    text = pattern.sub(lambda _m: section, text) if found else text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--update-results", action="store_true", help="write our section of bench/RESULTS.md")
    args = ap.parse_args()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        HEADING,
        "",
        f"`bench/bench_crossmatch.py`, {stamp}, on {machine()}.",
        "",
        f"### Crossmatch: one position against {N_TARGETS:,} random targets (goal ≤ 5 ms)",
        "",
    ]
    lines += bench_crossmatch()
    lines += ["", "### Parsing throughput (parser only, no database)", ""]
    lines += bench_parsing()
    section = "\n".join(lines) + "\n"
    print(section)
    if args.update_results:
        update_results(section)


if __name__ == "__main__":
    main()
