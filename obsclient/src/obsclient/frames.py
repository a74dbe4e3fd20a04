"""Writing frames as FITS files with complete, standard headers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle
from astropy.io import fits
from astropy.time import Time

from obsclient import __version__
from obsclient.config import SiteConfig


@dataclass(frozen=True)
class Exposure:
    """What was observed and when: the facts that go into the header and the observation."""

    observation_id: str
    target_id: str
    object_name: str
    ra_deg: float
    dec_deg: float
    start_utc: datetime
    exposure_sec: float
    filter_name: str | None
    airmass: float | None
    altitude_deg: float | None
    site_id: str | None

    @property
    def start_time(self) -> Time:
        return Time(self.start_utc, scale="utc")

    @property
    def mid_time(self) -> Time:
        return self.start_time + self.exposure_sec / 2 * u.s


def build_header(exposure: Exposure, site: SiteConfig, device_cards: dict[str, tuple[Any, str]]) -> fits.Header:
    start = exposure.start_time
    mid = exposure.mid_time
    end = start + exposure.exposure_sec * u.s
    header = fits.Header()
    cards: list[tuple[str, Any, str]] = [
        ("IMAGETYP", "Light Frame", "type of image"),
        ("OBJECT", exposure.object_name, "target name"),
        ("TIMESYS", "UTC", "time scale of the DATE keywords"),
        ("DATE-OBS", start.isot, "[UTC] start of the exposure"),
        ("DATE-AVG", mid.isot, "[UTC] mid-exposure"),
        ("DATE-END", end.isot, "[UTC] end of the exposure"),
        ("MJD-OBS", start.mjd, "[d] MJD (UTC), exposure start"),
        ("MJD-AVG", mid.mjd, "[d] MJD (UTC), mid-exposure"),
        ("MJD-MID", mid.mjd, "[d] MJD (UTC), mid-exposure"),
        ("JD-MID", mid.jd, "[d] JD (UTC), mid-exposure"),
        ("EXPTIME", exposure.exposure_sec, "[s] exposure time"),
        ("EXPOSURE", exposure.exposure_sec, "[s] exposure time"),
        ("FILTER", exposure.filter_name or "None", "filter"),
        ("RA", exposure.ra_deg, "[deg] target RA (ICRS)"),
        ("DEC", exposure.dec_deg, "[deg] target Dec (ICRS)"),
        (
            "OBJCTRA",
            Angle(exposure.ra_deg, u.deg).to_string(unit=u.hourangle, sep=" ", precision=2, pad=True),
            "[h m s] target right ascension",
        ),
        (
            "OBJCTDEC",
            Angle(exposure.dec_deg, u.deg).to_string(unit=u.deg, sep=" ", precision=1, alwayssign=True, pad=True),
            "[d m s] target declination",
        ),
        ("RADESYS", "ICRS", "coordinate reference frame"),
        ("EQUINOX", 2000.0, "equinox of the coordinates"),
        ("SITELAT", site.latitude, "[deg] site latitude, N+"),
        ("SITELONG", site.longitude, "[deg] site longitude, E+"),
        ("SITEELEV", site.elevation_m, "[m] site elevation"),
        ("OBSERVAT", site.name, "observatory"),
        ("TELESCOP", site.telescope or "unknown telescope", "telescope"),
        ("INSTRUME", site.instrument or "unknown camera", "camera"),
    ]
    if site.aperture_mm:
        cards.append(("APTDIA", site.aperture_mm, "[mm] aperture diameter"))
    if site.focal_length_mm:
        cards.append(("FOCALLEN", site.focal_length_mm, "[mm] focal length"))
    if exposure.airmass is not None:
        cards.append(("AIRMASS", round(exposure.airmass, 4), "airmass at mid-exposure"))
    if exposure.altitude_deg is not None:
        cards.append(("OBJCTALT", round(exposure.altitude_deg, 3), "[deg] altitude at mid-exposure"))
    for key, value, comment in cards:
        header[key] = (value, comment)
    for key, (value, comment) in device_cards.items():
        # The observer's own name for the camera beats the driver's generic one.
        if value is not None and not (key == "INSTRUME" and site.instrument):
            header[key] = (value, comment)
    header["OBSID"] = (exposure.observation_id, "observation id (UUID)")
    header["TARGETID"] = (exposure.target_id, "network target id")
    if exposure.site_id:
        header["SITEID"] = (exposure.site_id, "network site id")
    header["ORIGIN"] = ("obsclient", "software that wrote this file")
    header["SWCREATE"] = (f"obsclient {__version__}", "software that wrote this file")
    return header


def write_fits(path: Path, data: np.ndarray, header: fits.Header) -> Path:
    """Write atomically (temporary file, fsync, rename): a crash never leaves half a frame behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".part")
    # astropy stores uint16 as the standard int16 with BZERO=32768 by itself.
    hdu = fits.PrimaryHDU(data=data, header=header)
    with temporary.open("wb") as handle:
        hdu.writeto(handle)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    return path


def header_metadata(header: fits.Header) -> dict[str, Any]:
    """The header as plain JSON values, for the observation's raw_metadata."""
    keep = (
        "DATE-OBS",
        "DATE-AVG",
        "MJD-MID",
        "EXPTIME",
        "FILTER",
        "OBJECT",
        "RA",
        "DEC",
        "SITELAT",
        "SITELONG",
        "SITEELEV",
        "TELESCOP",
        "INSTRUME",
        "GAIN",
        "XBINNING",
        "YBINNING",
        "CCD-TEMP",
        "AIRMASS",
        "NAXIS1",
        "NAXIS2",
    )
    return {key: header[key] for key in keep if key in header}
