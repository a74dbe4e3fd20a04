"""The vectorised geometry against astropy's own transforms (refraction off)."""

import datetime as dt
import math
import subprocess
import sys

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import AltAz, EarthLocation, HADec, SkyCoord, get_body
from astropy.time import Time
from astropy.utils import iers

from targets.sky.catalog import TargetArrays
from targets.sky.geometry import hours_until_altitude, positions, sin_altitude, site_frame

iers.conf.auto_download = False
iers.conf.auto_max_age = None

ARCMIN = 1.0 / 60.0

SITES = [
    pytest.param(34.05, -118.24, 100.0, id="los-angeles"),
    pytest.param(-30.17, -70.80, 2200.0, id="chile"),
    pytest.param(-33.87, 151.21, 50.0, id="sydney"),
    pytest.param(89.7, 12.0, 0.0, id="near-north-pole"),
    pytest.param(-89.9, 139.27, 2835.0, id="south-pole"),
    pytest.param(-17.7, 179.95, 10.0, id="fiji-date-line-east"),
    pytest.param(65.5, -179.9, 10.0, id="chukotka-date-line-west"),
    pytest.param(0.0, 0.0, 0.0, id="equator-greenwich"),
]
TIMES = [
    dt.datetime(2026, 11, 25, 3, 17, 12, tzinfo=dt.UTC),
    dt.datetime(2031, 6, 21, 22, 0, tzinfo=dt.UTC),
    dt.datetime(2019, 1, 1, 0, 0, tzinfo=dt.UTC),
]


def random_sky(n: int, seed: int) -> TargetArrays:
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    dec[:4] = [90.0, -90.0, 89.99, -89.99]  # the poles themselves
    return TargetArrays.build(list(range(n)), ra, dec)


def astropy_altaz(targets: TargetArrays, lat: float, lon: float, elev: float, at: dt.datetime) -> SkyCoord:
    loc = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, elev * u.m)
    frame = AltAz(obstime=Time(at), location=loc, pressure=0 * u.hPa)
    return SkyCoord(targets.ra_deg * u.deg, targets.dec_deg * u.deg).transform_to(frame)


@pytest.mark.parametrize(("lat", "lon", "elev"), SITES)
@pytest.mark.parametrize("at", TIMES, ids=lambda t: t.strftime("%Y%m%d"))
def test_altitude_and_azimuth_agree_with_astropy_within_one_arcminute(lat, lon, elev, at):
    targets = random_sky(3000, seed=int(abs(lat * 100 + lon)))
    frame = site_frame(lat, lon, elev, at)
    ours = positions(frame, targets.unit_xyz)
    ref = astropy_altaz(targets, lat, lon, elev, at)

    d_alt = np.abs(ours.altitude_deg - ref.alt.deg)
    assert d_alt.max() < ARCMIN / 4  # every target, not only those above 20 deg
    above = ref.alt.deg > 20
    assert np.all(d_alt[above] < ARCMIN)
    # Azimuth on the sky (scaled by cos alt: at the zenith azimuth is undefined).
    d_az = np.abs((ours.azimuth_deg - ref.az.deg + 180) % 360 - 180) * np.cos(np.radians(ref.alt.deg))
    assert d_az.max() < ARCMIN / 4
    # The cheap first pass (sin alt by one dot product) is the same altitude.
    fast = np.degrees(np.arcsin(sin_altitude(frame, targets.unit_xyz)))
    np.testing.assert_allclose(fast, ours.altitude_deg, atol=1e-6)


@pytest.mark.parametrize(("lat", "lon", "elev"), SITES[:3] + SITES[5:6])
def test_hour_angle_agrees_with_astropy_hadec(lat, lon, elev):
    at = TIMES[0]
    targets = random_sky(500, seed=3)
    ours = positions(site_frame(lat, lon, elev, at), targets.unit_xyz)
    loc = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, elev * u.m)
    ref = SkyCoord(targets.ra_deg * u.deg, targets.dec_deg * u.deg).transform_to(
        HADec(obstime=Time(at), location=loc, pressure=0 * u.hPa)
    )
    ok = np.abs(ref.dec.deg) < 85  # hour angle is ill-defined at the pole
    d_ha = np.abs((ours.hour_angle_deg - ref.ha.deg + 180) % 360 - 180)[ok]
    assert d_ha.max() < ARCMIN
    assert np.abs(ours.dec_of_date_deg - ref.dec.deg).max() < ARCMIN / 4


