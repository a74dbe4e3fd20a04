"""Astrometry: trust a sane header WCS, else plate-solve with astrometry.net's solve-field, else say there is none.

solve-field is given our own detections as an x,y list (brightest first) rather than the image, which skips its
source extraction, and hints (pointing RA/Dec, search radius, pixel-scale range) so a solve takes seconds.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

MIN_SCALE_ARCSEC = 0.05
MAX_SCALE_ARCSEC = 300.0
MAX_SKEW = 0.2  # |cos(angle between axes)|: a real detector's axes are (near) perpendicular
DEFAULT_WCS_ERROR_ARCSEC = {"header": 1.0, "solved": 0.5}  # when no reference stars measure it
SOLVE_TIMEOUT_SEC = 60.0
SOLVE_MAX_SOURCES = 300

WcsSource = Literal["header", "solved"]


@dataclass
class WcsChoice:
    wcs: WCS | None
    source: WcsSource | None
    reason: str  # why this WCS, or why none
    solve_seconds: float | None = None


def check_wcs(
    wcs: WCS | None,
    shape: tuple[int, int],
    *,
    pointing: SkyCoord | None = None,
    max_pointing_offset_deg: float | None = None,
) -> tuple[bool, str]:
    """(sane?, reason). Sane: celestial, invertible, pixel scale 0.05-300"/px, axes near-perpendicular, the frame
    centre maps to finite sky, and — with a pointing — the pointing lies within max offset (default: one frame
    diagonal) of the frame centre."""
    if wcs is None or not wcs.has_celestial:
        return False, "no celestial WCS in the header"
    try:
        m = wcs.pixel_scale_matrix
        det = float(np.linalg.det(m))
        scales = proj_plane_pixel_scales(wcs) * 3600.0
    except Exception as exc:
        return False, f"WCS unusable: {exc}"
    if not np.isfinite(det) or det == 0:
        return False, "WCS matrix is singular"
    scale = float(np.sqrt(np.prod(scales)))
    if not (MIN_SCALE_ARCSEC <= scale <= MAX_SCALE_ARCSEC):
        return False, f"WCS pixel scale {scale:.3g} arcsec/px is implausible"
    if float(np.max(scales) / np.min(scales)) > 1.2:
        return False, "WCS pixel scales differ by more than 20% between axes"
    cos_angle = abs(float(np.dot(m[:, 0], m[:, 1]) / (np.linalg.norm(m[:, 0]) * np.linalg.norm(m[:, 1]))))
    if cos_angle > MAX_SKEW:
        return False, "WCS axes are not perpendicular"
    ny, nx = shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        try:
            centre = wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
            back = wcs.world_to_pixel(centre)
        except Exception as exc:
            return False, f"WCS does not transform: {exc}"
    if not (np.isfinite(centre.ra.deg) and np.isfinite(centre.dec.deg)):
        return False, "WCS maps the frame centre to no sky position"
    if abs(float(back[0]) - (nx - 1) / 2) > 0.1 or abs(float(back[1]) - (ny - 1) / 2) > 0.1:
        return False, "WCS does not invert"
    if pointing is not None:
        limit = max_pointing_offset_deg if max_pointing_offset_deg is not None else np.hypot(nx, ny) * scale / 3600
        sep = float(centre.separation(pointing).deg)
        if sep > limit:
            return False, f"WCS centre is {sep:.2f} deg from the telescope pointing"
    return True, f"header WCS, {scale:.3f} arcsec/px"


def solve_field_available() -> str | None:
    return shutil.which("solve-field")


def solve_field(
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    shape: tuple[int, int],
    *,
    ra_deg: float | None = None,
    dec_deg: float | None = None,
    radius_deg: float = 2.0,
    scale_arcsec: float | None = None,
    scale_tolerance: float = 0.2,
    timeout_sec: float = SOLVE_TIMEOUT_SEC,
    workdir: str | Path | None = None,
) -> WCS | None:
    """Plate-solve a list of detections (0-based pixel positions) with astrometry.net; None when it cannot.

    Raises FileNotFoundError when solve-field is not installed.
    """
    exe = solve_field_available()
    if exe is None:
        raise FileNotFoundError("solve-field (astrometry.net) is not on PATH")
    order = np.argsort(np.asarray(flux))[::-1][:SOLVE_MAX_SOURCES]
    ny, nx = shape
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        xy_path = Path(tmp) / "xy.fits"
        cols = [
            # astrometry.net x,y lists follow the FITS convention: the first pixel's centre is (1, 1).
            fits.Column(name="X", format="D", array=np.asarray(x, float)[order] + 1.0),
            fits.Column(name="Y", format="D", array=np.asarray(y, float)[order] + 1.0),
            fits.Column(name="FLUX", format="D", array=np.asarray(flux, float)[order]),
        ]
        fits.BinTableHDU.from_columns(cols).writeto(xy_path)
        cmd = [
            exe,
            str(xy_path),
            "--width",
            str(nx),
            "--height",
            str(ny),
            "--x-column",
            "X",
            "--y-column",
            "Y",
            "--sort-column",
            "FLUX",
            "--no-plots",
            "--overwrite",
            "--dir",
            tmp,
            "--cpulimit",
            str(int(timeout_sec)),
            "--new-fits",
            "none",
            "--corr",
            "none",
            "--rdls",
            "none",
            "--match",
            "none",
            "--index-xyls",
            "none",
            "--solved",
            "solved",
            "--wcs",
            "out.wcs",
            "--crpix-center",
        ]
        if scale_arcsec:
            cmd += [
                "--scale-units",
                "arcsecperpix",
                "--scale-low",
                f"{scale_arcsec * (1 - scale_tolerance):.4f}",
                "--scale-high",
                f"{scale_arcsec * (1 + scale_tolerance):.4f}",
            ]
        if ra_deg is not None and dec_deg is not None:
            cmd += ["--ra", f"{ra_deg:.6f}", "--dec", f"{dec_deg:.6f}", "--radius", f"{radius_deg:.3f}"]
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(cmd, cwd=tmp, capture_output=True, timeout=timeout_sec + 10, check=False)
        wcs_path = Path(tmp) / "out.wcs"
        if not wcs_path.exists():
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            header = fits.getheader(wcs_path)
            # Keep the SIP distortion astrometry.net fits; the WCS is converted to 0-based use by astropy itself.
            return WCS(header, relax=True)


def choose_wcs(
    header_wcs: WCS | None,
    shape: tuple[int, int],
    *,
    detections: np.ndarray | None = None,
    pointing: SkyCoord | None = None,
    solve_hint: SkyCoord | None = None,
    scale_arcsec: float | None = None,
    allow_solve: bool = True,
    timeout_sec: float = SOLVE_TIMEOUT_SEC,
) -> WcsChoice:
    """Header WCS when sane (and within a frame diagonal of `pointing`, the telescope's own pointing); else
    solve-field on the detections (x, y, flux) near `solve_hint` (default: pointing); else no WCS."""
    hint = solve_hint if solve_hint is not None else pointing
    ok, reason = check_wcs(header_wcs, shape, pointing=pointing)
    if ok:
        return WcsChoice(header_wcs, "header", reason)
    if not allow_solve:
        return WcsChoice(None, None, f"{reason}; plate solving disabled")
    if solve_field_available() is None:
        return WcsChoice(None, None, f"{reason}; solve-field (astrometry.net) not installed")
    if detections is None or len(detections) < 8:
        return WcsChoice(None, None, f"{reason}; too few stars to plate-solve")
    t0 = time.perf_counter()
    solved = solve_field(
        detections["x"],
        detections["y"],
        detections["flux"],
        shape,
        ra_deg=None if hint is None else float(hint.ra.deg),
        dec_deg=None if hint is None else float(hint.dec.deg),
        scale_arcsec=scale_arcsec,
        timeout_sec=timeout_sec,
    )
    dt = time.perf_counter() - t0
    if solved is None:
        return WcsChoice(None, None, f"{reason}; solve-field found no solution in {dt:.1f} s", dt)
    return WcsChoice(solved, "solved", f"solved by astrometry.net in {dt:.1f} s", dt)


def centroid_error_pix(fwhm_pix: float, snr: float) -> float:
    """1-sigma error of a centroid along one axis: sigma_psf / SNR (King 1983; Gaussian PSF, background-limited
    cases are within a factor ~1.5)."""
    if snr <= 0:
        return float("inf")
    return float(fwhm_pix / 2.3548 / snr)


def wcs_residual_arcsec(
    wcs: WCS, x: np.ndarray, y: np.ndarray, ra_deg: np.ndarray, dec_deg: np.ndarray
) -> float | None:
    """RMS (per axis) of reference-star positions measured through the WCS against their catalogue positions."""
    if len(x) < 2:
        return None
    measured = wcs.pixel_to_world(np.asarray(x), np.asarray(y))
    ref = SkyCoord(np.asarray(ra_deg) * u.deg, np.asarray(dec_deg) * u.deg)
    sep = measured.separation(ref).arcsec
    return float(np.sqrt(np.mean(sep**2) / 2.0))
