"""Where things are in one site's sky at one instant, for every target at once.

The time-dependent part is done once per request with astropy's time scales and
the ERFA routines astropy itself is built on:

* ``Time`` gives TT; UT1-UTC comes from astropy's bundled IERS table (read once,
  interpolated with numpy — asking astropy for ``.ut1`` costs ~6 ms a call);
* ``erfa.c2i06a`` is the GCRS→CIRS matrix (frame bias, precession, nutation,
  IAU 2006/2000A), ``erfa.era00`` the Earth rotation angle; polar motion
  (< 0.5 arcsec) is ignored;
* ``erfa.epv00`` gives the Earth's barycentric velocity for annual aberration
  and the Sun's direction; ``erfa.moon98`` the Moon (these are exactly what
  astropy's builtin ephemeris uses in ``get_body``, called directly so they
  cost microseconds instead of milliseconds).

All of that collapses into one 3*3 matrix from ICRS to the local
east/north/up frame and one aberration vector; every target then costs a
few multiply-adds.  Altitudes are geometric (no refraction), azimuth runs from
north through east, and both agree with astropy's ``AltAz`` (pressure 0) to a
few arcseconds (the tests hold them to 1 arcmin).  Nothing here may import Django.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass

import erfa
import numpy as np
from astropy.time import Time
from astropy.utils import iers
from numpy.typing import NDArray

iers.conf.auto_download = False
iers.conf.auto_max_age = None

FloatArray = NDArray[np.float64]

C_AU_PER_DAY = 173.1446326742403  # speed of light in au/day
AU_M = 1.495978707e11
DEG = math.pi / 180.0
SIDEREAL_DEG_PER_HOUR = 15.041068640  # Earth rotation rate against the stars


@functools.lru_cache(maxsize=1)
def _ut1_utc_table() -> tuple[FloatArray, FloatArray]:
    """MJD and UT1-UTC (s) from the IERS tables bundled with astropy (no download)."""
    try:
        table = iers.earth_orientation_table.get()
        mjd = np.asarray(table["MJD"].to_value("d"), dtype=np.float64)
        dut1 = np.asarray(table["UT1_UTC"].to_value("s"), dtype=np.float64)
        ok = np.isfinite(dut1)
        return mjd[ok], dut1[ok]
    except Exception:  # no table at all: UT1 = UTC costs at most 0.9 s, i.e. 14 arcsec of rotation
        return np.array([0.0]), np.array([0.0])


def ut1_minus_utc_s(mjd_utc: float) -> float:
    mjd, dut1 = _ut1_utc_table()
    return float(np.interp(mjd_utc, mjd, dut1))


def _as_unix_s(at: dt.datetime | float) -> float:
    if isinstance(at, dt.datetime):
        if at.tzinfo is None:
            raise ValueError("naive datetime: times must carry an explicit UTC offset")
        return at.timestamp()
    return float(at)


@dataclass(frozen=True)
class SiteFrame:
    """The site's local frame at one instant, and the Sun and the Moon in it.

    ``icrs_to_enu`` maps an aberrated ICRS direction to (east, north, up).
    """

    unix_s: float
    latitude_deg: float
    longitude_deg: float
    icrs_to_enu: FloatArray  # (3, 3)
    icrs_to_tirs: FloatArray  # (3, 3) ICRS → terrestrial (for hour angle and declination of date)
    beta: FloatArray  # (3,) Earth's barycentric velocity / c, ICRS axes
    earth_bary_au: FloatArray  # (3,) for the light-time (BJD) correction
    tt_minus_utc_s: float
    sun_alt_deg: float
    sun_dec_deg: float  # of date
    sun_ha_deg: float
    moon_alt_deg: float
    moon_az_deg: float
    moon_unit_icrs: FloatArray  # (3,) topocentric direction of the Moon, ICRS axes
    moon_illumination: float  # illuminated fraction 0..1

    def night_end_s(self, twilight_sun_altitude_deg: float, max_hours: float = 24.0) -> float:
        """When the Sun next rises through ``twilight_sun_altitude_deg`` (Unix s).

        Analytic from the Sun's hour angle, refined once with the Sun's place at
        the first estimate (its declination drifts up to 0.4° a day).  If the Sun
        never climbs that high (polar night) the night lasts ``max_hours``.
        """
        h_rise = _hour_angle_at_altitude(twilight_sun_altitude_deg, self.latitude_deg, self.sun_dec_deg)
        if h_rise <= 0.0:  # the Sun never climbs to the limit: polar night
            return self.unix_s + max_hours * 3600.0
        if h_rise >= 180.0:  # the Sun never sinks below the limit: no night at all
            return self.unix_s
        # The Sun rises through the limit at hour angle -h_rise; its hour angle grows 15°/h.
        end = self.unix_s + ((-h_rise - self.sun_ha_deg) % 360.0) / 15.0 * 3600.0
        later = site_frame(self.latitude_deg, self.longitude_deg, 0.0, end, with_moon=False)
        h_rise = _hour_angle_at_altitude(twilight_sun_altitude_deg, self.latitude_deg, later.sun_dec_deg)
        if 0.0 < h_rise < 180.0:
            end += ((-h_rise - later.sun_ha_deg + 180.0) % 360.0 - 180.0) / 15.0 * 3600.0
        return min(end, self.unix_s + max_hours * 3600.0)


def _hour_angle_at_altitude(alt_deg: float, lat_deg: float, dec_deg: float) -> float:
    """|H| (deg) at which a body of declination δ stands at altitude h.

    180 if it is always above h (it never sets below it), 0 if it never reaches h.
    """
    phi, delta = lat_deg * DEG, dec_deg * DEG
    denom = math.cos(phi) * math.cos(delta)
    num = math.sin(alt_deg * DEG) - math.sin(phi) * math.sin(delta)
    if abs(denom) < 1e-12:
        return 180.0 if num <= 0 else 0.0
    c = num / denom
    if c <= -1.0:
        return 180.0  # always above
    if c >= 1.0:
        return 0.0  # never reaches it
    return math.degrees(math.acos(c))


def _enu_of_itrs(lat_deg: float, lon_deg: float) -> FloatArray:
    phi, lam = lat_deg * DEG, lon_deg * DEG
    sp, cp, sl, cl = math.sin(phi), math.cos(phi), math.sin(lam), math.cos(lam)
    return np.array([[-sl, cl, 0.0], [-sp * cl, -sp * sl, cp], [cp * cl, cp * sl, sp]])


def _aberrate(u: FloatArray, beta: FloatArray) -> FloatArray:
    v = u + beta
    return v / np.linalg.norm(v)


@functools.lru_cache(maxsize=4096)
def tt_minus_utc_s(utc_day: int) -> float:
    """TT - UTC (s) on a UTC day (days since 1970): astropy's leap-second table, asked once a day."""
    t = Time(utc_day * 86400.0 + 43200.0, format="unix", scale="utc")
    tt = t.tt
    return float(((tt.jd1 - t.jd1) + (tt.jd2 - t.jd2)) * 86400.0)


