"""A target's light curve: every site's points merged, pipeline results preferred over client values."""

import csv
import io

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time
from django.http import HttpResponse

from network.fields import AwareDateTimeField

POINT_COLUMNS = [
    "observed_at", "bjd_tdb", "magnitude", "error", "flux", "flux_error", "filter", "site_id", "observation_id",
    "source", "calibrated", "airmass", "exposure_sec", "quality_flags",
]  # fmt: skip

_time = AwareDateTimeField()


def _bjd_tdb(rows) -> list[float | None]:
    """BJD_TDB of mid-exposure for each row: barycentric light-travel time towards the target, per site."""
    need = [i for i, r in enumerate(rows) if r.bjd_tdb is None]
    out = [r.bjd_tdb for r in rows]
    if not need:
        return out
    times = Time([rows[i].observed_at for i in need], scale="utc")
    location = EarthLocation.from_geodetic(
        lon=[rows[i].site.longitude for i in need] * u.deg,
        lat=[rows[i].site.latitude for i in need] * u.deg,
        height=[rows[i].site.elevation_m for i in need] * u.m,
    )
    target = rows[0].target
    coord = SkyCoord(target.ra_deg * u.deg, target.dec_deg * u.deg, frame="icrs")
    times = Time(times, location=location)
    bjd = (times.tdb + times.light_travel_time(coord, kind="barycentric")).jd
    for i, value in zip(need, np.atleast_1d(bjd), strict=True):
        out[i] = float(value)
    return out


def _point(obs, bjd: float | None) -> dict | None:
    pipeline_phot = (obs.pipeline_result or {}).get("photometry") if obs.pipeline_state == "done" else None
    client_phot = obs.photometry or None
    if pipeline_phot and (pipeline_phot.get("magnitude") is not None or pipeline_phot.get("flux") is not None):
        phot, source = pipeline_phot, "pipeline"
        flags = (obs.pipeline_result or {}).get("quality_flags", [])
    elif client_phot:
        phot, source, flags = client_phot, "client", obs.quality_flags
    else:
        return None
    return {
        "observed_at": _time.to_representation(obs.observed_at),
        "bjd_tdb": bjd,
        "magnitude": phot.get("magnitude"),
        "error": phot.get("error"),
        "flux": phot.get("flux"),
        "flux_error": phot.get("flux_error"),
        "filter": obs.filter,
        "site_id": str(obs.site_id),
        "observation_id": str(obs.pk),
        "source": source,
        "calibrated": bool(phot.get("calibrated", source == "client" and phot.get("magnitude") is not None)),
        "airmass": obs.airmass,
        "exposure_sec": obs.exposure_sec,
        "quality_flags": list(flags or []),
    }


def lightcurve_points(queryset) -> list[dict]:
    rows = list(queryset.select_related("site", "target").order_by("observed_at"))
    if not rows:
        return []
    bjds = _bjd_tdb(rows)
    points = [_point(obs, bjd) for obs, bjd in zip(rows, bjds, strict=True)]
    return [p for p in points if p is not None]


def csv_response(target, points: list[dict]) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=POINT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for p in points:
        writer.writerow({**p, "quality_flags": ";".join(p["quality_flags"])})
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_safe(target.name)}_lightcurve.csv"'
    return response


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


# AAVSO filter codes for the names sites use (https://www.aavso.org/aavso-extended-file-format).
AAVSO_FILTERS = {
    "U": "U", "B": "B", "V": "V", "R": "R", "I": "I", "RC": "R", "IC": "I", "J": "J", "H": "H", "K": "K",
    "CLEAR": "CV", "C": "CV", "L": "CV", "LUM": "CV", "CV": "CV", "CR": "CR", "TG": "TG", "TB": "TB", "TR": "TR",
    "G": "SG", "SG": "SG", "R'": "SR", "SR": "SR", "I'": "SI", "SI": "SI", "Z": "SZ", "SZ": "SZ", "U'": "SU",
    "GP": "SG", "RP": "SR", "IP": "SI", "ZP": "SZ",
}  # fmt: skip


def aavso_text(target, points: list[dict], *, obscode: str, software: str) -> str:
    """AAVSO Extended File Format: header keywords, then one comma-delimited line per magnitude."""
    lines = [
        "#TYPE=EXTENDED",
        f"#OBSCODE={obscode}",
        f"#SOFTWARE={software}",
        "#DELIM=,",
        "#DATE=JD",
        "#OBSTYPE=CCD",
        "#NAME,DATE,MAG,MERR,FILT,TRANS,MTYPE,CNAME,CMAG,KNAME,KMAG,AMASS,GROUP,CHART,NOTES",
    ]
    name = target.name.replace(",", " ")
    for p in points:
        if p["magnitude"] is None:
            continue
        jd = _jd_utc(p["observed_at"])
        filt = AAVSO_FILTERS.get((p["filter"] or "").strip().upper(), "na")
        mtype = "STD" if p["calibrated"] else "DIF"
        merr = f"{p['error']:.4f}" if p["error"] is not None else "na"
        amass = f"{p['airmass']:.4f}" if p["airmass"] is not None else "na"
        notes = f"site={p['site_id']}|obs={p['observation_id']}|src={p['source']}"
        if p["quality_flags"]:
            notes += "|flags=" + ";".join(p["quality_flags"])
        lines.append(
            ",".join([name, f"{jd:.6f}", f"{p['magnitude']:.4f}", merr, filt, "NO", mtype,
                      "ENSEMBLE", "na", "na", "na", amass, "na", "na", notes])
        )  # fmt: skip
    return "\n".join(lines) + "\n"


def _jd_utc(iso: str) -> float:
    return float(Time(iso.replace("Z", ""), format="isot", scale="utc").jd)


def aavso_response(target, points: list[dict], *, request) -> HttpResponse:
    obscode = (request.query_params.get("obscode") or "").strip().upper() or "NONE"
    text = aavso_text(target, points, obscode=obscode, software="telescope-network")
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_safe(target.name)}_aavso.txt"'
    return response
