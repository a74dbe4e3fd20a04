"""Helpers shared by the tests."""

from __future__ import annotations

from datetime import UTC, datetime

from astropy import units as u
from astropy.coordinates import EarthLocation
from astropy.time import Time

import obsclient  # noqa: F401  (importing the package keeps astropy offline: no IERS downloads)


def overhead_position(latitude: float, longitude: float, when: datetime | None = None) -> tuple[float, float]:
    """RA/Dec that is on the meridian, 20° south of the zenith (or north in the south), right now."""
    time = Time(when or datetime.now(UTC))
    lst = time.sidereal_time("apparent", longitude=EarthLocation.from_geodetic(longitude * u.deg, latitude * u.deg).lon)
    dec = latitude - 20 if latitude > -50 else latitude + 20
    return float(lst.deg), float(dec)