@dataclass(frozen=True)
class _Epoch:
    """The part of the sky that depends on the instant only, shared by every site."""

    c2t: FloatArray  # GCRS -> ITRS
    beta: FloatArray
    earth_bary_au: FloatArray
    earth_helio_au: FloatArray
    sun_u: FloatArray  # aberrated geocentric direction of the Sun
    moon_geo_au: FloatArray  # GCRS
    tt_minus_utc_s: float


@functools.lru_cache(maxsize=64)
def _epoch(unix_s: float) -> _Epoch:
    tt_utc = tt_minus_utc_s(math.floor(unix_s / 86400.0))
    jd_tt = 2440587.5 + (unix_s + tt_utc) / 86400.0
    tt1 = math.floor(jd_tt - 0.5) + 0.5
    tt2 = jd_tt - tt1
    jd_ut1 = 2440587.5 + (unix_s + ut1_minus_utc_s(unix_s / 86400.0 + 40587.0)) / 86400.0
    ut1_1 = math.floor(jd_ut1 - 0.5) + 0.5
    ut1_2 = jd_ut1 - ut1_1

    c2i = erfa.c2i06a(tt1, tt2)
    era = erfa.era00(ut1_1, ut1_2)
    c2t = erfa.c2tcio(c2i, era, np.eye(3))  # polar motion (< 0.5 arcsec) neglected
    pvh, pvb = erfa.epv00(tt1, tt2)
    beta = np.asarray(pvb["v"], dtype=np.float64) / C_AU_PER_DAY
    earth_helio = np.asarray(pvh["p"], dtype=np.float64)
    # The Sun's geocentric direction, aberrated like the stars (its 9 arcsec parallax is ignored).
    sun_u = _aberrate(-earth_helio / np.linalg.norm(earth_helio), beta)
    moon_geo = np.asarray(erfa.moon98(tt1, tt2)["p"], dtype=np.float64)
    return _Epoch(c2t, beta, np.asarray(pvb["p"], dtype=np.float64), earth_helio, sun_u, moon_geo, tt_utc)


