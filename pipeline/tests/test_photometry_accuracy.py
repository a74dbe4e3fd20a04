"""The pipeline's photometry on synthetic frames with stars of known flux (pipeline/synth.py)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import synth
from pipeline.frames import frame_metadata
from pipeline.photometry import StarMeasurement, differential_magnitude, scintillation_fraction
from pipeline.photometry.noise import ccd_flux_variance_e, pixel_variance_e
from pipeline.reduce import reduce_array

SHAPE = (320, 320)
TARGET_MAG = 13.5  # SNR ~ 170 in a 60 s frame with the synth defaults


def _field() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    x, y, m = synth.make_star_field(np.random.default_rng(42), SHAPE, 32, mag_range=(11.0, 16.0), min_separation_pix=14)
    i = int(np.argmin(np.hypot(x - SHAPE[1] / 2, y - SHAPE[0] / 2)))
    m = m.copy()
    m[i] = TARGET_MAG
    return x, y, m, i


def _run_frames(n_frames: int, *, with_catalogue: bool) -> np.ndarray:
    """Rows of (measured - true, reported error, snr, transparency) over frames with clouds up to 0.3 mag."""
    x, y, m, i = _field()
    rng = np.random.default_rng(7)
    rows = []
    first = None
    meta = None
    for k in range(n_frames):
        transparency = float(rng.uniform(0.0, 0.3))
        f = synth.synthetic_frame(
            shape=SHAPE, stars=(x, y, m), seed=1000 + k, transparency_mag=transparency, fwhm_pix=3.0
        )
        t = f.stars[i]
        comps = [
            {
                "name": f"C{j}",
                "ra_deg": s.ra_deg,
                "dec_deg": s.dec_deg,
                "magnitudes": {"R": s.mag} if with_catalogue else {},
            }
            for j, s in enumerate(f.stars)
            if j != i and s.mag < 14.0
        ]
        # Every frame has the same header: its metadata (BJD etc.) is computed once to keep the test fast.
        meta = meta or frame_metadata(f.header, target_ra_deg=t.ra_deg, target_dec_deg=t.dec_deg)
        r = reduce_array(
            f.data, f.header, target_ra_deg=t.ra_deg, target_dec_deg=t.dec_deg, comparison_stars=comps, metadata=meta
        )
        p = r.photometry
        assert p is not None, r.error
        assert p["calibrated"] is with_catalogue
        if with_catalogue:
            truth = t.mag
        else:
            # Differential: the truth is the target against the same ensemble, known from the injected fluxes.
            used = [int(name[1:]) for name in p["comparison_stars"]]
            first = first or sorted(used)
            assert sorted(used) == first, "the listed ensemble must be the same in every frame"
            truth = t.mag + 2.5 * np.log10(sum(10 ** (-0.4 * f.stars[j].mag) for j in used))
        rows.append((p["magnitude"] - truth, p["error"], p["snr"], transparency))
    return np.array(rows)


@pytest.fixture(scope="module")
def calibrated_runs() -> np.ndarray:
    return _run_frames(120, with_catalogue=True)


@pytest.mark.slow
def test_calibrated_magnitude_recovers_injected_value_within_a_hundredth_despite_clouds(calibrated_runs):
    delta, _, snr, transparency = calibrated_runs.T
    assert snr.min() > 100
    assert transparency.max() > 0.25  # clouds up to 0.3 mag were in the sample
    assert abs(np.mean(delta)) < 0.002  # no bias
    assert np.sqrt(np.mean(delta**2)) < 0.01  # the typical error at SNR 100-250 is below a hundredth
    assert np.percentile(np.abs(delta), 95) < 0.015
    # Clouds do not leak into the result: no trend of the residual with transparency.
    slope = np.polyfit(transparency, delta, 1)[0]
    assert abs(slope) < 0.02


@pytest.mark.slow
def test_reported_errors_are_honest_for_calibrated_photometry(calibrated_runs):
    delta, err, _, _ = calibrated_runs.T
    pull = delta / err
    assert 0.8 < np.std(pull) < 1.2


@pytest.mark.slow
def test_differential_magnitude_against_a_fixed_ensemble_is_accurate_and_honest():
    rows = _run_frames(80, with_catalogue=False)
    delta, err, _, _ = rows.T
    assert abs(np.mean(delta)) < 0.002
    assert np.sqrt(np.mean(delta**2)) < 0.01
    assert 0.8 < np.std(delta / err) < 1.2


def test_automatic_ensemble_is_labelled_differential_and_lists_its_stars():
    x, y, m, i = _field()
    f = synth.synthetic_frame(shape=SHAPE, stars=(x, y, m), seed=3, fwhm_pix=3.0)
    t = f.stars[i]
    r = reduce_array(f.data, f.header, target_ra_deg=t.ra_deg, target_dec_deg=t.dec_deg)
    p = r.photometry
    assert p["calibrated"] is False
    assert p["method"] == "differential"
    assert 3 <= len(p["comparison_stars"]) <= 12
    assert all(name.startswith("J") for name in p["comparison_stars"])  # named by position, reusable next time
    assert len(r.comparison_ensemble) == len(p["comparison_stars"])
    assert p["flux"] == pytest.approx(10 ** (-0.4 * p["magnitude"]))


def test_a_comparison_star_with_a_wrong_catalogue_magnitude_is_rejected():
    def star(name: str, inst: float, cat: float) -> StarMeasurement:
        flux = 10 ** (-0.4 * inst) * 60
        return StarMeasurement(name, 0, 0, flux, flux * 0.005 / 1.0857, inst, 0.005, catalog_mag=cat)

    comps = [star(f"C{k}", -8.0 - 0.1 * k, 13.0 - 0.1 * k + 0.003 * (-1) ** k) for k in range(8)]
    comps.append(star("VAR", -8.5, 12.0))  # catalogue says 12.0, the frame says 12.5: a variable
    target = star("T", -7.0, None)
    res = differential_magnitude(target, comps)
    assert "VAR" in res.rejected_comparison_stars
    assert res.magnitude == pytest.approx(14.0, abs=0.01)


def test_scintillation_follows_youngs_formula_with_osborn_correction():
    # 200 mm aperture, airmass 1.5, 30 s, 1000 m: 1.5 * 0.09 * 20^(-2/3) * 1.5^1.75 * exp(-1/8) / sqrt(60)
    expected = 1.5 * 0.09 * 20 ** (-2 / 3) * 1.5**1.75 * np.exp(-1000 / 8000) / np.sqrt(60)
    assert scintillation_fraction(aperture_mm=200, airmass=1.5, exposure_sec=30, altitude_m=1000) == pytest.approx(
        expected
    )
    assert scintillation_fraction(aperture_mm=None, airmass=1.5, exposure_sec=30) == 0.0


def test_ccd_equation_matches_the_textbook_example():
    # Howell, Handbook of CCD Astronomy, example: N*=24,013 e-, npix=1, ... generic form checked term by term.
    var = ccd_flux_variance_e(24_013.0, 10.0, pixel_variance_e(620.0, 31.0, 5.0), n_bkg_pix=200.0)
    assert var == pytest.approx(24_013 + 10 * (1 + 10 / 200) * (620 + 31 + 25))


@pytest.mark.slow
def test_errors_stay_honest_when_scintillation_dominates():
    # A 60 mm telescope, 10 s exposures at airmass 1.5: Young's formula (x1.5) gives ~2% flicker per star.
    x, y, m, i = _field()
    site = {"latitude": 34.05, "longitude": -118.24, "elevation_m": 100.0}
    scint = scintillation_fraction(aperture_mm=60, airmass=1.5, exposure_sec=10, altitude_m=100)
    assert 0.015 < scint < 0.025
    pulls = []
    meta = None
    for k in range(100):
        f = synth.synthetic_frame(
            shape=SHAPE,
            stars=(x, y, m),
            seed=3000 + k,
            exposure_sec=10.0,
            airmass=1.5,
            fwhm_pix=3.0,
            scintillation_frac=scint,
            zero_point_mag=23.0,
        )
        t = f.stars[i]
        comps = [
            {"name": f"C{j}", "ra_deg": s.ra_deg, "dec_deg": s.dec_deg, "magnitudes": {"R": s.mag}}
            for j, s in enumerate(f.stars)
            if j != i and s.mag < 14.0
        ]
        meta = meta or frame_metadata(f.header, target_ra_deg=t.ra_deg, target_dec_deg=t.dec_deg)
        r = reduce_array(
            f.data,
            f.header,
            target_ra_deg=t.ra_deg,
            target_dec_deg=t.dec_deg,
            comparison_stars=comps,
            site=site,
            aperture_mm=60,
            metadata=meta,
        )
        assert r.metadata["scintillation_frac"] == pytest.approx(scint)
        p = r.photometry
        pulls.append((p["magnitude"] - t.mag) / p["error"])
    assert 0.8 < np.std(pulls) < 1.2
