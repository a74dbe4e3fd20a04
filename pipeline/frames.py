"""FITS frames: is this upload a FITS image we can reduce, and what does its header say?

`check_fits` is what the upload endpoint calls (fast: reads headers, checks the data are all there, never decodes
the pixels); `read_frame` loads pixels for the pipeline; `frame_metadata` turns a header into plain values —
mid-exposure UTC and BJD_TDB, filter, binning, airmass, gain, read noise, saturation, WCS.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle, EarthLocation, SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS, FITSFixedWarning

GZIP_MAGIC = b"\x1f\x8b"
FITS_MAGIC = b"SIMPLE  ="
FITS_BLOCK = 2880

TIME_KEYWORDS = ("DATE-OBS", "DATE-AVG", "MJD-OBS", "MJD-AVG", "JD", "JD-OBS", "DATE-BEG", "MJD-BEG")
EXPOSURE_KEYWORDS = ("EXPTIME", "EXPOSURE", "EXP_TIME", "ITIME")
FILTER_KEYWORDS = ("FILTER", "FILTER1", "FILTNAME", "FLTNAME")
# Which of several keywords a frame needs, by the name the error message uses.
REQUIRED = {"DATE-OBS": TIME_KEYWORDS, "EXPTIME": EXPOSURE_KEYWORDS, "FILTER": FILTER_KEYWORDS}


class FrameError(ValueError):
    """The upload is not a FITS image the pipeline can use; str(error) is a sentence for the API's 400 detail."""

    def __init__(self, message: str, *, missing_keywords: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing_keywords = missing_keywords or []


@dataclass
class FrameCheck:
    shape: tuple[int, ...]  # numpy order: (ny, nx)
    bitpix: int
    hdu_index: int
    compressed: bool  # gzip-wrapped upload
    missing_keywords: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing_keywords


def _open_source(source: bytes | str | os.PathLike | IO[bytes]) -> tuple[IO[bytes], bool]:
    """A binary stream positioned at the FITS start, un-gzipping on the fly (never two copies in memory)."""
    if isinstance(source, bytes | bytearray | memoryview):
        stream: IO[bytes] = io.BytesIO(bytes(source))
    elif isinstance(source, str | os.PathLike):
        stream = open(source, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    else:
        stream = source
    head = stream.read(2)
    stream.seek(-len(head), io.SEEK_CUR)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=stream, mode="rb"), True
    return stream, False


def _image_hdu_index(hdul: fits.HDUList) -> int:
    for i, hdu in enumerate(hdul):
        if isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
            naxis = (
                hdu.header.get("ZNAXIS", hdu.header.get("NAXIS", 0))
                if isinstance(hdu, fits.CompImageHDU)
                else hdu.header.get("NAXIS", 0)
            )
            if naxis >= 2 and hdu.size > 0:
                return i
    raise FrameError("the FITS file has no image data (no HDU with two or more axes)")


def missing_keywords(header: fits.Header) -> list[str]:
    """Required keywords absent from a header, by their usual name (any listed equivalent satisfies one)."""
    return [name for name, options in REQUIRED.items() if not any(k in header for k in options)]


def check_fits(source: bytes | str | os.PathLike | IO[bytes], *, require_keywords: bool = True) -> FrameCheck:
    """Validate an upload: a FITS file (plain or gzip) with image data that is all present.

    Raises FrameError with a human sentence: not FITS, no image, truncated data, or (require_keywords) which of
    DATE-OBS/EXPTIME/FILTER (or equivalents) are missing.
    """
    stream, compressed = _open_source(source)
    try:
        start = stream.read(len(FITS_MAGIC))
        if start != FITS_MAGIC:
            raise FrameError("not a FITS file (it does not begin with SIMPLE  =)")
        stream.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            try:
                hdul = fits.open(stream, memmap=False, lazy_load_hdus=False, ignore_missing_simple=False, cache=False)
            except Exception as exc:  # astropy raises OSError/ValueError/TypeError for broken headers
                raise FrameError(f"not a readable FITS file: {exc}") from exc
            with hdul:
                idx = _image_hdu_index(hdul)
                hdu = hdul[idx]
                shape = tuple(int(n) for n in hdu.shape)
                header = hdu.header.copy()
                if idx > 0:
                    # Keywords like DATE-OBS often live in the primary header of multi-extension files.
                    for card in hdul[0].header.cards:
                        if card.keyword and card.keyword not in header and card.keyword not in ("SIMPLE", "EXTEND"):
                            with contextlib.suppress(Exception):
                                header.append(card)
                try:
                    # Touch the last data bytes: a truncated upload fails here, without keeping the pixels.
                    data = hdu.section[-1:, -1:] if not isinstance(hdu, fits.CompImageHDU) else hdu.data[-1:, -1:]
                    del data
                except Exception as exc:
                    raise FrameError(f"the image data are truncated or unreadable: {exc}") from exc
                bitpix = int(hdu.header.get("ZBITPIX", hdu.header.get("BITPIX", 0)))
    finally:
        with contextlib.suppress(Exception):
            stream.close()
    missing = missing_keywords(header)
    if require_keywords and missing:
        raise FrameError(f"the FITS header lacks required keyword(s): {', '.join(missing)}", missing_keywords=missing)
    return FrameCheck(shape=shape, bitpix=bitpix, hdu_index=idx, compressed=compressed, missing_keywords=missing)


def read_frame(source: bytes | str | os.PathLike | IO[bytes]) -> tuple[np.ndarray, fits.Header]:
    """Pixels (float32, native byte order, BSCALE/BZERO applied) and the header of the first image HDU."""
    stream, _ = _open_source(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        try:
            with fits.open(stream, memmap=False, cache=False) as hdul:
                idx = _image_hdu_index(hdul)
                header = hdul[idx].header.copy()
                if idx > 0:
                    for card in hdul[0].header.cards:
                        if card.keyword and card.keyword not in header and card.keyword not in ("SIMPLE", "EXTEND"):
                            with contextlib.suppress(Exception):
                                header.append(card)
                data = np.asarray(hdul[idx].data, dtype=np.float32)
        except FrameError:
            raise
        except Exception as exc:
            raise FrameError(f"not a readable FITS image: {exc}") from exc
    if data.ndim > 2:
        data = data.reshape(-1, *data.shape[-2:])[0]  # first plane of a cube
    return np.ascontiguousarray(data), header


# ----------------------------------------------------------------------------------------------------- metadata


@dataclass
class SiteLocation:
    latitude_deg: float
    longitude_deg: float  # east-positive
    elevation_m: float = 0.0

    def earth_location(self) -> EarthLocation:
        return EarthLocation.from_geodetic(
            self.longitude_deg * u.deg, self.latitude_deg * u.deg, self.elevation_m * u.m
        )


@dataclass
class FrameMetadata:
    observed_at: datetime | None  # mid-exposure, aware UTC
    mjd_mid_utc: float | None
    bjd_tdb: float | None  # mid-exposure, barycentric (needs target and site)
    exposure_sec: float | None
    filter: str | None
    binning: tuple[int, int]
    airmass: float | None
    gain_e_per_adu: float | None
    read_noise_e: float | None
    saturation_adu: float | None
    ccd_temp_c: float | None
    image_type: str | None
    pointing_ra_deg: float | None
    pointing_dec_deg: float | None
    pixel_scale_arcsec: float | None  # from the WCS, else from FOCALLEN/XPIXSZ
    site: SiteLocation | None
    time_source: str  # which keyword the time came from, and how
    has_wcs: bool = False
    missing_keywords: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["observed_at"] = _iso_utc(self.observed_at)
        d["binning"] = list(self.binning)
        return d


def _iso_utc(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _first(header: fits.Header, keys: tuple[str, ...]) -> Any:
    for k in keys:
        if k in header and header[k] not in (None, ""):
            return header[k]
    return None


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


_OLD_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{2})\s*$")  # FITS before 2000: DD/MM/YY, 19YY


def _parse_date_obs(header: fits.Header) -> tuple[Time | None, bool]:
    """(time, has_time_of_day) from DATE-OBS [+ TIME-OBS/UT/UTSTART]."""
    raw = header.get("DATE-OBS")
    if raw is None or str(raw).strip() == "":
        return None, False
    text = str(raw).strip()
    m = _OLD_DATE.match(text)
    if m:
        day, month, yy = (int(g) for g in m.groups())
        text = f"19{yy:02d}-{month:02d}-{day:02d}"
    has_time = "T" in text
    if not has_time:
        tod = _first(header, ("TIME-OBS", "UT", "UTSTART", "UT-START"))
        if tod is not None and ":" in str(tod):
            text = f"{text}T{str(tod).strip()}"
            has_time = True
    try:
        return Time(text.replace(" ", "T"), format="isot", scale="utc"), has_time
    except ValueError:
        try:
            return Time(text, scale="utc"), has_time
        except ValueError:
            return None, False


def mid_exposure_time(header: fits.Header, exposure_sec: float | None) -> tuple[Time | None, str]:
    """Mid-exposure UTC. DATE-AVG/MJD-AVG are mid already; DATE-OBS/MJD-OBS/JD are the start (FITS standard)."""
    half = (exposure_sec or 0.0) / 2.0 * u.s
    if "DATE-AVG" in header:
        with contextlib.suppress(ValueError):
            return Time(str(header["DATE-AVG"]), scale="utc"), "DATE-AVG"
    if _float(header.get("MJD-AVG")) is not None:
        return Time(float(header["MJD-AVG"]), format="mjd", scale="utc"), "MJD-AVG"
    start, has_tod = _parse_date_obs(header)
    if start is not None and has_tod:
        return start + half, "DATE-OBS + EXPTIME/2"
    for key, fmt in (("MJD-OBS", "mjd"), ("DATE-BEG", None), ("MJD-BEG", "mjd"), ("JD", "jd"), ("JD-OBS", "jd")):
        val = header.get(key)
        if val is None:
            continue
        with contextlib.suppress(ValueError, TypeError):
            t = Time(float(val), format=fmt, scale="utc") if fmt else Time(str(val), scale="utc")
            return t + half, f"{key} + EXPTIME/2"
    if start is not None:
        return start + half, "DATE-OBS (date only) + EXPTIME/2"
    return None, "none"


def header_site(header: fits.Header) -> SiteLocation | None:
    """Observatory location from common keywords (SITELAT/SITELONG, LAT-OBS/LONG-OBS, OBSGEO-X/Y/Z)."""
    for lat_k, lon_k, elev_k in (
        ("SITELAT", "SITELONG", "SITEELEV"),
        ("LAT-OBS", "LONG-OBS", "ALT-OBS"),
        ("OBSLAT", "OBSLONG", "OBSALT"),
        ("LATITUDE", "LONGITUD", "ALTITUDE"),
    ):
        if lat_k in header and lon_k in header:
            with contextlib.suppress(ValueError, TypeError):
                lat = Angle(header[lat_k], unit=u.deg).deg
                lon = Angle(header[lon_k], unit=u.deg).wrap_at(180 * u.deg).deg
                return SiteLocation(float(lat), float(lon), _float(header.get(elev_k)) or 0.0)
    if all(k in header for k in ("OBSGEO-X", "OBSGEO-Y", "OBSGEO-Z")):
        loc = EarthLocation.from_geocentric(header["OBSGEO-X"], header["OBSGEO-Y"], header["OBSGEO-Z"], unit=u.m)
        return SiteLocation(float(loc.lat.deg), float(loc.lon.deg), float(loc.height.to_value(u.m)))
    return None


def header_pointing(header: fits.Header) -> tuple[float | None, float | None]:
    """Telescope pointing (deg) from OBJCTRA/OBJCTDEC (sexagesimal hours/deg) or RA/DEC or CRVAL of a WCS."""
    for ra_k, dec_k in (("OBJCTRA", "OBJCTDEC"), ("RA", "DEC"), ("RA_OBJ", "DEC_OBJ"), ("TELRA", "TELDEC")):
        if ra_k in header and dec_k in header:
            ra, dec = header[ra_k], header[dec_k]
            with contextlib.suppress(ValueError, TypeError):
                if isinstance(ra, str) and (":" in ra or " " in ra.strip()):
                    c = SkyCoord(ra, dec, unit=(u.hourangle, u.deg))
                    return float(c.ra.deg), float(c.dec.deg)
                return float(ra) % 360.0, float(dec)
    return None, None


def celestial_wcs(header: fits.Header) -> WCS | None:
    """The header's celestial WCS if it has one with RA/Dec axes, else None (no judgement of its quality)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (FITSFixedWarning, AstropyWarning))
        try:
            w = WCS(header, naxis=2, relax=True)
        except Exception:
            return None
    if not w.has_celestial:
        return None
    return w.celestial


def pixel_scale_arcsec(header: fits.Header, wcs: WCS | None = None) -> float | None:
    if wcs is not None:
        with contextlib.suppress(Exception):
            from astropy.wcs.utils import proj_plane_pixel_scales

            return float(np.sqrt(np.prod(proj_plane_pixel_scales(wcs))) * 3600.0)
    focal = _float(header.get("FOCALLEN"))
    pix_um = _float(_first(header, ("XPIXSZ", "PIXSIZE1", "PIXSIZE")))
    if focal and pix_um:
        return 206.265 * pix_um / focal  # XPIXSZ is usually binned already (MaxIm DL convention)
    return None


def barycentric_time(t_mid: Time, target: SkyCoord, site: SiteLocation | None) -> float:
    """BJD_TDB of a mid-exposure time: TDB plus the light-travel time to the solar-system barycentre.

    Without a site the geocentre is used (error < 21 ms, the Earth's radius in light travel time).
    """
    loc = site.earth_location() if site is not None else EarthLocation.from_geocentric(0, 0, 0, unit=u.m)
    t = Time(t_mid, location=loc)
    ltt = t.light_travel_time(target, kind="barycentric")
    return float((t.tdb + ltt).jd)


def frame_metadata(
    header: fits.Header,
    *,
    site: SiteLocation | None = None,
    target_ra_deg: float | None = None,
    target_dec_deg: float | None = None,
) -> FrameMetadata:
    """Everything the pipeline needs from a header. The site given wins over the header's; the target's RA/Dec
    (for BJD) defaults to the pointing keywords."""
    exposure = _float(_first(header, EXPOSURE_KEYWORDS))
    t_mid, time_source = mid_exposure_time(header, exposure)
    site = site or header_site(header)
    ra_p, dec_p = header_pointing(header)
    wcs = celestial_wcs(header)
    bjd = None
    ra_t = target_ra_deg if target_ra_deg is not None else ra_p
    dec_t = target_dec_deg if target_dec_deg is not None else dec_p
    if t_mid is not None and ra_t is not None and dec_t is not None:
        bjd = barycentric_time(t_mid, SkyCoord(ra_t * u.deg, dec_t * u.deg), site)
    filt = _first(header, FILTER_KEYWORDS)
    xbin = int(_float(_first(header, ("XBINNING", "BINX", "CCDXBIN"))) or 1)
    ybin = int(_float(_first(header, ("YBINNING", "BINY", "CCDYBIN"))) or xbin)
    if "CCDSUM" in header:
        with contextlib.suppress(ValueError):
            xbin, ybin = (int(v) for v in str(header["CCDSUM"]).split()[:2])
    return FrameMetadata(
        observed_at=t_mid.to_datetime(timezone=UTC) if t_mid is not None else None,
        mjd_mid_utc=float(t_mid.mjd) if t_mid is not None else None,
        bjd_tdb=bjd,
        exposure_sec=exposure,
        filter=str(filt).strip() if filt is not None else None,
        binning=(xbin, ybin),
        airmass=_float(_first(header, ("AIRMASS", "SECZ"))),
        gain_e_per_adu=_float(_first(header, ("GAIN", "EGAIN", "CCDGAIN"))),
        read_noise_e=_float(_first(header, ("RDNOISE", "READNOIS", "RON", "READNOISE"))),
        saturation_adu=saturation_level(header),
        ccd_temp_c=_float(_first(header, ("CCD-TEMP", "CCDTEMP", "SET-TEMP", "DET-TEMP"))),
        image_type=str(header.get("IMAGETYP", "")).strip() or None,
        pointing_ra_deg=ra_p,
        pointing_dec_deg=dec_p,
        pixel_scale_arcsec=pixel_scale_arcsec(header, wcs),
        site=site,
        time_source=time_source,
        has_wcs=wcs is not None,
        missing_keywords=missing_keywords(header),
    )


def saturation_level(header: fits.Header) -> float | None:
    """SATURATE/DATAMAX if given, else the full scale of an integer detector (BITPIX 16 + BZERO 32768 = 65535)."""
    v = _float(_first(header, ("SATURATE", "SATLEVEL", "MAXLIN")))
    if v:
        return v
    bitpix = header.get("BITPIX")
    if bitpix == 16:
        bscale = _float(header.get("BSCALE")) or 1.0
        bzero = _float(header.get("BZERO")) or 0.0
        return 32767 * bscale + bzero
    if bitpix == 8:
        return 255.0
    return None