def site_frame(
    latitude_deg: float,
    longitude_deg: float,
    elevation_m: float,
    at: dt.datetime | float,
    *,
    with_moon: bool = True,
) -> SiteFrame:
    """Everything time-dependent for one site and one instant (aware datetime or Unix s).

    The instant's part (precession-nutation, Earth rotation angle, the Earth's
    velocity, the Sun and the Moon) is computed once per instant and shared by
    all sites asking about it, which is what the network plan does.
    """
    unix_s = _as_unix_s(at)
    ep = _epoch(unix_s)
    c2t, beta = ep.c2t, ep.beta
    enu = _enu_of_itrs(latitude_deg, longitude_deg)
    icrs_to_enu = enu @ c2t
    earth_bary, earth_helio, tt_minus_utc = ep.earth_bary_au, ep.earth_helio_au, ep.tt_minus_utc_s

    sun_u = ep.sun_u
    sun_enu = icrs_to_enu @ sun_u
    sun_tirs = c2t @ sun_u
    sun_alt = math.degrees(math.asin(max(-1.0, min(1.0, sun_enu[2]))))
    sun_dec = math.degrees(math.asin(max(-1.0, min(1.0, sun_tirs[2]))))
    sun_ha = (longitude_deg - math.degrees(math.atan2(sun_tirs[1], sun_tirs[0]))) % 360.0

    moon_alt = moon_az = float("nan")
    moon_u = np.array([np.nan, np.nan, np.nan])
    illum = 0.0
    if with_moon:
        moon_geo_au = ep.moon_geo_au
        site_itrs_m = erfa.gd2gc(1, longitude_deg * DEG, latitude_deg * DEG, elevation_m)
        site_gcrs_au = c2t.T @ (np.asarray(site_itrs_m) / AU_M)
        moon_topo = moon_geo_au - site_gcrs_au  # parallax matters: up to 1°
        moon_u = _aberrate(moon_topo / np.linalg.norm(moon_topo), beta)
        m_enu = icrs_to_enu @ moon_u
        moon_alt = math.degrees(math.asin(max(-1.0, min(1.0, m_enu[2]))))
        moon_az = math.degrees(math.atan2(m_enu[0], m_enu[1])) % 360.0
        # Illuminated fraction from the Sun-Moon elongation and distances (as astroplan does).
        sun_geo = -earth_helio
        d_sun, d_moon = np.linalg.norm(sun_geo), np.linalg.norm(moon_geo_au)
        cos_elong = float(np.dot(sun_geo, moon_geo_au) / (d_sun * d_moon))
        elong = math.acos(max(-1.0, min(1.0, cos_elong)))
        phase = math.atan2(d_sun * math.sin(elong), d_moon - d_sun * math.cos(elong))
        illum = (1.0 + math.cos(phase)) / 2.0

    return SiteFrame(
        unix_s=unix_s,
        latitude_deg=latitude_deg,
        longitude_deg=longitude_deg,
        icrs_to_enu=icrs_to_enu,
        icrs_to_tirs=c2t,
        beta=beta,
        earth_bary_au=earth_bary,
        tt_minus_utc_s=tt_minus_utc,
        sun_alt_deg=sun_alt,
        sun_dec_deg=sun_dec,
        sun_ha_deg=sun_ha,
        moon_alt_deg=moon_alt,
        moon_az_deg=moon_az,
        moon_unit_icrs=moon_u,
        moon_illumination=illum,
    )


# Products with (3, n) arrays go through einsum, not BLAS: OpenBLAS spreads even a 3x3 product over
# threads, which is slower for arrays this size and fights the plan's own worker threads.
def dot3(vector: FloatArray, unit_xyz: FloatArray) -> FloatArray:
    """``vector @ unit_xyz`` for a (3,) vector and (3, n) columns, without BLAS."""
    return np.einsum("i,in->n", vector, unit_xyz)


def rotate3(matrix: FloatArray, unit_xyz: FloatArray) -> FloatArray:
    """``matrix @ unit_xyz`` for a (3, 3) matrix and (3, n) columns, without BLAS."""
    return np.einsum("ij,jn->in", matrix, unit_xyz)


def sin_altitude(frame: SiteFrame, unit_xyz: FloatArray) -> FloatArray:
    """sin(altitude) of ICRS unit vectors ``(3, n)``: one dot product per target.

    Aberration shifts a direction u to (u + β)/|u + β|; |u + β|² = 1 + 2u·β + β².
    """
    up = frame.icrs_to_enu[2]
    z = dot3(up, unit_xyz) + float(up @ frame.beta)
    norm2 = 1.0 + 2.0 * dot3(frame.beta, unit_xyz) + float(frame.beta @ frame.beta)
    return z / np.sqrt(norm2)


