"""Quality flags: each rule on its own, and on frames where the condition is real."""

from __future__ import annotations

import pytest

from pipeline import synth
from pipeline.quality import QualityInputs, quality_flags
from pipeline.reduce import reduce_array


def _q(**kw) -> QualityInputs:
    base = dict(shape=(100, 100), target_xy=(50.0, 50.0), aperture_radius_pix=5.0)
    base.update(kw)
    return QualityInputs(**base)


@pytest.mark.parametrize(
    ("inputs", "flag"),
    [
        (dict(target_peak_adu=64000, saturation_adu=65535), "saturated"),
        (dict(target_snr=8.0), "low_snr"),
        (dict(target_xy=(120.0, 50.0)), "off_frame"),
        (dict(target_xy=(6.0, 50.0)), "near_edge"),
        (dict(fwhm_pix=4.0, pixel_scale_arcsec=1.2), "poor_seeing"),
        (dict(fwhm_pix=7.0), "poor_seeing"),
        (dict(zero_point=21.2, reference_zero_point=21.5), "transparency_drop"),
        (dict(elongation=1.8), "trailed"),
        (dict(airmass=2.3), "high_airmass"),
        (dict(calibration_failed=True), "calibration_failed"),
        (dict(has_wcs=False), "no_wcs"),
    ],
)
def test_each_flag_is_raised_by_its_rule(inputs, flag):
    assert quality_flags(_q(**inputs)) == [flag]


def test_a_good_frame_has_no_flags():
    assert (
        quality_flags(
            _q(
                target_peak_adu=20000,
                saturation_adu=65535,
                target_snr=150,
                fwhm_pix=2.5,
                pixel_scale_arcsec=1.2,
                elongation=1.05,
                airmass=1.2,
                zero_point=21.45,
                reference_zero_point=21.5,
            )
        )
        == []
    )


def _reduce(frame, star, **kw):
    return reduce_array(frame.data, frame.header, target_ra_deg=star.ra_deg, target_dec_deg=star.dec_deg, **kw)


def test_trailed_frame_is_flagged_trailed():
    f = synth.synthetic_frame(shape=(256, 256), n_stars=30, seed=2, fwhm_pix=2.5, elongation=2.2)
    assert "trailed" in _reduce(f, f.stars[0]).quality_flags


def test_saturated_target_is_flagged_saturated():
    x, y, m = synth.make_star_field(__import__("numpy").random.default_rng(1), (200, 200), 20, mag_range=(12, 15))
    m[0] = 8.0
    f = synth.synthetic_frame(shape=(200, 200), stars=(x, y, m))
    r = _reduce(f, f.stars[0])
    assert "saturated" in r.quality_flags
    assert "saturated" not in _reduce(f, f.stars[1]).quality_flags


def test_cloudy_frame_is_flagged_against_the_reference_zero_point():
    clear = synth.synthetic_frame(shape=(200, 200), n_stars=25, seed=5)
    cloudy = synth.synthetic_frame(shape=(200, 200), n_stars=25, seed=5, transparency_mag=0.3)
    comps = [
        {"name": f"C{j}", "ra_deg": s.ra_deg, "dec_deg": s.dec_deg, "magnitudes": {"R": s.mag}}
        for j, s in enumerate(clear.stars[1:], 1)
    ]
    zp = _reduce(clear, clear.stars[0], comparison_stars=comps).photometry["zero_point"]
    r = _reduce(cloudy, cloudy.stars[0], comparison_stars=comps, reference_zero_point=zp)
    assert "transparency_drop" in r.quality_flags
    assert r.photometry["zero_point"] == pytest.approx(zp - 0.3, abs=0.02)


def test_target_outside_the_frame_gives_off_frame_and_no_photometry():
    f = synth.synthetic_frame(shape=(128, 128), n_stars=10)
    r = reduce_array(f.data, f.header, target_ra_deg=f.header["CRVAL1"] + 1.0, target_dec_deg=f.header["CRVAL2"])
    assert r.photometry is None
    assert r.error == "the target is outside the frame"
    assert "off_frame" in r.quality_flags


def test_frame_without_wcs_is_flagged_and_measured_at_the_pointed_centre():
    f = synth.synthetic_frame(shape=(128, 128), n_stars=12)
    for k in list(f.header):
        if k[:5] in ("CTYPE", "CRVAL", "CRPIX", "CDELT", "CUNIT") or k in ("WCSAXES", "LATPOLE", "LONPOLE"):
            del f.header[k]
    r = reduce_array(f.data, f.header, target_ra_deg=97.6, target_dec_deg=29.6, allow_solve=False)
    assert "no_wcs" in r.quality_flags
    assert r.astrometry is None
    assert r.metadata["target_position_source"].startswith("frame centre")
