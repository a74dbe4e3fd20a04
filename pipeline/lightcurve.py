"""Light curves: merge every site's points for a target, line the sites up, write them out.

* `point_from_observation` takes one observation as plain values and picks the pipeline's photometry when the
  pipeline is done, else what the client reported (each point says which: `source`).
* `solve_site_offsets` finds one magnitude offset per (site, filter) so that sites agree: weighted least squares on
  *overlapping epochs* (points of several sites inside one time bin measure the same brightness), and, for a site
  that never overlaps another, the difference of median levels. The reference site (offset 0) is the one with the
  most calibrated points, else the most points, so calibrated magnitudes keep their scale.
* Writers: CSV (the API's point columns), the AAVSO Extended File Format, VOTable and FITS tables (astropy).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from astropy.table import Table
from astropy.time import Time

OVERLAP_WINDOW_DAYS = 15.0 / 1440.0  # points of two sites within 15 minutes see the same brightness


@dataclass
class LightCurvePoint:
    observed_at: datetime  # mid-exposure, aware UTC
    bjd_tdb: float | None
    magnitude: float | None
    error: float | None
    filter: str
    site_id: str
    observation_id: str
    source: str  # "pipeline" | "client"
    quality_flags: list[str] = field(default_factory=list)
    flux: float | None = None
    flux_error: float | None = None
    calibrated: bool | None = None
    airmass: float | None = None
    comparison_name: str | None = None
    comparison_mag: float | None = None  # instrumental magnitude of the comparison (AAVSO CMAG)
    check_name: str | None = None
    check_mag: float | None = None
    site_offset_mag: float = 0.0  # already subtracted from magnitude

    @property
    def jd_utc(self) -> float:
        return float(Time(self.observed_at).jd)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["observed_at"] = self.observed_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return d


def _as_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("observed_at must carry a UTC offset")
    return value.astimezone(UTC)


def point_from_observation(obs: dict[str, Any]) -> LightCurvePoint | None:
    """One light-curve point from an observation dict (the API's observation fields plus `pipeline` and `site_id`),
    or None when neither the pipeline nor the client gave a magnitude or flux.

    Pipeline photometry wins when `pipeline.state == "done"` and it has a magnitude or flux; its quality flags are
    the pipeline's. `bjd_tdb` is taken from the pipeline's metadata or the observation when present.
    """
    pipe = obs.get("pipeline") or {}
    phot = None
    source = "client"
    flags = list(obs.get("quality_flags") or [])
    if pipe.get("state") == "done" and pipe.get("photometry"):
        p = pipe["photometry"]
        if p.get("magnitude") is not None or p.get("flux") is not None:
            phot, source, flags = p, "pipeline", list(pipe.get("quality_flags") or [])
    if phot is None:
        phot = obs.get("photometry") or {}
        if phot.get("magnitude") is None and phot.get("flux") is None:
            return None
    bjd = obs.get("bjd_tdb")
    if bjd is None:
        bjd = ((pipe.get("metadata") or {}).get("bjd_tdb")) if source == "pipeline" else None
    comps = phot.get("comparison_stars") or []
    return LightCurvePoint(
        observed_at=_as_utc(obs["observed_at"]),
        bjd_tdb=bjd,
        magnitude=_num(phot.get("magnitude")),
        error=_num(phot.get("error")),
        filter=str(obs.get("filter") or ""),
        site_id=str(obs.get("site_id") or ""),
        observation_id=str(obs.get("observation_id") or ""),
        source=source,
        quality_flags=flags,
        flux=_num(phot.get("flux")),
        flux_error=_num(phot.get("flux_error")),
        calibrated=phot.get("calibrated"),
        airmass=_num(obs.get("airmass")),
        comparison_name=(comps[0] if len(comps) == 1 else ("ENSEMBLE" if comps else None)),
    )


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def merge_points(observations: Iterable[dict[str, Any]]) -> list[LightCurvePoint]:
    """Points of all observations (pipeline preferred), in time order; observations without photometry skipped."""
    pts = [p for p in (point_from_observation(o) for o in observations) if p is not None]
    return sorted(pts, key=lambda p: (p.observed_at, p.site_id))


# ----------------------------------------------------------------------------------------------- site offsets


@dataclass
class SiteOffset:
    site_id: str
    filter: str
    offset_mag: float  # subtract from the site's magnitudes
    error_mag: float | None
    method: str  # "reference" | "overlap" | "median" | "none"
    n_points: int


def solve_site_offsets(
    points: Sequence[LightCurvePoint], *, window_days: float = OVERLAP_WINDOW_DAYS, reference_site: str | None = None
) -> dict[tuple[str, str], SiteOffset]:
    """Offsets per (site_id, filter) from magnitudes, so that all sites line up with the reference site."""
    out: dict[tuple[str, str], SiteOffset] = {}
    by_filter: dict[str, list[LightCurvePoint]] = defaultdict(list)
    for p in points:
        if p.magnitude is not None:
            by_filter[p.filter].append(p)
    for filt, pts in by_filter.items():
        sites = sorted({p.site_id for p in pts})
        n_cal = {s: sum(1 for p in pts if p.site_id == s and p.calibrated) for s in sites}
        n_all = {s: sum(1 for p in pts if p.site_id == s) for s in sites}
        ref = reference_site if reference_site in sites else max(sites, key=lambda s: (n_cal[s], n_all[s], s))
        offsets, errors = _overlap_solution(pts, sites, ref, window_days)
        med = {s: float(np.median([p.magnitude for p in pts if p.site_id == s])) for s in sites}
        for s in sites:
            if s == ref:
                out[(s, filt)] = SiteOffset(s, filt, 0.0, 0.0, "reference", n_all[s])
            elif s in offsets:
                out[(s, filt)] = SiteOffset(s, filt, offsets[s], errors[s], "overlap", n_all[s])
            else:
                out[(s, filt)] = SiteOffset(s, filt, med[s] - med[ref], None, "median", n_all[s])
    return out


def _overlap_solution(
    pts: list[LightCurvePoint], sites: list[str], ref: str, window_days: float
) -> tuple[dict[str, float], dict[str, float]]:
    """m_i = mu_bin(i) + delta_site(i), weighted least squares over bins shared by two or more sites."""
    t = np.array([p.jd_utc for p in pts])
    bins = np.floor((t - t.min()) / window_days).astype(int)
    site_idx = {s: i for i, s in enumerate(sites)}
    sites_in_bin: dict[int, set[str]] = defaultdict(set)
    for b, p in zip(bins, pts, strict=True):
        sites_in_bin[b].add(p.site_id)
    shared = sorted(b for b, ss in sites_in_bin.items() if len(ss) >= 2)
    if not shared:
        return {}, {}
    # Which sites are tied to the reference through shared bins (graph connectivity)?
    linked = {ref}
    changed = True
    while changed:
        changed = False
        for b in shared:
            ss = sites_in_bin[b]
            if ss & linked and not ss <= linked:
                linked |= ss
                changed = True
    free = [s for s in sites if s in linked and s != ref]
    if not free:
        return {}, {}
    bin_idx = {b: i for i, b in enumerate(shared)}
    rows, rhs, w = [], [], []
    n_par = len(shared) + len(free)
    free_idx = {s: len(shared) + i for i, s in enumerate(free)}
    for b, p in zip(bins, pts, strict=True):
        if b not in bin_idx or p.site_id not in linked:
            continue
        row = np.zeros(n_par)
        row[bin_idx[b]] = 1.0
        if p.site_id != ref:
            row[free_idx[p.site_id]] = 1.0
        rows.append(row)
        rhs.append(p.magnitude)
        err = p.error if p.error and p.error > 0 else 0.05
        w.append(1.0 / err)
    a = np.array(rows) * np.array(w)[:, None]
    y = np.array(rhs) * np.array(w)
    sol, *_ = np.linalg.lstsq(a, y, rcond=None)
    try:
        cov = np.linalg.pinv(a.T @ a)
        errs = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        errs = np.full(n_par, np.nan)
    del site_idx
    return ({s: float(sol[free_idx[s]]) for s in free}, {s: float(errs[free_idx[s]]) for s in free})


def apply_site_offsets(
    points: Sequence[LightCurvePoint], offsets: dict[tuple[str, str], SiteOffset]
) -> list[LightCurvePoint]:
    """New points with each site's offset subtracted (and recorded in site_offset_mag)."""
    out = []
    for p in points:
        off = offsets.get((p.site_id, p.filter))
        if off is None or p.magnitude is None or off.offset_mag == 0.0:
            out.append(p)
            continue
        out.append(replace(p, magnitude=p.magnitude - off.offset_mag, site_offset_mag=off.offset_mag))
    return out


# ---------------------------------------------------------------------------------------------------- writers


# The CSV has the JSON points' columns (API.md), the time and brightness first.
CSV_COLUMNS = tuple(f.name for f in fields(LightCurvePoint))


def to_csv(points: Sequence[LightCurvePoint]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for p in points:
        d = p.to_dict()
        d["quality_flags"] = ";".join(p.quality_flags)
        w.writerow(["" if d[c] is None else d[c] for c in CSV_COLUMNS])
    return buf.getvalue()


def to_table(points: Sequence[LightCurvePoint], *, target_name: str | None = None) -> Table:
    def col(name: str, default: float = np.nan) -> list:
        return [default if getattr(p, name) is None else getattr(p, name) for p in points]

    t = Table()
    t["observed_at"] = [p.to_dict()["observed_at"] for p in points]
    t["jd_utc"] = [p.jd_utc for p in points]
    t["bjd_tdb"] = np.array(col("bjd_tdb"), dtype=float)
    t["magnitude"] = np.array(col("magnitude"), dtype=float)
    t["error"] = np.array(col("error"), dtype=float)
    t["flux"] = np.array(col("flux"), dtype=float)
    t["flux_error"] = np.array(col("flux_error"), dtype=float)
    t["filter"] = [p.filter for p in points]
    t["site_id"] = [p.site_id for p in points]
    t["observation_id"] = [p.observation_id for p in points]
    t["source"] = [p.source for p in points]
    t["quality_flags"] = [";".join(p.quality_flags) for p in points]
    t["site_offset_mag"] = np.array([p.site_offset_mag for p in points], dtype=float)
    t["magnitude"].unit = t["error"].unit = t["site_offset_mag"].unit = "mag"
    t["bjd_tdb"].unit = t["jd_utc"].unit = "d"
    if target_name:
        t.meta["OBJECT"] = target_name
    t.meta["TIMESYS"] = "TDB for bjd_tdb; UTC for jd_utc and observed_at"
    return t


def to_votable_bytes(points: Sequence[LightCurvePoint], *, target_name: str | None = None) -> bytes:
    from astropy.io.votable import from_table

    buf = io.BytesIO()
    from_table(to_table(points, target_name=target_name)).to_xml(buf)
    return buf.getvalue()


def to_fits_bytes(points: Sequence[LightCurvePoint], *, target_name: str | None = None) -> bytes:
    buf = io.BytesIO()
    t = to_table(points, target_name=target_name)
    t.meta.pop("TIMESYS", None)
    t.write(buf, format="fits")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------- AAVSO Extended Format
# https://www.aavso.org/aavso-extended-file-format : header lines, then one line per observation with
# NAME,DATE,MAG,MERR,FILT,TRANS,MTYPE,CNAME,CMAG,KNAME,KMAG,AMASS,GROUP,CHART,NOTES ("na" where unknown).

AAVSO_FIELDS = (
    "NAME",
    "DATE",
    "MAG",
    "MERR",
    "FILT",
    "TRANS",
    "MTYPE",
    "CNAME",
    "CMAG",
    "KNAME",
    "KMAG",
    "AMASS",
    "GROUP",
    "CHART",
    "NOTES",
)
AAVSO_FILTERS = {
    "U",
    "B",
    "V",
    "R",
    "I",
    "J",
    "H",
    "K",
    "TG",
    "TB",
    "TR",
    "CV",
    "CR",
    "SZ",
    "SU",
    "SG",
    "SR",
    "SI",
    "STU",
    "STV",
    "STB",
    "STY",
    "STHBW",
    "STHBN",
    "MA",
    "MB",
    "MI",
    "ZS",
    "Y",
    "HA",
    "HAC",
    "O",
}
# Our filter names (case-insensitive) -> AAVSO codes. Clear/luminance with a V zero point is CV.
FILTER_TO_AAVSO = {
    "u": "U",
    "b": "B",
    "v": "V",
    "r": "R",
    "rc": "R",
    "i": "I",
    "ic": "I",
    "j": "J",
    "h": "H",
    "k": "K",
    "clear": "CV",
    "c": "CV",
    "cv": "CV",
    "l": "CV",
    "lum": "CV",
    "luminance": "CV",
    "cr": "CR",
    "g'": "SG",
    "sg": "SG",
    "sdss-g": "SG",
    "r'": "SR",
    "sr": "SR",
    "sdss-r": "SR",
    "i'": "SI",
    "si": "SI",
    "sdss-i": "SI",
    "z'": "SZ",
    "sz": "SZ",
    "u'": "SU",
    "su": "SU",
    "tg": "TG",
    "tb": "TB",
    "tr": "TR",
    "halpha": "HA",
    "ha": "HA",
    "y": "Y",
}


def aavso_filter(name: str) -> str:
    code = FILTER_TO_AAVSO.get(name.strip().lower())
    if code:
        return code
    return name.strip().upper() if name.strip().upper() in AAVSO_FILTERS else "O"


def _fmt(v: float | None, digits: int) -> str:
    return "na" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _clean(text: str | None, delim: str) -> str:
    if not text:
        return "na"
    return text.replace(delim, ";").replace("\n", " ").strip() or "na"


def to_aavso_extended(
    points: Sequence[LightCurvePoint],
    *,
    star_name: str,
    obscode: str,
    software: str = "telescope-network pipeline",
    obstype: str = "CCD",
    delim: str = ",",
    chart: str | None = None,
) -> str:
    """AAVSO Extended File Format text, DATE in JD (UTC, mid-exposure). Points without a magnitude are left out.

    MTYPE is STD for calibrated magnitudes, DIF for differential ones; an ensemble comparison is CNAME=ENSEMBLE
    with CMAG=na, as the format asks.
    """
    if delim not in {",", ";", "|", "!", "\t"} or delim in star_name:
        raise ValueError("delimiter must be one of , ; | ! tab and must not occur in the star name")
    lines = [
        "#TYPE=EXTENDED",
        f"#OBSCODE={obscode}",
        f"#SOFTWARE={software}",
        f"#DELIM={'tab' if delim == chr(9) else delim}",
        "#DATE=JD",
        f"#OBSTYPE={obstype}",
        "#" + delim.join(AAVSO_FIELDS),
    ]
    for p in points:
        if p.magnitude is None:
            continue
        notes = f"site={p.site_id} obs={p.observation_id} source={p.source}"
        if p.quality_flags:
            notes += " flags=" + "+".join(p.quality_flags)
        if p.site_offset_mag:
            notes += f" site_offset={p.site_offset_mag:+.4f}"
        if p.bjd_tdb is not None:
            notes += f" bjd_tdb={p.bjd_tdb:.6f}"
        row = [
            _clean(star_name, delim),
            f"{p.jd_utc:.6f}",
            _fmt(p.magnitude, 4),
            _fmt(p.error, 4),
            aavso_filter(p.filter),
            "NO",
            "STD" if p.calibrated else "DIF",
            _clean(p.comparison_name, delim),
            _fmt(p.comparison_mag, 4),
            _clean(p.check_name, delim),
            _fmt(p.check_mag, 4),
            _fmt(p.airmass, 4),
            "na",
            _clean(chart, delim),
            _clean(notes, delim),
        ]
        lines.append(delim.join(row))
    return "\n".join(lines) + "\n"


def validate_aavso_extended(text: str) -> list[str]:
    """Problems found against the AAVSO Extended File Format specification (empty list: valid)."""
    errors: list[str] = []
    params: dict[str, str] = {}
    data_lines: list[tuple[int, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            if "=" in line:
                k, v = line[1:].split("=", 1)
                params[k.strip().upper()] = v.strip()
            continue
        data_lines.append((n, line))
    if params.get("TYPE", "").upper() != "EXTENDED":
        errors.append("#TYPE=EXTENDED is missing")
    for key in ("OBSCODE", "SOFTWARE", "DELIM", "DATE", "OBSTYPE"):
        if not params.get(key):
            errors.append(f"#{key}= is missing or empty")
    if params.get("DATE", "").upper() not in {"JD", "HJD", "EXCEL"}:
        errors.append("#DATE must be JD, HJD or EXCEL")
    if params.get("OBSTYPE") and params["OBSTYPE"].upper() not in {
        "CCD",
        "DSLR",
        "PEP",
        "CMOS",
        "VISDIG",
        "PTG",
        "PHOTOGRAPHIC",
    }:
        errors.append(f"#OBSTYPE {params['OBSTYPE']!r} is not a known type")
    d = params.get("DELIM", ",")
    delim = {"tab": "\t", "comma": ","}.get(d.lower(), d)
    for n, line in data_lines:
        f = line.split(delim)
        if len(f) != len(AAVSO_FIELDS):
            errors.append(f"line {n}: {len(f)} fields, expected {len(AAVSO_FIELDS)}")
            continue
        rec = dict(zip(AAVSO_FIELDS, (x.strip() for x in f), strict=True))
        if any(v == "" for v in rec.values()):
            errors.append(f"line {n}: empty field (use na)")
        try:
            jd = float(rec["DATE"])
            if params.get("DATE", "").upper() in {"JD", "HJD"} and not 2_300_000 < jd < 2_600_000:
                errors.append(f"line {n}: DATE {jd} is not a plausible JD")
        except ValueError:
            errors.append(f"line {n}: DATE is not a number")
        for k in ("MAG",):
            try:
                float(rec[k].lstrip("<"))
            except ValueError:
                errors.append(f"line {n}: {k} is not a number")
        for k in ("MERR", "CMAG", "KMAG", "AMASS"):
            if rec[k].lower() != "na":
                try:
                    float(rec[k])
                except ValueError:
                    errors.append(f"line {n}: {k} must be a number or na")
        if rec["FILT"] not in AAVSO_FILTERS:
            errors.append(f"line {n}: FILT {rec['FILT']!r} is not an AAVSO filter code")
        if rec["TRANS"].upper() not in {"YES", "NO"}:
            errors.append(f"line {n}: TRANS must be YES or NO")
        if rec["MTYPE"].upper() not in {"STD", "DIF", "ABS"}:
            errors.append(f"line {n}: MTYPE must be STD or DIF")
        if rec["CNAME"].upper() == "ENSEMBLE" and rec["CMAG"].lower() != "na":
            errors.append(f"line {n}: an ENSEMBLE comparison has CMAG=na")
    if not data_lines:
        errors.append("no observations")
    return errors