@dataclass(frozen=True)
class SkyPositions:
    altitude_deg: FloatArray
    azimuth_deg: FloatArray
    hour_angle_deg: FloatArray  # -180..180, positive west of the meridian
    dec_of_date_deg: FloatArray
    airmass: FloatArray  # sec z (inf at and below the horizon)
    unit_aberrated: FloatArray  # (3, n) apparent direction, ICRS axes


def apparent(frame: SiteFrame, unit_xyz: FloatArray) -> FloatArray:
    """Aberrated directions (3, n), ICRS axes: (u + beta) / |u + beta|."""
    v = unit_xyz + frame.beta[:, None]
    v /= np.sqrt(np.einsum("ij,ij->j", v, v))
    return v


def local_enu(frame: SiteFrame, apparent_xyz: FloatArray) -> FloatArray:
    """East, north, up components (3, n) of apparent directions."""
    return rotate3(frame.icrs_to_enu, apparent_xyz)


def azimuth_deg(east: FloatArray, north: FloatArray) -> FloatArray:
    return np.degrees(np.arctan2(east, north)) % 360.0


def hour_angle_dec_deg(
    frame: SiteFrame, east: FloatArray, north: FloatArray, up: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Hour angle (-180..180, positive west) and declination of date from local components.

    The local frame is the terrestrial one turned by the site's latitude phi, so
    sin(dec) = cos(phi) N + sin(phi) U and the hour angle is atan2(-E, cos(phi) U - sin(phi) N).
    """
    sp, cp = math.sin(math.radians(frame.latitude_deg)), math.cos(math.radians(frame.latitude_deg))
    ha = np.degrees(np.arctan2(-east, cp * up - sp * north))
    dec = np.degrees(np.arcsin(np.clip(cp * north + sp * up, -1.0, 1.0)))
    return ha, dec


def airmass_of(up: FloatArray) -> FloatArray:
    """sec z from sin(altitude); inf at and below the horizon."""
    with np.errstate(divide="ignore"):
        return np.where(up > 0, 1.0 / np.where(up > 0, up, 1.0), np.inf)


def positions(frame: SiteFrame, unit_xyz: FloatArray) -> SkyPositions:
    """Altitude, azimuth, hour angle, declination of date and airmass of ``(3, n)`` ICRS unit vectors."""
    v = apparent(frame, unit_xyz)
    east, north, up = local_enu(frame, v)
    alt = np.degrees(np.arcsin(np.clip(up, -1.0, 1.0)))
    ha, dec = hour_angle_dec_deg(frame, east, north, up)
    return SkyPositions(alt, azimuth_deg(east, north), ha, dec, airmass_of(up), v)


def altaz_from_hadec(
    hour_angle_deg: FloatArray, dec_deg: FloatArray, latitude_deg: float
) -> tuple[FloatArray, FloatArray]:
    """Altitude and azimuth (deg) from hour angle and declination of date; broadcasts."""
    h, d, phi = np.radians(hour_angle_deg), np.radians(dec_deg), math.radians(latitude_deg)
    sd, cd, ch = np.sin(d), np.cos(d), np.cos(h)
    sin_alt = sd * math.sin(phi) + cd * ch * math.cos(phi)
    east = -cd * np.sin(h)
    north = sd * math.cos(phi) - cd * ch * math.sin(phi)
    alt = np.degrees(np.arcsin(np.clip(sin_alt, -1.0, 1.0)))
    az = np.degrees(np.arctan2(east, north)) % 360.0
    return alt, az


def hours_until_altitude(
    hour_angle_deg: FloatArray, dec_deg: FloatArray, latitude_deg: float, limit_deg: FloatArray | float
) -> FloatArray:
    """Hours until each target sinks below ``limit_deg`` (inf if it never does; 0 if below now).

    From cos H = (sin h - sin φ sin δ)/(cos φ cos δ): the target sets at H = +H_lim,
    and its hour angle grows at the sidereal rate.
    """
    phi = math.radians(latitude_deg)
    d = np.radians(dec_deg)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = (np.sin(np.radians(limit_deg)) - math.sin(phi) * np.sin(d)) / (math.cos(phi) * np.cos(d))
    h_lim = np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))
    hours = (h_lim - hour_angle_deg) / SIDEREAL_DEG_PER_HOUR
    hours = np.where(c <= -1.0, np.inf, hours)
    return np.where(hours < 0, 0.0, hours)


def angular_separation_deg(unit_xyz: FloatArray, other: FloatArray) -> FloatArray:
    """Angle (deg) between each column of ``(3, n)`` and one unit vector ``(3,)``."""
    return np.degrees(np.arccos(np.clip(dot3(other, unit_xyz), -1.0, 1.0)))
