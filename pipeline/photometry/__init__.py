"""Photometry: background, detection, seeing, aperture sums with CCD-equation errors, differential magnitudes.

Pure module: numpy, sep, scipy, astropy only — never Django.
"""

from pipeline.photometry.differential import (
    DifferentialResult,
    NoComparisonStars,
    StarMeasurement,
    differential_magnitude,
    select_comparison_stars,
)
from pipeline.photometry.extract import (
    APERTURE_RADIUS_PER_FWHM,
    ApertureSums,
    Background,
    Seeing,
    aperture_sums,
    detect_sources,
    estimate_background,
    measure_seeing,
    refine_centroids,
)
from pipeline.photometry.noise import ccd_flux_variance_e, mag_error, pixel_variance_e, scintillation_fraction

__all__ = [
    "APERTURE_RADIUS_PER_FWHM",
    "ApertureSums",
    "Background",
    "DifferentialResult",
    "NoComparisonStars",
    "Seeing",
    "StarMeasurement",
    "aperture_sums",
    "ccd_flux_variance_e",
    "detect_sources",
    "differential_magnitude",
    "estimate_background",
    "mag_error",
    "measure_seeing",
    "pixel_variance_e",
    "refine_centroids",
    "scintillation_fraction",
    "select_comparison_stars",
]
