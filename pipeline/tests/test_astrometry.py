"""WCS choice (header / solve-field / none) and the target's measured position."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits

from pipeline import synth
from pipeline.astrometry import check_wcs
from pipeline.frames import celestial_wcs, frame_metadata, read_frame
from pipeline.reduce import reduce_array

FIXTURES = Path(__file__).parent / "data"


def test_real_tan_sip_header_wcs_is_accepted():
    data, header = read_frame(FIXTURES / "wasp10_center_cutout_1.fits")
    ok, reason = check_wcs(celestial_wcs(header), data.shape)
    assert ok, reason
    assert frame_metadata(header).pixel_scale_arcsec == pytest.approx(0.56, abs=0.05)


@pytest.mark.parametrize(
    ("cd", "why"),
    [
        ([[-0.5, 0.0], [0.0, 0.5]], "implausible"),  # 1800 arcsec/px
        ([[-3e-4, 3e-4], [3e-4, -3e-4]], "singular"),
        ([[-3e-4, 2.6e-4], [0.0, 1.5e-4]], "perpendicular"),  # axes 30 deg apart
    ],
)
def test_insane_header_wcs_is_rejected(cd, why):
    w = synth.make_wcs((100, 100), 10.0, 20.0, 1.0)
    w.wcs.cd = np.array(cd)
    ok, reason = check_wcs(w, (100, 100))
    assert not ok
    assert why in reason


def test_header_wcs_far_from_the_telescope_pointing_is_rejected():
    w = synth.make_wcs((100, 100), 10.0, 20.0, 1.0)
    ok, reason = check_wcs(w, (100, 100), pointing=SkyCoord(50 * u.deg, 20 * u.deg))
    assert not ok and "pointing" in reason


def test_target_position_is_measured_within_its_reported_error():
    pulls = []
    for seed in range(12):
        f = synth.synthetic_frame(shape=(200, 200), n_stars=25, seed=seed, fwhm_pix=3.0)
        star = max(f.stars[:10], key=lambda s: -abs(s.mag - 14.0))
        r = reduce_array(f.data, f.header, target_ra_deg=star.ra_deg + 1.0 / 3600, target_dec_deg=star.dec_deg)
        a = r.astrometry
        assert a["wcs_source"] == "header"
        sep_arcsec = (
            SkyCoord(a["ra_deg"] * u.deg, a["dec_deg"] * u.deg)
            .separation(SkyCoord(star.ra_deg * u.deg, star.dec_deg * u.deg))
            .arcsec
        )
        # The header WCS of a synthetic frame is exact, so only the centroid error counts here.
        centroid_err = np.sqrt(max(a["error_arcsec"] ** 2 - 1.0**2, 1e-12))
        pulls.append(sep_arcsec / centroid_err)
    assert np.median(pulls) < 2.0  # the 1 arcsec offset in the requested position was re-centred away


def _tycho_field(ra: float, dec: float, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    index = Path("/usr/share/astrometry/index-tycho2-07.littleendian.fits")
    if not index.exists() or shutil.which("query-starkd") is None:
        pytest.skip("astrometry-data-tycho2 index 07 or query-starkd not installed")
    out = subprocess.run(
        ["query-starkd", "-r", str(ra), "-d", str(dec), "-R", str(radius), "-T", str(index)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split(",") for line in out.splitlines() if line.count(",") == 2 and not line.startswith("#")]
    return np.array(rows, dtype=float).T


@pytest.mark.needs_tool
@pytest.mark.skipif(
    shutil.which("solve-field") is None,
    reason="astrometry.net not installed: apt-get install -y astrometry.net astrometry-data-tycho2",
)
def test_frame_without_wcs_is_plate_solved_with_solve_field():
    # A synthetic 0.7 deg field of real Tycho-2 stars (from the installed index), with the WCS removed.
    ra, dec, mag = _tycho_field(97.6, 29.7, 0.6)
    shape, scale = (1024, 1024), 2.5
    w = synth.make_wcs(shape, 97.6, 29.7, scale)
    x, y = w.world_to_pixel_values(ra, dec)
    inside = (x > 5) & (x < shape[1] - 6) & (y > 5) & (y < shape[0] - 6)
    f = synth.synthetic_frame(
        shape=shape,
        stars=(x[inside], y[inside], mag[inside]),
        ra_deg=97.6,
        dec_deg=29.7,
        scale_arcsec=scale,
        zero_point_mag=19.0,
        exposure_sec=10.0,
        fwhm_pix=2.5,
    )
    header = fits.Header({k: f.header[k] for k in ("DATE-OBS", "EXPTIME", "FILTER", "GAIN", "RDNOISE", "SATURATE")})
    header["OBJCTRA"] = "06 30 36"  # pointing hint 0.05 deg off the true centre, as a mount would give
    header["OBJCTDEC"] = "+29 40 00"
    header["XPIXSZ"], header["FOCALLEN"] = 9.0, 742.6  # 2.5 arcsec/px hint
    target = f.stars[int(np.argmin([abs(s.mag - 10.5) for s in f.stars]))]
    r = reduce_array(f.data, header, target_ra_deg=target.ra_deg, target_dec_deg=target.dec_deg, solve_timeout_sec=30)
    assert r.astrometry is not None, r.metadata["wcs_reason"]
    assert r.astrometry["wcs_source"] == "solved"
    assert "no_wcs" not in r.quality_flags
    found = SkyCoord(r.astrometry["ra_deg"] * u.deg, r.astrometry["dec_deg"] * u.deg)
    assert found.separation(SkyCoord(target.ra_deg * u.deg, target.dec_deg * u.deg)).arcsec < 1.0
