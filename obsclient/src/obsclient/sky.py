"""Where things are in the local sky: the local check that a target can really be observed now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_sun
from astropy.time import Time

from obsclient.config import SiteConfig


@dataclass(frozen=True)
class Position:
    altitude_deg: float
    azimuth_deg: float

    @property
    def airmass(self) -> float | None:
        # Plane-parallel sec z is good to 1% above 20° altitude, which is all a site observes at.
        if self.altitude_deg <= 0:
            return None
        return float(1 / np.sin(np.radians(self.altitude_deg)))


def location(site: SiteConfig) -> EarthLocation:
    return EarthLocation.from_geodetic(
        lon=site.longitude * u.deg, lat=site.latitude * u.deg, height=site.elevation_m * u.m
    )


def position(site: SiteConfig, ra_deg: float, dec_deg: float, when: datetime) -> Position:
    """Geometric altitude and azimuth (no refraction, as the server computes them)."""
    frame = AltAz(obstime=Time(when), location=location(site))
    altaz = SkyCoord(ra=ra_deg * u.deg, dec=dec_deg * u.deg, frame="icrs").transform_to(frame)
    return Position(altitude_deg=float(altaz.alt.deg), azimuth_deg=float(altaz.az.deg))


def sun_altitude_deg(site: SiteConfig, when: datetime) -> float:
    time = Time(when)
    return float(get_sun(time).transform_to(AltAz(obstime=time, location=location(site))).alt.deg)


def altitude_limit_deg(site: SiteConfig, azimuth_deg: float) -> float:
    """The lowest altitude allowed at this azimuth: the site minimum or the horizon mask, whichever is higher."""
    if not site.horizon:
        return site.min_altitude_deg
    azimuths = np.array([a for a, _ in site.horizon])
    altitudes = np.array([h for _, h in site.horizon])
    # Wrap the mask around north so interpolation between the last and first point works.
    azimuths = np.concatenate([azimuths - 360, azimuths, azimuths + 360])
    altitudes = np.concatenate([altitudes, altitudes, altitudes])
    mask = float(np.interp(azimuth_deg % 360, azimuths, altitudes))
    return max(site.min_altitude_deg, mask)
