"""reduce_frame end to end: FITS bytes in, the API's pipeline block out."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import synth
from pipeline.frames import FrameError
from pipeline.reduce import reduce_frame

API_PHOTOMETRY_KEYS = {
    "magnitude",
    "error",
    "calibrated",
    "instrumental_mag",
    "zero_point",
    "comparison_stars",
    "fwhm_arcsec",
    "snr",
}
API_ASTROMETRY_KEYS = {"ra_deg", "dec_deg", "error_arcsec", "wcs_source"}


@pytest.fixture(scope="module")
def frame():
    return synth.synthetic_frame(shape=(256, 256), n_stars=30, seed=11, fwhm_pix=3.0)


def test_gzip_upload_gives_the_api_pipeline_block_as_json(frame):
    star = frame.stars[0]
    comps = [
        {"name": f"C{j}", "ra_deg": s.ra_deg, "dec_deg": s.dec_deg, "magnitudes": {"R": s.mag}}
        for j, s in enumerate(frame.stars[1:], 1)
        if s.mag < 14.5
    ]
    result = reduce_frame(
        gzip.compress(frame.to_fits_bytes()),
        target_ra_deg=star.ra_deg,
        target_dec_deg=star.dec_deg,
        comparison_stars=comps,
        site={"latitude": 34.05, "longitude": -118.24, "elevation_m": 100},
        aperture_mm=200,
    )
    block = json.loads(json.dumps(result.to_pipeline_block()))
    assert set(block["photometry"]) >= API_PHOTOMETRY_KEYS
    assert set(block["astrometry"]) >= API_ASTROMETRY_KEYS
    assert block["photometry"]["calibrated"] is True
    assert block["photometry"]["fwhm_arcsec"] == pytest.approx(3.0 * 1.2, rel=0.1)
    assert block["astrometry"]["wcs_source"] == "header"
    assert block["quality_flags"] == []
    assert block["error"] is None
    full = json.loads(json.dumps(result.to_dict()))
    assert full["metadata"]["bjd_tdb"] > 2461367
    assert full["metadata"]["observed_at"] == "2026-11-23T06:00:30.000Z"
    assert full["metadata"]["scintillation_frac"] > 0  # aperture, airmass, exposure and altitude were known


def test_previews_are_png_images_of_bounded_size(frame):
    from matplotlib import image as mpimg

    result = reduce_frame(
        frame.to_fits_bytes(),
        target_ra_deg=frame.stars[0].ra_deg,
        target_dec_deg=frame.stars[0].dec_deg,
        make_previews=True,
    )
    assert result.preview_png.startswith(b"\x89PNG")
    import io

    thumb = mpimg.imread(io.BytesIO(result.thumbnail_png))
    assert max(thumb.shape[:2]) <= 256
    assert "preview_png" not in result.to_dict()


def test_measure_all_returns_photometry_of_every_detection(frame):
    result = reduce_frame(
        frame.to_fits_bytes(),
        target_ra_deg=frame.stars[0].ra_deg,
        target_dec_deg=frame.stars[0].dec_deg,
        measure_all=True,
    )
    assert len(result.sources) == result.metadata["n_sources"] >= 25
    assert np.isfinite([s["inst_mag"] for s in result.sources]).all()


def test_unreadable_input_raises_frame_error():
    with pytest.raises(FrameError):
        reduce_frame(b"not a fits file at all" * 300)


def test_science_modules_do_not_import_django():
    code = (
        "import sys, pipeline.reduce, pipeline.lightcurve, pipeline.preview, pipeline.synth; "
        "assert 'django' not in sys.modules, 'django imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_a_target_with_no_light_gets_a_relative_flux_near_zero():
    # An occultation at its bottom: the target star is gone; its position (from the WCS) is still measured.
    x, y, m = synth.make_star_field(np.random.default_rng(8), (200, 200), 20, mag_range=(11, 14), min_separation_pix=15)
    m[0] = 40.0  # no light
    fluxes = []
    for seed in range(6):
        f = synth.synthetic_frame(shape=(200, 200), stars=(x, y, m), seed=seed, fwhm_pix=3.0)
        r = reduce_frame(f.to_fits_bytes(), target_ra_deg=f.stars[0].ra_deg, target_dec_deg=f.stars[0].dec_deg)
        p = r.photometry
        assert "low_snr" in r.quality_flags
        if p["method"] == "relative_flux":  # the noise summed to a negative flux: no magnitude at all
            assert p["magnitude"] is None
        fluxes.append(p["flux"] / p["flux_error"])
    assert np.all(np.abs(fluxes) < 4.0)  # consistent with zero light
