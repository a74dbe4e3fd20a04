"""Master selection and calibration (pipeline/calibration.py), and what reduce_frame reports about it."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import synth
from pipeline.calibration import (
    CalibrationError,
    MasterFrame,
    apply_calibration,
    apply_calibration_ccdproc,
    choose_masters,
)
from pipeline.reduce import reduce_array

SHAPE = (64, 64)


def _m(kind, name, **kw):
    return MasterFrame(kind, np.ones(kw.pop("shape", SHAPE), dtype=np.float32), name, **kw)


def test_closest_matching_masters_are_chosen_by_shape_binning_filter_temperature_and_exposure():
    masters = [
        _m("bias", "bias-warm", temperature_c=0.0),
        _m("bias", "bias-cold", temperature_c=-10.0),
        _m("bias", "bias-bin2", temperature_c=-10.0, binning=(2, 2)),
        _m("dark", "dark-300", temperature_c=-10.0, exposure_sec=300.0),
        _m("dark", "dark-60", temperature_c=-10.0, exposure_sec=60.0),
        _m("dark", "dark-60-warm", temperature_c=5.0, exposure_sec=60.0),
        _m("flat", "flat-V", filter="V", temperature_c=-10.0),
        _m("flat", "flat-R", filter="r"),
        _m("flat", "flat-R-wrongsize", filter="R", shape=(32, 32)),
    ]
    choice = choose_masters(masters, shape=SHAPE, filter_name="R", temperature_c=-9.0, exposure_sec=90.0)
    assert choice.used() == {"bias": "bias-cold", "dark": "dark-60", "flat": "flat-R"}
    assert any("flat-R-wrongsize" in n for n in choice.notes)


def test_no_flat_in_the_frames_filter_is_reported():
    choice = choose_masters([_m("flat", "flat-V", filter="V")], shape=SHAPE, filter_name="B")
    assert choice.flat is None
    assert choice.notes == ["no flat in filter 'B'"]


def test_fast_calibration_equals_ccdproc():
    f = synth.synthetic_frame(shape=(128, 128), n_stars=10, raw=True, dark_e_per_pix_per_sec=0.2, flat_amplitude=0.2)
    masters = [
        MasterFrame("bias", f.bias, "b"),
        MasterFrame("dark", f.dark_adu_per_sec * 120.0, "d", exposure_sec=120.0),
        MasterFrame("flat", f.flat * 30000.0, "f", filter="R"),
    ]
    choice = choose_masters(masters, shape=f.data.shape, filter_name="R", exposure_sec=60.0)
    ours = apply_calibration(f.data, choice, exposure_sec=60.0)
    ref = apply_calibration_ccdproc(f.data, choice, exposure_sec=60.0)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-3)


def test_calibration_restores_star_fluxes_of_a_raw_frame():
    kw = dict(shape=(256, 256), n_stars=25, seed=4, dark_e_per_pix_per_sec=0.5, flat_amplitude=0.25)
    raw = synth.synthetic_frame(raw=True, **kw)
    masters = [
        MasterFrame("bias", raw.bias, "bias-1"),
        MasterFrame("dark", raw.dark_adu_per_sec * 60.0, "dark-1", exposure_sec=60.0),
        MasterFrame("flat", raw.flat * 20000.0, "flat-R", filter="R"),
    ]
    target = raw.stars[0]
    comps = [
        {"name": f"C{j}", "ra_deg": s.ra_deg, "dec_deg": s.dec_deg, "magnitudes": {"R": s.mag}}
        for j, s in enumerate(raw.stars[1:], 1)
        if s.mag < 14
    ]
    r = reduce_array(
        raw.data,
        raw.header,
        target_ra_deg=target.ra_deg,
        target_dec_deg=target.dec_deg,
        comparison_stars=comps,
        masters=masters,
    )
    assert r.metadata["calibration"]["bias"] == "bias-1"
    assert r.metadata["calibration"]["dark"] == "dark-1"
    assert r.metadata["calibration"]["flat"] == "flat-R"
    assert "calibration_failed" not in r.quality_flags
    assert r.photometry["magnitude"] == pytest.approx(target.mag, abs=4 * r.photometry["error"] + 0.005)


def test_an_unusable_master_flags_calibration_failed_but_still_measures():
    f = synth.synthetic_frame(shape=(128, 128), n_stars=15)
    r = reduce_array(
        f.data,
        f.header,
        target_ra_deg=f.stars[0].ra_deg,
        target_dec_deg=f.stars[0].dec_deg,
        masters=[_m("bias", "bias-other-camera", shape=(100, 100))],
    )
    assert "calibration_failed" in r.quality_flags
    assert r.photometry is not None


def test_a_dark_without_exposure_time_cannot_be_scaled():
    choice = choose_masters([_m("dark", "d")], shape=SHAPE)
    with pytest.raises(CalibrationError, match="exposure"):
        apply_calibration(np.zeros(SHAPE), choice, exposure_sec=60.0)


def test_flats_only_in_other_filters_flag_calibration_failed_and_say_why():
    f = synth.synthetic_frame(shape=(128, 128), n_stars=15)
    masters = [
        MasterFrame("bias", np.zeros((128, 128), np.float32), "bias"),
        _m("flat", "flat-V", filter="V", shape=(128, 128)),
    ]
    r = reduce_array(
        f.data, f.header, target_ra_deg=f.stars[0].ra_deg, target_dec_deg=f.stars[0].dec_deg, masters=masters
    )
    assert "calibration_failed" in r.quality_flags
    assert r.metadata["calibration"]["bias"] == "bias"
    assert "no matching master for: flat" in r.metadata["calibration"]["notes"]


def test_master_frames_are_read_from_fits_with_their_header_properties():
    from pipeline.calibration import master_from_fits

    f = synth.synthetic_frame(shape=(32, 32), n_stars=0)
    f.header["XBINNING"] = f.header["YBINNING"] = 2
    m = master_from_fits(f.to_fits_bytes(), kind="flat", name="flat-R-2x2")
    assert (m.kind, m.filter, m.binning, m.temperature_c, m.exposure_sec) == ("flat", "R", (2, 2), -10.0, 60.0)
    assert m.data.shape == (32, 32)
