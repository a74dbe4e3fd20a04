"""The CCD noise equation and atmospheric scintillation.

Merline & Howell (1995) / Howell, *Handbook of CCD Astronomy*: in electrons,

    sigma^2 = N_star + n_pix * (1 + n_pix / n_bkg) * (N_sky + N_dark + N_read^2)

where the (1 + n_pix/n_bkg) factor carries the error of the background level estimated from n_bkg pixels.
When the background's pixel-to-pixel variance is *measured* (the background RMS of the frame), that number already
holds sky + dark + read noise + any extra (bias structure, flat residuals), so it is used in place of the modelled
sum; the model is the fallback when no measurement exists.

Scintillation (Young 1967), relative flux RMS:

    sigma_scint = C * 0.09 * D_cm^(-2/3) * X^1.75 * exp(-h / 8000 m) / sqrt(2 t)

Osborn et al. (2015, MNRAS 452, 1707) found Young's formula underestimates the median scintillation at most sites by
about 1.5, so C = 1.5 by default.
"""

from __future__ import annotations

import numpy as np

MAG_PER_LN = 2.5 / np.log(10.0)  # 1.0857: d(mag) = 1.0857 * d(flux)/flux


def pixel_variance_e(sky_e_per_pix: float, dark_e_per_pix: float = 0.0, read_noise_e: float = 0.0) -> float:
    """Modelled background variance of one pixel in electrons^2 (Poisson sky + Poisson dark + read noise^2)."""
    return float(max(sky_e_per_pix, 0.0) + max(dark_e_per_pix, 0.0) + read_noise_e**2)


def ccd_flux_variance_e(
    source_e: np.ndarray | float,
    n_pix: np.ndarray | float,
    pixel_var_e: np.ndarray | float,
    n_bkg_pix: float | np.ndarray = np.inf,
) -> np.ndarray:
    """Variance (e^2) of an aperture flux by the CCD equation; negative sources add no Poisson term."""
    source_e = np.asarray(source_e, float)
    n_pix = np.asarray(n_pix, float)
    return np.clip(source_e, 0, None) + n_pix * (1.0 + n_pix / np.asarray(n_bkg_pix, float)) * pixel_var_e


def scintillation_fraction(
    *,
    aperture_mm: float | None,
    airmass: float | None,
    exposure_sec: float | None,
    altitude_m: float | None = 0.0,
    correction: float = 1.5,
) -> float:
    """Relative flux RMS from scintillation; 0.0 when any needed quantity is unknown (the term is then left out)."""
    if not aperture_mm or not airmass or not exposure_sec or aperture_mm <= 0 or exposure_sec <= 0:
        return 0.0
    d_cm = aperture_mm / 10.0
    h = altitude_m or 0.0
    return float(
        correction * 0.09 * d_cm ** (-2.0 / 3.0) * airmass**1.75 * np.exp(-h / 8000.0) / np.sqrt(2.0 * exposure_sec)
    )


def mag_error(flux: np.ndarray | float, flux_err: np.ndarray | float) -> np.ndarray:
    """Magnitude error from a flux and its error (first order); inf where the flux is not positive."""
    flux = np.asarray(flux, float)
    flux_err = np.asarray(flux_err, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, MAG_PER_LN * flux_err / flux, np.inf)
