"""Differential photometry of a target against an ensemble of comparison stars in the same frame.

Two cases, labelled in the result:

* **calibrated** — the comparison stars have catalogue magnitudes in the frame's filter. Each gives a zero point
  zp_i = m_cat,i - m_inst,i; the frame's zero point is their inverse-variance weighted mean after iterative 3-sigma
  clipping (a variable or blended comparison star is dropped), and the target's magnitude is m_inst + zp.
  When the clipped stars still scatter more than their errors allow (chi^2 above its 95% point: catalogue errors,
  colour terms), the zero-point error is scaled up by sqrt(reduced chi^2) so the reported error stays honest.
* **differential** — no catalogue magnitudes: the ensemble is the summed flux of the comparison stars, and the
  result is m_target - m_ensemble (zero_point = -m_ensemble). Comparable between frames only when the same
  stars are used, so callers should keep the chosen ensemble (names/positions are returned) and pass it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from pipeline.photometry.noise import MAG_PER_LN

CLIP_SIGMA = 3.0
MIN_ZERO_POINT_ERROR_FLOOR = 0.0


@dataclass
class StarMeasurement:
    name: str
    x: float
    y: float
    flux_adu: float
    flux_err_adu: float
    inst_mag: float  # -2.5 log10(flux / exposure_sec)
    inst_mag_err: float
    peak_adu: float = float("nan")
    catalog_mag: float | None = None
    catalog_mag_err: float = 0.0
    ra_deg: float | None = None
    dec_deg: float | None = None

    @property
    def snr(self) -> float:
        return float(self.flux_adu / self.flux_err_adu) if self.flux_err_adu > 0 else 0.0


@dataclass
class DifferentialResult:
    magnitude: float
    error: float
    calibrated: bool
    instrumental_mag: float
    instrumental_mag_err: float
    zero_point: float
    zero_point_err: float
    comparison_stars: list[str]
    rejected_comparison_stars: list[str] = field(default_factory=list)
    snr: float = 0.0


class NoComparisonStars(ValueError):
    """Raised when no usable comparison star is left: there is nothing to difference against."""


def _clipped_weighted_zero_point(zp: np.ndarray, err: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """(kept mask, weighted mean, its error, reduced chi^2) with iterative sigma clipping."""
    keep = np.isfinite(zp) & np.isfinite(err) & (err > 0)
    mean = float("nan")
    for _ in range(5):
        w = 1.0 / err[keep] ** 2
        mean = float(np.sum(w * zp[keep]) / np.sum(w))
        resid = (zp - mean) / err
        # Clip against the larger of the formal error and the robust scatter, so one wild star cannot hide.
        mad = 1.4826 * np.median(np.abs(resid[keep])) if keep.sum() >= 3 else 1.0
        limit = CLIP_SIGMA * max(1.0, mad)
        new_keep = keep & (np.abs(resid) <= limit)
        if new_keep.sum() == 0 or (new_keep == keep).all():
            break
        keep = new_keep
    w = 1.0 / err[keep] ** 2
    mean = float(np.sum(w * zp[keep]) / np.sum(w))
    mean_err = float(1.0 / np.sqrt(np.sum(w)))
    n = int(keep.sum())
    chi2 = float(np.sum(w * (zp[keep] - mean) ** 2))
    red = chi2 / (n - 1) if n > 1 else 1.0
    if n > 2 and chi2 > stats.chi2.ppf(0.95, n - 1):
        mean_err *= np.sqrt(red)
    return keep, mean, mean_err, red


def differential_magnitude(
    target: StarMeasurement, comparisons: list[StarMeasurement], *, scintillation_frac: float = 0.0
) -> DifferentialResult:
    """Target magnitude against the ensemble; calibrated when every usable comparison has a catalogue magnitude.

    scintillation_frac is the relative flux RMS per star (stars further apart than the isoplanatic patch scintillate
    independently, which is the case for the arcminute separations of comparison stars).
    """
    if not (target.flux_adu > 0 and np.isfinite(target.inst_mag)):
        raise ValueError("target has no positive flux")
    usable = [c for c in comparisons if c.flux_adu > 0 and np.isfinite(c.inst_mag) and np.isfinite(c.inst_mag_err)]
    if not usable:
        raise NoComparisonStars("no comparison star with a measurable flux")
    t_err = float(np.hypot(target.inst_mag_err, MAG_PER_LN * scintillation_frac))
    with_cat = [c for c in usable if c.catalog_mag is not None and np.isfinite(c.catalog_mag)]
    if with_cat:
        inst = np.array([c.inst_mag for c in with_cat])
        err = np.hypot(np.array([c.inst_mag_err for c in with_cat]), MAG_PER_LN * scintillation_frac)
        err = np.hypot(err, np.array([c.catalog_mag_err or 0.0 for c in with_cat]))
        zp_i = np.array([c.catalog_mag for c in with_cat]) - inst
        keep, zp, zp_err, _ = _clipped_weighted_zero_point(zp_i, err)
        used = [c.name for c, k in zip(with_cat, keep, strict=True) if k]
        rejected = [c.name for c, k in zip(with_cat, keep, strict=True) if not k]
        rejected += [c.name for c in comparisons if c not in with_cat]
        return DifferentialResult(
            magnitude=target.inst_mag + zp,
            error=float(np.hypot(t_err, zp_err)),
            calibrated=True,
            instrumental_mag=target.inst_mag,
            instrumental_mag_err=target.inst_mag_err,
            zero_point=zp,
            zero_point_err=zp_err,
            comparison_stars=used,
            rejected_comparison_stars=rejected,
            snr=target.snr,
        )
    flux = np.array([c.flux_adu for c in usable])
    flux_var = np.array([c.flux_err_adu for c in usable]) ** 2 + (scintillation_frac * flux) ** 2
    total = float(flux.sum())
    # Same normalisation as inst_mag (per second): recover exposure from one star's flux and magnitude.
    c0 = usable[0]
    exposure_sec = c0.flux_adu / 10 ** (-0.4 * c0.inst_mag)
    m_ens = -2.5 * np.log10(total / exposure_sec)
    zp_err = float(MAG_PER_LN * np.sqrt(flux_var.sum()) / total)
    return DifferentialResult(
        magnitude=target.inst_mag - m_ens,
        error=float(np.hypot(t_err, zp_err)),
        calibrated=False,
        instrumental_mag=target.inst_mag,
        instrumental_mag_err=target.inst_mag_err,
        zero_point=float(-m_ens),
        zero_point_err=zp_err,
        comparison_stars=[c.name for c in usable],
        rejected_comparison_stars=[c.name for c in comparisons if c not in usable],
        snr=target.snr,
    )


AUTO_ENSEMBLE_MAX_STARS = 12
AUTO_ENSEMBLE_MAX_PEAK_FRACTION = 0.7  # of the saturation level: stay in the linear range of the detector
AUTO_ENSEMBLE_ISOLATION_RADII = 3.0  # no other detection within this many aperture radii


def select_comparison_stars(
    sources: np.ndarray,
    *,
    background_level: np.ndarray | float,
    saturation_adu: float | None,
    shape: tuple[int, int],
    aperture_radius_pix: float,
    target_xy: tuple[float, float] | None,
    max_stars: int = AUTO_ENSEMBLE_MAX_STARS,
) -> np.ndarray:
    """Indices into `sources` of an automatic comparison ensemble, best first.

    Rules: clean sep extraction (flag 0: not blended, not truncated), peak below 70% of saturation, no other
    detection within 3 aperture radii, at least 2 aperture radii + 2 px from the frame edge and from the target,
    round (a/b within 30% of the frame median, which drops galaxies and blends); then the brightest `max_stars`,
    which minimise the ensemble's noise.
    """
    if len(sources) == 0:
        return np.array([], dtype=int)
    ny, nx = shape
    x, y = sources["x"], sources["y"]
    ok = sources["flag"] == 0
    if saturation_adu is not None:
        bkg = (
            background_level
            if np.isscalar(background_level)
            else np.asarray(background_level)[
                np.clip(np.round(y).astype(int), 0, ny - 1), np.clip(np.round(x).astype(int), 0, nx - 1)
            ]
        )
        ok &= sources["peak"] + bkg < AUTO_ENSEMBLE_MAX_PEAK_FRACTION * saturation_adu
    margin = 2 * aperture_radius_pix + 2
    ok &= (x > margin) & (x < nx - 1 - margin) & (y > margin) & (y < ny - 1 - margin)
    from pipeline.photometry.extract import isolation_distance_pix

    ok &= isolation_distance_pix(x, y, x, y) > AUTO_ENSEMBLE_ISOLATION_RADII * aperture_radius_pix
    if target_xy is not None:
        ok &= np.hypot(x - target_xy[0], y - target_xy[1]) > margin
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = sources["a"] / sources["b"]
    if ok.sum() >= 3:
        ok &= ratio < 1.3 * np.median(ratio[ok])
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(sources["flux"][idx])[::-1]]
    return order[:max_stars]
