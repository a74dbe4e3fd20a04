import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from obsclient.config import TransitConfig, parse_config
from obsclient.drivers.simulator import TargetLight, catalogue_stars, render_frame, transit_factor
from obsclient.frames import Exposure, build_header, write_fits
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry
from photutils.detection import DAOStarFinder

ZERO_POINT = 21.0
SCALE = 0.78


def render(
    magnitude: float | None = 12.0,
    *,
    exposure_sec: float = 60,
    seed: int = 3,
    transit: TransitConfig | None = None,
    when: Time | None = None,
) -> tuple[np.ndarray, WCS]:
    target = TargetLight(97.6366, 29.6723, magnitude, transit) if magnitude is not None else None
    return render_frame(
        ra_deg=97.6366,
        dec_deg=29.6723,
        exposure_sec=exposure_sec,
        mid_time=when or Time("2026-11-23T06:00:00"),
        width_px=400,
        height_px=400,
        scale_arcsec=SCALE,
        seeing_arcsec=2.5,
        sky_mag_per_arcsec2=20.5,
        zero_point_mag=ZERO_POINT,
        gain_e_per_adu=1.5,
        read_noise_e=3.0,
        bias_adu=500,
        rng=np.random.default_rng(seed),
        target=target,
    )


def target_magnitude(data: np.ndarray, wcs: WCS, exposure_sec: float, gain: float = 1.5) -> float:
    x, y = wcs.all_world2pix(97.6366, 29.6723, 0)
    aperture = CircularAperture((x, y), r=5 * 2.5 / SCALE / 2)
    annulus = CircularAnnulus((x, y), 25, 35)
    image = data.astype(float)
    background = ApertureStats(image, annulus).median
    counts = aperture_photometry(image, aperture)["aperture_sum"][0] - background * aperture.area
    return ZERO_POINT - 2.5 * math.log10(counts * gain / exposure_sec)


def test_frame_has_sky_noise_bias_and_detectable_stars() -> None:
    data, wcs = render()
    assert data.dtype == np.uint16
    sky = np.median(data)
    expected_sky_adu = 500 + 10 ** (-0.4 * (20.5 - ZERO_POINT)) * SCALE**2 * 60 / 1.5
    assert sky == pytest.approx(expected_sky_adu, rel=0.05)
    noise_adu = 1.4826 * np.median(np.abs(data - sky))
    expected_noise = math.sqrt((expected_sky_adu - 500) * 1.5 + 9) / 1.5
    assert noise_adu == pytest.approx(expected_noise, rel=0.15)

    finder = DAOStarFinder(fwhm=2.5 / SCALE, threshold=5 * noise_adu)
    sources = finder(data.astype(float) - sky)
    assert sources is not None and len(sources) >= 10
    # The detected stars are where the catalogue says they are.
    ra, dec, mag = catalogue_stars(97.6366, 29.6723, 0.1)
    xs, ys = wcs.all_world2pix(ra, dec, 0)
    bright = (mag < 16) & (xs > 10) & (xs < 390) & (ys > 10) & (ys < 390)
    positions = np.column_stack([sources["x_centroid"], sources["y_centroid"]])
    for x, y in zip(xs[bright], ys[bright], strict=True):
        assert np.min(np.hypot(positions[:, 0] - x, positions[:, 1] - y)) < 1.5


def test_target_flux_matches_its_magnitude() -> None:
    for magnitude in (10.5, 12.0, 14.0):
        data, wcs = render(magnitude)
        assert target_magnitude(data, wcs, 60) == pytest.approx(magnitude, abs=0.05)


def test_same_sky_gives_the_same_stars() -> None:
    a = catalogue_stars(200.0, -30.0, 0.2)
    b = catalogue_stars(200.05, -30.0, 0.2)
    common = set(np.round(a[0], 8)) & set(np.round(b[0], 8))
    assert len(common) > 0.5 * len(a[0])


