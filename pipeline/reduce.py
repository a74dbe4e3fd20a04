"""One frame in, one result out: the science of a pipeline run, with no database and no files written.

    result = reduce_frame(fits_bytes, target_ra_deg=..., target_dec_deg=..., comparison_stars=[...], site=...)
    observation.pipeline = result.to_pipeline_block()

Steps: read the FITS -> header metadata (mid-exposure UTC, BJD_TDB) -> calibrate with the closest masters ->
background, detections, seeing -> WCS (header / solve-field / none) -> the target's position, re-centred on its
star -> aperture photometry (radius 1.5 FWHM) of target and comparison stars -> differential magnitude (calibrated
with catalogue magnitudes, else against an automatic ensemble) -> astrometry of the target -> quality flags.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS

from pipeline import astrometry, quality
from pipeline.calibration import CalibrationError, MasterFrame, apply_calibration, choose_masters
from pipeline.frames import FrameMetadata, SiteLocation, celestial_wcs, frame_metadata, read_frame
from pipeline.photometry import (
    APERTURE_RADIUS_PER_FWHM,
    NoComparisonStars,
    StarMeasurement,
    aperture_sums,
    detect_sources,
    differential_magnitude,
    estimate_background,
    measure_seeing,
    refine_centroids,
    scintillation_fraction,
    select_comparison_stars,
)
from pipeline.photometry.differential import AUTO_ENSEMBLE_MAX_STARS
from pipeline.photometry.noise import MAG_PER_LN

DEFAULT_GAIN_E_PER_ADU = 1.0  # used (and reported) only when the header has no GAIN
TARGET_MATCH_RADIUS_FWHM = 2.0  # a detection this close to the predicted position is the target
AUTO_ENSEMBLE_MIN_SNR = 20.0  # automatic comparison stars fainter than this add more noise than they remove


@dataclass
class ReductionResult:
    photometry: dict[str, Any] | None
    astrometry: dict[str, Any] | None
    quality_flags: list[str]
    metadata: dict[str, Any]
    error: str | None = None  # why there is no photometry (the frame itself was readable)
    comparison_ensemble: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, float]] | None = None  # every detection's photometry when measure_all=True
    timings_sec: dict[str, float] = field(default_factory=dict)
    preview_png: bytes | None = None
    thumbnail_png: bytes | None = None

    def to_pipeline_block(self) -> dict[str, Any]:
        """The fields of the API's observation `pipeline` block that the science fills in."""
        return {
            "error": self.error,
            "photometry": self.photometry,
            "astrometry": self.astrometry,
            "quality_flags": list(self.quality_flags),
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything JSON-serialisable (no PNG bytes)."""
        d = asdict(self)
        d.pop("preview_png")
        d.pop("thumbnail_png")
        return _json_safe(d)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _site(site: SiteLocation | dict | None) -> SiteLocation | None:
    if site is None or isinstance(site, SiteLocation):
        return site
    return SiteLocation(
        float(site["latitude"] if "latitude" in site else site["latitude_deg"]),
        float(site["longitude"] if "longitude" in site else site["longitude_deg"]),
        float(site.get("elevation_m") or 0.0),
    )


def _catalog_mag(star: dict[str, Any], filter_name: str | None) -> tuple[float | None, float]:
    mags = star.get("magnitudes") or {}
    errs = star.get("magnitude_errors") or {}
    if filter_name is None:
        return None, 0.0
    for k, v in mags.items():
        if str(k).strip().lower() == filter_name.strip().lower() and v is not None:
            err = next((float(e) for ek, e in errs.items() if str(ek).lower() == str(k).lower()), 0.0)
            return float(v), err
    return None, 0.0


def _star_name(ra: float | None, dec: float | None, x: float, y: float) -> str:
    if ra is None or dec is None:
        return f"xy:{x:.1f},{y:.1f}"
    return f"J{ra:09.5f}{dec:+09.5f}"


def reduce_frame(
    frame: bytes | str | os.PathLike | IO[bytes],
    *,
    target_ra_deg: float | None = None,
    target_dec_deg: float | None = None,
    comparison_stars: list[dict[str, Any]] | None = None,
    site: SiteLocation | dict | None = None,
    masters: list[MasterFrame] | None = None,
    aperture_mm: float | None = None,
    reference_zero_point: float | None = None,
    target_xy: tuple[float, float] | None = None,
    allow_solve: bool = True,
    solve_timeout_sec: float = astrometry.SOLVE_TIMEOUT_SEC,
    make_previews: bool = False,
    measure_all: bool = False,
) -> ReductionResult:
    """Reduce one FITS frame (bytes, path or binary stream; plain or gzip). Raises frames.FrameError if the input is
    not a readable FITS image; every later problem is reported in the result (error, quality_flags)."""
    t0 = time.perf_counter()
    data, header = read_frame(frame)
    t_read = time.perf_counter() - t0
    result = reduce_array(
        data,
        header,
        target_ra_deg=target_ra_deg,
        target_dec_deg=target_dec_deg,
        comparison_stars=comparison_stars,
        site=site,
        masters=masters,
        aperture_mm=aperture_mm,
        reference_zero_point=reference_zero_point,
        target_xy=target_xy,
        allow_solve=allow_solve,
        solve_timeout_sec=solve_timeout_sec,
        make_previews=make_previews,
        measure_all=measure_all,
    )
    result.timings_sec = {"read": t_read, **result.timings_sec}
    return result


def reduce_array(
    data: np.ndarray,
    header: fits.Header,
    *,
    target_ra_deg: float | None = None,
    target_dec_deg: float | None = None,
    comparison_stars: list[dict[str, Any]] | None = None,
    site: SiteLocation | dict | None = None,
    masters: list[MasterFrame] | None = None,
    aperture_mm: float | None = None,
    reference_zero_point: float | None = None,
    target_xy: tuple[float, float] | None = None,
    allow_solve: bool = True,
    solve_timeout_sec: float = astrometry.SOLVE_TIMEOUT_SEC,
    make_previews: bool = False,
    measure_all: bool = False,
    metadata: FrameMetadata | None = None,
) -> ReductionResult:
    """reduce_frame on pixels already in memory (the benchmark's entry point)."""
    timings: dict[str, float] = {}
    tick = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        timings[name] = now - tick
        tick = now

    site_loc = _site(site)
    meta = metadata or frame_metadata(header, site=site_loc, target_ra_deg=target_ra_deg, target_dec_deg=target_dec_deg)
    exposure = meta.exposure_sec or 1.0
    lap("metadata")

    raw = np.asarray(data, dtype=np.float32)
    calibration_failed = False
    calib_used: dict[str, Any] = {"bias": None, "dark": None, "flat": None, "notes": []}
    image = raw
    if masters:
        choice = choose_masters(
            masters,
            shape=raw.shape,
            binning=meta.binning,
            filter_name=meta.filter,
            temperature_c=meta.ccd_temp_c,
            exposure_sec=meta.exposure_sec,
        )
        calib_used = {**choice.used(), "notes": choice.notes}
        try:
            image = apply_calibration(raw, choice, exposure_sec=meta.exposure_sec)
        except CalibrationError as exc:
            calibration_failed = True
            calib_used["notes"].append(str(exc))
            image = raw
        # A kind of master that was supplied but matched nothing (e.g. flats, none in this filter) is a failure
        # too: the frame is only partly calibrated.
        unmatched = {m.kind for m in masters} - {k for k, v in choice.used().items() if v}
        if unmatched:
            calibration_failed = True
            calib_used["notes"].append(f"no matching master for: {', '.join(sorted(unmatched))}")
    lap("calibrate")

    bkg = estimate_background(image)
    # Subtract in place when `image` is already our own calibrated copy (saves a 16 MB allocation per frame).
    data_sub = image if image is not raw else image.copy()
    data_sub -= bkg.level
    sources = detect_sources(data_sub, bkg.global_rms)
    seeing = measure_seeing(data_sub, sources, saturation_adu=meta.saturation_adu, background_level=bkg.global_level)
    radius = max(APERTURE_RADIUS_PER_FWHM * seeing.fwhm_pix, 2.0)
    lap("detect")

    # The header's pointing (if any) is what a header WCS must agree with; the plate-solve hint is that pointing,
    # else the target the telescope was sent to. The target never vetoes a WCS: it may really be off the frame.
    header_pointing = None
    if meta.pointing_ra_deg is not None and meta.pointing_dec_deg is not None:
        header_pointing = SkyCoord(meta.pointing_ra_deg * u.deg, meta.pointing_dec_deg * u.deg)
    solve_hint = header_pointing
    if solve_hint is None and target_ra_deg is not None and target_dec_deg is not None:
        solve_hint = SkyCoord(target_ra_deg * u.deg, target_dec_deg * u.deg)
    wcs_choice = astrometry.choose_wcs(
        celestial_wcs(header),
        raw.shape,
        detections=sources,
        pointing=header_pointing,
        solve_hint=solve_hint,
        scale_arcsec=meta.pixel_scale_arcsec,
        allow_solve=allow_solve,
        timeout_sec=solve_timeout_sec,
    )
    wcs: WCS | None = wcs_choice.wcs
    scale = meta.pixel_scale_arcsec
    if wcs is not None:
        from astropy.wcs.utils import proj_plane_pixel_scales

        scale = float(np.sqrt(np.prod(proj_plane_pixel_scales(wcs))) * 3600.0)
    lap("astrometry")

    ny, nx = raw.shape
    gain = meta.gain_e_per_adu or DEFAULT_GAIN_E_PER_ADU
    airmass = meta.airmass
    if airmass is None and site_loc is not None and meta.observed_at is not None and target_ra_deg is not None:
        airmass = _airmass(site_loc, meta, target_ra_deg, target_dec_deg)
    scint = scintillation_fraction(
        aperture_mm=aperture_mm,
        airmass=airmass,
        exposure_sec=meta.exposure_sec,
        altitude_m=site_loc.elevation_m if site_loc else None,
    )

    md: dict[str, Any] = meta.to_dict()
    md.update(
        calibration=calib_used,
        wcs_reason=wcs_choice.reason,
        gain_source="header" if meta.gain_e_per_adu else "assumed 1.0 e-/ADU (no GAIN keyword)",
        aperture_radius_pix=radius,
        fwhm_pix=seeing.fwhm_pix,
        elongation=seeing.elongation,
        n_sources=len(sources),
        background_adu=bkg.global_level,
        background_rms_adu=bkg.global_rms,
        scintillation_frac=scint,
        airmass_used=airmass,
        pixel_scale_arcsec=scale,
    )

    # --- where is the target?
    predicted: tuple[float, float] | None = None
    if wcs is not None and target_ra_deg is not None and target_dec_deg is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            px, py = wcs.world_to_pixel(SkyCoord(target_ra_deg * u.deg, target_dec_deg * u.deg))
        predicted = (float(px), float(py))
        md["target_position_source"] = "wcs"
    elif target_xy is not None:
        predicted = (float(target_xy[0]), float(target_xy[1]))
        md["target_position_source"] = "given pixel position"
    else:
        predicted = ((nx - 1) / 2.0, (ny - 1) / 2.0)
        md["target_position_source"] = "frame centre (no WCS: the telescope is assumed to point at the target)"

    q = quality.QualityInputs(
        shape=(ny, nx),
        target_xy=predicted,
        aperture_radius_pix=radius,
        saturation_adu=meta.saturation_adu,
        fwhm_pix=seeing.fwhm_pix,
        pixel_scale_arcsec=scale,
        elongation=seeing.elongation if seeing.n_stars else None,
        airmass=airmass,
        reference_zero_point=reference_zero_point,
        calibration_failed=calibration_failed,
        has_wcs=wcs is not None,
    )

    def finish(
        photometry: dict | None, astrom: dict | None, error: str | None, ensemble: list[dict] | None = None
    ) -> ReductionResult:
        all_sources = None
        if measure_all and len(sources):
            sums = aperture_sums(
                data_sub, bkg, sources["x"], sources["y"], radius, gain_e_per_adu=gain, raw_for_peak=raw
            )
            mag, mag_err = sums.inst_mag(exposure)
            all_sources = [
                {
                    "x": float(a),
                    "y": float(b),
                    "flux_adu": float(f),
                    "flux_err_adu": float(e),
                    "inst_mag": float(m),
                    "inst_mag_err": float(me),
                }
                for a, b, f, e, m, me in zip(
                    sums.x, sums.y, sums.flux_adu, sums.flux_err_adu, mag, mag_err, strict=True
                )
            ]
            lap("measure_all")
        pre = thumb = None
        if make_previews:
            from pipeline.preview import render_previews

            pre, thumb = render_previews(data_sub)
            lap("preview")
        return ReductionResult(
            photometry=photometry,
            astrometry=astrom,
            quality_flags=quality.quality_flags(q),
            metadata=md,
            error=error,
            comparison_ensemble=ensemble or [],
            sources=all_sources,
            timings_sec=timings,
            preview_png=pre,
            thumbnail_png=thumb,
        )

    if not (-0.5 <= predicted[0] < nx - 0.5 and -0.5 <= predicted[1] < ny - 0.5):
        return finish(None, None, "the target is outside the frame")

    # Re-centre on the nearest detection (the WCS or pointing is good to a few pixels, the star to a tenth).
    tx, ty = predicted
    matched = False
    if len(sources):
        d = np.hypot(sources["x"] - tx, sources["y"] - ty)
        j = int(np.argmin(d))
        if d[j] <= max(TARGET_MATCH_RADIUS_FWHM * seeing.fwhm_pix, 3.0):
            xw, yw, fl = refine_centroids(data_sub, sources["x"][j : j + 1], sources["y"][j : j + 1], seeing.fwhm_pix)
            tx, ty = (
                (float(xw[0]), float(yw[0]))
                if fl[0] == 0 and np.hypot(xw[0] - sources["x"][j], yw[0] - sources["y"][j]) < radius
                else (float(sources["x"][j]), float(sources["y"][j]))
            )
            matched = True
    md["target_detected"] = matched
    q.target_xy = (tx, ty)

    # --- comparison stars: the target's listed ones (need a WCS), else an automatic ensemble
    comps_xy: list[tuple[str, float, float, float | None, float, float | None, float | None]] = []
    ensemble_kind = "auto"
    rejected: list[str] = []
    if comparison_stars and wcs is not None:
        for star in comparison_stars:
            cmag, cerr = _catalog_mag(star, meta.filter)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AstropyWarning)
                cx, cy = wcs.world_to_pixel(SkyCoord(float(star["ra_deg"]) * u.deg, float(star["dec_deg"]) * u.deg))
            cx, cy = float(cx), float(cy)
            margin = 2 * radius
            if not (margin <= cx <= nx - 1 - margin and margin <= cy <= ny - 1 - margin):
                rejected.append(str(star.get("name")))
                continue
            if np.hypot(cx - tx, cy - ty) < margin:  # the target itself, or blended with it
                rejected.append(str(star.get("name")))
                continue
            if len(sources):
                d = np.hypot(sources["x"] - cx, sources["y"] - cy)
                j = int(np.argmin(d))
                if d[j] <= max(TARGET_MATCH_RADIUS_FWHM * seeing.fwhm_pix, 3.0):
                    cx, cy = float(sources["x"][j]), float(sources["y"][j])
            comps_xy.append(
                (
                    str(star.get("name") or _star_name(star["ra_deg"], star["dec_deg"], cx, cy)),
                    cx,
                    cy,
                    cmag,
                    cerr,
                    float(star["ra_deg"]),
                    float(star["dec_deg"]),
                )
            )
        ensemble_kind = "listed"
    elif comparison_stars:
        md["comparison_note"] = "listed comparison stars need a WCS; an automatic ensemble was used"

    def measure(stars: list[tuple]) -> list[StarMeasurement]:
        if not stars:
            return []
        xs = np.array([s[1] for s in stars])
        ys = np.array([s[2] for s in stars])
        sums = aperture_sums(data_sub, bkg, xs, ys, radius, gain_e_per_adu=gain, raw_for_peak=raw)
        mag, mag_err = sums.inst_mag(exposure)
        out = []
        for i, s in enumerate(stars):
            out.append(
                StarMeasurement(
                    name=s[0],
                    x=float(xs[i]),
                    y=float(ys[i]),
                    flux_adu=float(sums.flux_adu[i]),
                    flux_err_adu=float(sums.flux_err_adu[i]),
                    inst_mag=float(mag[i]),
                    inst_mag_err=float(mag_err[i]),
                    peak_adu=float(sums.peak_adu[i]),
                    catalog_mag=s[3],
                    catalog_mag_err=s[4],
                    ra_deg=s[5],
                    dec_deg=s[6],
                )
            )
        return out

    comps = measure(comps_xy)
    sat = meta.saturation_adu
    if sat:
        too_bright = [c for c in comps if c.peak_adu >= quality.SATURATION_FRACTION * sat]
        rejected += [c.name for c in too_bright]
        comps = [c for c in comps if c not in too_bright]
    if not comps:
        if ensemble_kind == "listed":
            md["comparison_note"] = "no listed comparison star was usable; an automatic ensemble was used"
        ensemble_kind = "auto"
        idx = select_comparison_stars(
            sources,
            background_level=bkg.level,
            saturation_adu=sat,
            shape=(ny, nx),
            aperture_radius_pix=radius,
            target_xy=(tx, ty),
            max_stars=2 * AUTO_ENSEMBLE_MAX_STARS,
        )
        auto = []
        for j in idx:
            sx, sy = float(sources["x"][j]), float(sources["y"][j])
            ra = dec = None
            if wcs is not None:
                c = wcs.pixel_to_world(sx, sy)
                ra, dec = float(c.ra.deg), float(c.dec.deg)
            auto.append((_star_name(ra, dec, sx, sy), sx, sy, None, 0.0, ra, dec))
        # Keep the best by measured SNR: sep ranks by isophotal flux, which can favour large faint blobs.
        measured = sorted(measure(auto), key=lambda c: c.snr, reverse=True)
        good = [c for c in measured if c.snr >= AUTO_ENSEMBLE_MIN_SNR]
        comps = (good or measured[:1])[:AUTO_ENSEMBLE_MAX_STARS]
        if not good and measured:
            md["comparison_note"] = f"no comparison star with SNR >= {AUTO_ENSEMBLE_MIN_SNR:.0f}; the best one used"
    target = measure([("target", tx, ty, None, 0.0, None, None)])[0]
    q.target_peak_adu = target.peak_adu
    q.target_snr = target.snr
    md["ensemble"] = ensemble_kind
    ensemble = [
        {
            "name": c.name,
            "ra_deg": c.ra_deg,
            "dec_deg": c.dec_deg,
            "x": c.x,
            "y": c.y,
            "inst_mag": c.inst_mag,
            "inst_mag_err": c.inst_mag_err,
            "catalog_mag": c.catalog_mag,
        }
        for c in comps
    ]
    lap("photometry")

    astrom = None
    if wcs is not None:
        c = wcs.pixel_to_world(tx, ty)
        centroid_arcsec = astrometry.centroid_error_pix(seeing.fwhm_pix, max(target.snr, 1e-3)) * (scale or 1.0)
        wcs_err = None
        listed = [s for s in comps if s.ra_deg is not None and ensemble_kind == "listed"]
        if len(listed) >= 3:
            wcs_err = astrometry.wcs_residual_arcsec(
                wcs,
                np.array([s.x for s in listed]),
                np.array([s.y for s in listed]),
                np.array([s.ra_deg for s in listed]),
                np.array([s.dec_deg for s in listed]),
            )
        if wcs_err is None:
            wcs_err = astrometry.DEFAULT_WCS_ERROR_ARCSEC[wcs_choice.source or "header"]
        astrom = {
            "ra_deg": float(c.ra.deg),
            "dec_deg": float(c.dec.deg),
            # radial 1-sigma: both axes' centroid error plus the WCS's own error
            "error_arcsec": float(np.hypot(np.sqrt(2) * centroid_arcsec, wcs_err)),
            "wcs_source": wcs_choice.source,
        }

    if target.flux_adu <= 0 or not np.isfinite(target.inst_mag):
        # No magnitude for no light (an occultation at its bottom, a faded transient), but a relative flux with
        # its error is still a measurement, and the API carries it.
        q.target_snr = 0.0
        usable = [c for c in comps if c.flux_adu > 0]
        if not usable:
            return finish(None, astrom, "no positive flux at the target's position and no comparison star", ensemble)
        ens = float(sum(c.flux_adu for c in usable))
        ens_err = float(np.sqrt(sum(c.flux_err_adu**2 for c in usable)))
        rel = target.flux_adu / ens
        photometry = {
            "magnitude": None,
            "error": None,
            "calibrated": False,
            "instrumental_mag": None,
            "zero_point": None,
            "comparison_stars": [c.name for c in usable],
            "fwhm_arcsec": seeing.fwhm_pix * scale if scale else None,
            "snr": 0.0,
            "method": "relative_flux",
            "flux": float(rel),
            "flux_error": float(np.hypot(target.flux_err_adu / ens, rel * ens_err / ens)),
            "fwhm_pix": seeing.fwhm_pix,
            "aperture_radius_pix": radius,
            "x": tx,
            "y": ty,
        }
        return finish(photometry, astrom, None, ensemble)
    try:
        diff = differential_magnitude(target, comps, scintillation_frac=scint)
    except NoComparisonStars as exc:
        return finish(None, astrom, str(exc), ensemble)
    q.zero_point = diff.zero_point
    fwhm_arcsec = seeing.fwhm_pix * scale if scale else None
    photometry = {
        "magnitude": float(diff.magnitude),
        "error": float(diff.error),
        "calibrated": diff.calibrated,
        "instrumental_mag": diff.instrumental_mag,
        "zero_point": diff.zero_point,
        "comparison_stars": diff.comparison_stars,
        "fwhm_arcsec": fwhm_arcsec,
        "snr": diff.snr,
        "method": "aperture" if diff.calibrated else "differential",
        "instrumental_mag_err": diff.instrumental_mag_err,
        "zero_point_err": diff.zero_point_err,
        "rejected_comparison_stars": rejected + diff.rejected_comparison_stars,
        "fwhm_pix": seeing.fwhm_pix,
        "aperture_radius_pix": radius,
        "x": tx,
        "y": ty,
    }
    if not diff.calibrated:
        # Relative flux against the ensemble: what a transit or occultation light curve wants.
        photometry["flux"] = float(10 ** (-0.4 * diff.magnitude))
        photometry["flux_error"] = float(photometry["flux"] * diff.error / MAG_PER_LN)
    return finish(photometry, astrom, None, ensemble)


def _airmass(site: SiteLocation, meta: FrameMetadata, ra_deg: float, dec_deg: float | None) -> float | None:
    if dec_deg is None or meta.mjd_mid_utc is None:
        return None
    from astropy.coordinates import AltAz
    from astropy.time import Time

    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore")
        t = Time(meta.mjd_mid_utc, format="mjd", scale="utc")
        altaz = SkyCoord(ra_deg * u.deg, dec_deg * u.deg).transform_to(AltAz(obstime=t, location=site.earth_location()))
        alt = float(altaz.alt.deg)
        if alt <= 0:
            return None
        # Pickering (2002): good to the horizon, unlike sec(z).
        return float(1.0 / np.sin(np.radians(alt + 244.0 / (165.0 + 47.0 * alt**1.1))))
    return None
