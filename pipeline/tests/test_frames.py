"""Upload checks and header metadata (pipeline/frames.py)."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.io import fits
from astropy.time import Time

from pipeline import synth
from pipeline.frames import FrameError, SiteLocation, check_fits, frame_metadata, read_frame


def _fits_bytes(header_updates: dict | None = None, drop: tuple[str, ...] = ()) -> bytes:
    f = synth.synthetic_frame(shape=(64, 64), n_stars=3)
    hdr = f.header.copy()
    for k in drop:
        del hdr[k]
    for k, v in (header_updates or {}).items():
        hdr[k] = v
    buf = io.BytesIO()
    fits.PrimaryHDU(f.data, hdr).writeto(buf)
    return buf.getvalue()


def test_check_accepts_plain_and_gzip_fits_images_from_bytes_streams_and_paths(tmp_path):
    raw = _fits_bytes()
    path = tmp_path / "frame.fits.gz"
    path.write_bytes(gzip.compress(raw))
    for source in (raw, gzip.compress(raw), io.BytesIO(raw), path):
        check = check_fits(source)
        assert check.shape == (64, 64)
        assert check.ok
    assert check_fits(gzip.compress(raw)).compressed is True


def test_check_names_every_missing_required_keyword():
    with pytest.raises(FrameError) as exc:
        check_fits(_fits_bytes(drop=("EXPTIME", "FILTER")))
    assert exc.value.missing_keywords == ["EXPTIME", "FILTER"]
    assert "EXPTIME" in str(exc.value) and "FILTER" in str(exc.value)


def test_check_accepts_equivalent_time_and_exposure_keywords():
    data = _fits_bytes({"MJD-OBS": 61367.25, "EXPOSURE": 30.0}, drop=("DATE-OBS", "EXPTIME"))
    assert check_fits(data).ok


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"PK\x03\x04 this is a zip file" * 200, "not a FITS file"),
        (gzip.compress(b"plain text, gzipped" * 200), "not a FITS file"),
    ],
)
def test_check_rejects_files_that_are_not_fits(payload, reason):
    with pytest.raises(FrameError, match=reason):
        check_fits(payload)


def test_check_rejects_a_truncated_upload():
    raw = _fits_bytes()
    with pytest.raises(FrameError, match="truncated"):
        check_fits(raw[: len(raw) - 4000])


def test_check_rejects_fits_without_image_data():
    table = fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=np.arange(3.0))])
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buf)
    with pytest.raises(FrameError, match="no image data"):
        check_fits(buf.getvalue())


def test_image_in_an_extension_is_found_with_primary_header_keywords():
    f = synth.synthetic_frame(shape=(32, 48), n_stars=2)
    primary = fits.PrimaryHDU()
    for k in ("DATE-OBS", "EXPTIME", "FILTER"):
        primary.header[k] = f.header[k]
    buf = io.BytesIO()
    fits.HDUList([primary, fits.ImageHDU(f.data)]).writeto(buf)
    assert check_fits(buf.getvalue()).hdu_index == 1
    data, header = read_frame(buf.getvalue())
    assert data.shape == (32, 48) and header["FILTER"] == "R"


def test_metadata_gives_mid_exposure_utc_and_bjd_tdb():
    hdr = fits.Header(
        {
            "DATE-OBS": "2026-11-23T06:00:00",
            "EXPTIME": 60.0,
            "FILTER": "V",
            "XBINNING": 2,
            "YBINNING": 2,
            "AIRMASS": 1.3,
            "GAIN": 1.4,
            "RDNOISE": 9.0,
            "SATURATE": 60000,
        }
    )
    site = SiteLocation(34.05, -118.24, 100.0)
    meta = frame_metadata(hdr, site=site, target_ra_deg=97.6366, target_dec_deg=29.6723)
    assert meta.observed_at.isoformat() == "2026-11-23T06:00:30+00:00"
    assert meta.binning == (2, 2) and meta.filter == "V" and meta.gain_e_per_adu == 1.4
    # Independent computation: TDB of the mid-exposure plus the Roemer delay to the barycentre.
    t = Time(
        "2026-11-23T06:00:30",
        scale="utc",
        location=EarthLocation.from_geodetic(-118.24 * u.deg, 34.05 * u.deg, 100 * u.m),
    )
    expected = (t.tdb + t.light_travel_time(SkyCoord(97.6366 * u.deg, 29.6723 * u.deg))).jd
    assert meta.bjd_tdb == pytest.approx(expected, abs=1e-9)
    # The barycentric correction of a target near the ecliptic in November is several minutes, never > 8.4 min.
    assert 60 < abs(meta.bjd_tdb - t.jd) * 86400 < 505
    assert meta.to_dict()["observed_at"] == "2026-11-23T06:00:30.000Z"


def test_date_avg_is_taken_as_mid_exposure():
    hdr = fits.Header(
        {"DATE-OBS": "2026-11-23T06:00:00", "DATE-AVG": "2026-11-23T06:00:31.5", "EXPTIME": 60.0, "FILTER": "R"}
    )
    assert frame_metadata(hdr).observed_at.isoformat() == "2026-11-23T06:00:31.500000+00:00"


def test_real_eso_frame_with_old_style_date_uses_mjd_obs(shared_data):
    data, header = read_frame(shared_data / "fits_images/sep/sep_image.fits")
    meta = frame_metadata(header)
    assert data.shape == (256, 256)
    assert meta.time_source.startswith("MJD-OBS")
    assert meta.observed_at.date().isoformat() == "1992-10-26"
    assert meta.exposure_sec == 1200.0
    assert meta.missing_keywords == ["FILTER"]


def test_real_gzip_amateur_frame_passes_the_upload_check_except_for_its_filter(shared_data):
    check = check_fits(shared_data / "fits_images/astropy_data/M13_blue_0001.fits.gz", require_keywords=False)
    assert check.shape == (1040, 1392)
    assert check.compressed and check.missing_keywords == ["FILTER"]