def test_injected_transit_dims_the_target_by_its_depth() -> None:
    transit = TransitConfig(epoch_jd=2461000.5, period_days=1.5, duration_hours=3.0, depth=0.02)
    assert transit_factor(2461000.5, transit) == pytest.approx(0.98)
    assert transit_factor(2461000.5 + 1.5 * 10, transit) == pytest.approx(0.98)
    assert transit_factor(2461000.5 + 0.5, transit) == 1.0
    assert 0.98 < transit_factor(2461000.5 + 1.4 / 24, transit) < 1.0  # on the way in
    out_of, in_transit = [], []
    for seed in range(4):
        data, wcs = render(10.0, transit=transit, seed=seed, when=Time(2461000.5 + 0.5, format="jd"))
        out_of.append(target_magnitude(data, wcs, 60))
        data, wcs = render(10.0, transit=transit, seed=seed, when=Time(2461000.5, format="jd"))
        in_transit.append(target_magnitude(data, wcs, 60))
    depth = 1 - 10 ** (-0.4 * (np.mean(in_transit) - np.mean(out_of)))
    assert depth == pytest.approx(0.02, abs=0.004)


def test_fits_file_has_complete_standard_headers(tmp_path: Path) -> None:
    config = parse_config(
        {
            "server": {"url": "http://x"},
            "site": {
                "name": "Roque",
                "latitude": 28.76,
                "longitude": -17.88,
                "elevation_m": 2326,
                "telescope": "Test 200mm",
                "instrument": "Test CMOS",
                "aperture_mm": 200,
            },
        }
    )
    exposure = Exposure(
        observation_id="3f1c7f9e-2b7e-4a53-9a52-0d8b1a1d6b10",
        target_id="t-1",
        object_name="WASP-12 b",
        ra_deg=97.6366,
        dec_deg=29.6723,
        start_utc=datetime(2026, 11, 23, 6, 0, 0, 250000, tzinfo=UTC),
        exposure_sec=60.0,
        filter_name="R",
        airmass=1.14,
        altitude_deg=61.2,
        site_id="s-1",
    )
    data, wcs = render()
    cards = {"GAIN": (1.5, "e-/ADU"), "XBINNING": (2, ""), "YBINNING": (2, ""), "CCD-TEMP": (-10.0, "")}
    cards.update({k: (v, "") for k, v in wcs.to_header().items()})
    path = write_fits(tmp_path / "frame.fits", data, build_header(exposure, config.site, cards))
    with fits.open(path) as hdul:
        header = hdul[0].header
        assert np.array_equal(hdul[0].data, data)
    assert header["DATE-OBS"] == "2026-11-23T06:00:00.250"
    assert header["DATE-AVG"] == "2026-11-23T06:00:30.250"
    assert header["MJD-MID"] == pytest.approx(Time("2026-11-23T06:00:30.250").mjd, abs=1e-9)
    assert header["EXPTIME"] == 60.0
    assert header["FILTER"] == "R"
    assert header["OBJECT"] == "WASP-12 b"
    assert header["RA"] == pytest.approx(97.6366) and header["DEC"] == pytest.approx(29.6723)
    assert header["OBJCTRA"] == "06 30 32.78" and header["OBJCTDEC"] == "+29 40 20.3"
    assert (header["SITELAT"], header["SITELONG"], header["SITEELEV"]) == (28.76, -17.88, 2326.0)
    assert header["TELESCOP"] == "Test 200mm" and header["INSTRUME"] == "Test CMOS"
    assert header["GAIN"] == 1.5 and header["XBINNING"] == 2 and header["CCD-TEMP"] == -10.0
    assert header["AIRMASS"] == 1.14 and header["TIMESYS"] == "UTC" and header["IMAGETYP"] == "Light Frame"
    assert header["OBSID"] == exposure.observation_id
    assert WCS(header).all_pix2world(199.5, 199.5, 0)[0] == pytest.approx(97.6366)
    assert not list(tmp_path.glob("*.part"))