def test_airmass_is_the_secant_of_the_zenith_distance():
    targets = random_sky(1000, seed=5)
    ours = positions(site_frame(34.0, -118.0, 0.0, TIMES[0]), targets.unit_xyz)
    up = ours.altitude_deg > 1
    np.testing.assert_allclose(ours.airmass[up], 1 / np.sin(np.radians(ours.altitude_deg[up])))
    assert np.all(np.isinf(ours.airmass[ours.altitude_deg <= 0]))


@pytest.mark.parametrize(("lat", "lon", "elev"), SITES[:3] + SITES[5:7])
def test_sun_and_moon_agree_with_astropy_get_body(lat, lon, elev):
    from astroplan import moon_illumination

    at = TIMES[0]
    frame = site_frame(lat, lon, elev, at)
    loc = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, elev * u.m)
    altaz = AltAz(obstime=Time(at), location=loc, pressure=0 * u.hPa)
    sun = get_body("sun", Time(at), loc).transform_to(altaz)
    moon = get_body("moon", Time(at), loc).transform_to(altaz)
    assert abs(frame.sun_alt_deg - sun.alt.deg) < ARCMIN
    assert abs(frame.moon_alt_deg - moon.alt.deg) < ARCMIN
    assert abs((frame.moon_az_deg - moon.az.deg + 180) % 360 - 180) * math.cos(math.radians(moon.alt.deg)) < ARCMIN
    assert frame.moon_illumination == pytest.approx(moon_illumination(Time(at)), abs=1e-3)


@pytest.mark.parametrize(("lat", "lon", "limit"), [(34.05, -118.24, -12.0), (-30.17, -70.8, -18.0), (60.0, 25.0, -6.0)])
def test_night_end_is_when_the_sun_climbs_through_the_twilight_limit(lat, lon, limit):
    loc = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, 0 * u.m)
    # Local midnight, roughly: 0h local mean time.
    start = dt.datetime(2026, 11, 25, tzinfo=dt.UTC) - dt.timedelta(hours=lon / 15.0)
    frame = site_frame(lat, lon, 0.0, start)
    end = frame.night_end_s(limit)
    t = Time(end, format="unix")
    sun_then = get_body("sun", t, loc).transform_to(AltAz(obstime=t, location=loc, pressure=0 * u.hPa))
    # The Sun climbs about 0.25 deg a minute at most; within 0.1 deg is within a minute or so.
    assert abs(sun_then.alt.deg - limit) < 0.1
    assert end > frame.unix_s


def test_hours_until_altitude_matches_astropy_setting_time():
    lat, lon = 34.05, -118.24
    at = TIMES[0]
    targets = random_sky(400, seed=9)
    frame = site_frame(lat, lon, 0.0, at)
    p = positions(frame, targets.unit_xyz)
    up = (p.altitude_deg > 35) & (p.hour_angle_deg > -150)
    hours = hours_until_altitude(p.hour_angle_deg[up], p.dec_of_date_deg[up], lat, 30.0)
    finite = np.isfinite(hours) & (hours < 10)
    sub = TargetArrays.build(list(range(int(finite.sum()))), targets.ra_deg[up][finite], targets.dec_deg[up][finite])
    later = at + dt.timedelta(0)
    loc = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, 0 * u.m)
    t_set = Time(later) + hours[finite] * u.hour
    ref = SkyCoord(sub.ra_deg * u.deg, sub.dec_deg * u.deg).transform_to(
        AltAz(obstime=t_set, location=loc, pressure=0 * u.hPa)
    )
    # At the predicted setting time each target stands at 30 deg (to ~1 minute of time).
    assert np.abs(ref.alt.deg - 30.0).max() < 0.3


def test_dec_slice_keeps_every_target_that_can_reach_the_limit():
    targets = random_sky(20000, seed=11)
    for lat in (-89.0, -45.0, 0.0, 34.0, 70.0, 90.0):
        for limit in (0.0, 20.0, 45.0):
            sl = targets.dec_slice(lat, limit)
            culmination = 90 - np.abs(lat - targets.dec_deg)
            inside = np.zeros(len(targets), dtype=bool)
            inside[sl] = True
            assert not np.any((culmination >= limit) & ~inside)
            assert np.all(culmination[inside] >= limit - 1.01)


def test_site_frame_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="naive"):
        site_frame(0.0, 0.0, 0.0, dt.datetime(2026, 1, 1))  # noqa: DTZ001


def test_science_modules_do_not_import_django():
    code = "import sys, targets.sky; assert 'django' not in sys.modules, 'targets.sky imported django'"
    subprocess.run([sys.executable, "-c", code], check=True)
