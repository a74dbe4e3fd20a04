"""Quality flags of a reduced frame. Each flag has one rule, stated next to its threshold.

| flag               | raised when                                                                            |
|--------------------|----------------------------------------------------------------------------------------|
| saturated          | the target's brightest aperture pixel >= 95% of the saturation level                   |
| low_snr            | the target's SNR < 10 (magnitude error > ~0.11)                                        |
| off_frame          | the target's predicted position is outside the image                                   |
| near_edge          | the target's aperture, or its 2-aperture-radius surroundings, crosses the image edge   |
| poor_seeing        | FWHM > 4.0 arcsec (or > 6 px when the pixel scale is unknown)                          |
| transparency_drop  | the ensemble zero point is > 0.2 mag fainter than the reference (median of recent      |
|                    | frames of the same site, filter and ensemble, supplied by the caller)                  |
| trailed            | median elongation (a/b) of clean bright stars > 1.5                                    |
| high_airmass       | airmass > 2.0 (altitude below 30 deg)                                                  |
| calibration_failed | a master frame was given but could not be applied                                      |
| no_wcs             | neither a sane header WCS nor a plate solution                                         |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SATURATION_FRACTION = 0.95
LOW_SNR = 10.0
POOR_SEEING_ARCSEC = 4.0
POOR_SEEING_PIX = 6.0
TRANSPARENCY_DROP_MAG = 0.2
TRAILED_ELONGATION = 1.5
HIGH_AIRMASS = 2.0
EDGE_MARGIN_RADII = 2.0

FLAGS = (
    "saturated",
    "low_snr",
    "off_frame",
    "near_edge",
    "poor_seeing",
    "transparency_drop",
    "trailed",
    "high_airmass",
    "calibration_failed",
    "no_wcs",
)


@dataclass
class QualityInputs:
    shape: tuple[int, int]
    target_xy: tuple[float, float] | None
    aperture_radius_pix: float
    target_peak_adu: float | None = None
    saturation_adu: float | None = None
    target_snr: float | None = None
    fwhm_pix: float | None = None
    pixel_scale_arcsec: float | None = None
    elongation: float | None = None
    airmass: float | None = None
    zero_point: float | None = None
    reference_zero_point: float | None = None
    calibration_failed: bool = False
    has_wcs: bool = True


def quality_flags(q: QualityInputs) -> list[str]:
    """The flags that apply, in the fixed order of FLAGS."""
    flags: set[str] = set()
    ny, nx = q.shape
    if q.target_xy is not None:
        x, y = q.target_xy
        if not (-0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5):
            flags.add("off_frame")
        else:
            margin = EDGE_MARGIN_RADII * q.aperture_radius_pix
            if x < margin or y < margin or x > nx - 1 - margin or y > ny - 1 - margin:
                flags.add("near_edge")
    if (
        q.target_peak_adu is not None
        and q.saturation_adu
        and np.isfinite(q.target_peak_adu)
        and q.target_peak_adu >= SATURATION_FRACTION * q.saturation_adu
    ):
        flags.add("saturated")
    if q.target_snr is not None and q.target_snr < LOW_SNR:
        flags.add("low_snr")
    if q.fwhm_pix is not None:
        if q.pixel_scale_arcsec:
            if q.fwhm_pix * q.pixel_scale_arcsec > POOR_SEEING_ARCSEC:
                flags.add("poor_seeing")
        elif q.fwhm_pix > POOR_SEEING_PIX:
            flags.add("poor_seeing")
    if (
        q.zero_point is not None
        and q.reference_zero_point is not None
        and q.reference_zero_point - q.zero_point > TRANSPARENCY_DROP_MAG
    ):
        flags.add("transparency_drop")
    if q.elongation is not None and q.elongation > TRAILED_ELONGATION:
        flags.add("trailed")
    if q.airmass is not None and q.airmass > HIGH_AIRMASS:
        flags.add("high_airmass")
    if q.calibration_failed:
        flags.add("calibration_failed")
    if not q.has_wcs:
        flags.add("no_wcs")
    return [f for f in FLAGS if f in flags]
