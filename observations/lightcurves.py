"""A target's light curve from the database: rows → plain dicts → pipeline.lightcurve (merge, site offsets, writers).

Pipeline results are preferred over client values; BJD_TDB comes from the pipeline, or is computed here for
client-only points (vectorised, with each site's location).
"""

import io
import zipfile

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time
from django.http import HttpResponse

from pipeline import lightcurve as lc

FORMATS = ("json", "csv", "aavso", "votable", "fits")


def _bjd_tdb(rows) -> list[float | None]:
    """BJD_TDB of mid-exposure for rows without one: barycentric light-travel time towards the target, per site."""
    out = [r.bjd_tdb for r in rows]
    need = [i for i, r in enumerate(rows) if r.bjd_tdb is None]
    if not need:
        return out
    location = EarthLocation.from_geodetic(
        lon=[rows[i].site.longitude for i in need] * u.deg,
        lat=[rows[i].site.latitude for i in need] * u.deg,
        height=[rows[i].site.elevation_m for i in need] * u.m,
    )
    times = Time([rows[i].observed_at for i in need], scale="utc", location=location)
    target = rows[0].target
    coord = SkyCoord(target.ra_deg * u.deg, target.dec_deg * u.deg, frame="icrs")
    bjd = (times.tdb + times.light_travel_time(coord, kind="barycentric")).jd
    for i, value in zip(need, np.atleast_1d(bjd), strict=True):
        out[i] = float(value)
    return out


def _as_plain(obs, bjd: float | None) -> dict:
    result = obs.pipeline_result or {}
    return {
        "observation_id": str(obs.pk),
        "site_id": str(obs.site_id),
        "observed_at": obs.observed_at,
        "bjd_tdb": bjd,
        "filter": obs.filter,
        "airmass": obs.airmass,
        "photometry": obs.photometry,
        "quality_flags": obs.quality_flags,
        "pipeline": {
            "state": obs.pipeline_state if obs.image else "pending",
            "photometry": result.get("photometry"),
            "quality_flags": result.get("quality_flags", []),
            "metadata": result.get("metadata", {}),
        },
    }


def lightcurve(queryset, *, align_sites: bool = True) -> tuple[list[lc.LightCurvePoint], list[dict]]:
    """The merged points (time order) and, when `align_sites`, the per-site offsets that were applied."""
    rows = list(queryset.select_related("site", "target").order_by("observed_at"))
    if not rows:
        return [], []
    bjds = _bjd_tdb(rows)
    points = lc.merge_points(_as_plain(obs, bjd) for obs, bjd in zip(rows, bjds, strict=True))
    offsets: list[dict] = []
    if align_sites:
        solved = lc.solve_site_offsets(points)
        points = lc.apply_site_offsets(points, solved)
        offsets = [
            {"site_id": o.site_id, "filter": o.filter, "offset_mag": round(o.offset_mag, 5),
             "error_mag": o.error_mag, "method": o.method, "n_points": o.n_points}
            for o in solved.values()
        ]  # fmt: skip
    return points, offsets


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def export(target, points, *, fmt: str, obscode: str = "NONE") -> tuple[bytes, str, str]:
    """The light curve in a download format: (body, content type, file name)."""
    stem = _safe(target.name)
    if fmt == "csv":
        return lc.to_csv(points).encode(), "text/csv; charset=utf-8", f"{stem}_lightcurve.csv"
    if fmt == "aavso":
        text = lc.to_aavso_extended(points, star_name=target.name.replace(",", " "), obscode=obscode)
        return text.encode(), "text/plain; charset=utf-8", f"{stem}_aavso.txt"
    if fmt == "votable":
        return lc.to_votable_bytes(points, target_name=target.name), "application/x-votable+xml", f"{stem}.vot"
    if fmt == "fits":
        return lc.to_fits_bytes(points, target_name=target.name), "application/fits", f"{stem}_lightcurve.fits"
    raise ValueError(f"unknown format {fmt}")


def download(target, points, *, fmt: str, obscode: str = "NONE") -> HttpResponse:
    body, content_type, filename = export(target, points, fmt=fmt, obscode=obscode)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def campaign_archive(campaign, targets_with_points) -> HttpResponse:
    """One zip with every target's light curve (CSV and AAVSO) and a README."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        lines = [f"Campaign: {campaign.name} ({campaign.kind})", "", "target,points,file"]
        for target, points in targets_with_points:
            for fmt in ("csv", "aavso"):
                body, _, filename = export(target, points, fmt=fmt)
                archive.writestr(filename, body)
            lines.append(f"{target.name},{len(points)},{_safe(target.name)}_lightcurve.csv")
        archive.writestr("README.txt", "\n".join(lines) + "\n")
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{_safe(campaign.name)}_lightcurves.zip"'
    return response
