"""Every constraint and every scoring rule of the per-site ranking, one behaviour per test."""

import datetime as dt
import math

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import ICRS, AltAz, EarthLocation, SkyCoord, get_body
from astropy.time import Time
from astropy.utils import iers

from targets.sky import HorizonMask, RankContext, SiteParams, TargetArrays, Weights, rank, rank_arrays
from targets.sky.geometry import site_frame

iers.conf.auto_download = False
iers.conf.auto_max_age = None

LAT, LON, ELEV = 34.05, -118.24, 100.0
DARK = dt.datetime(2026, 12, 9, 8, 0, tzinfo=dt.UTC)  # local midnight near new Moon: Moon down
FULL_MOON = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)  # Moon 82 deg up, 99 % lit
SITE = SiteParams(LAT, LON, ELEV, min_altitude_deg=20.0)


def radec_at(alt_az: list[tuple[float, float]], at: dt.datetime = DARK, lat: float = LAT, lon: float = LON):
    """ICRS (ra, dec) of the points standing at the given (alt, az) for the site at ``at``."""
    loc = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, ELEV * u.m)
    frame = AltAz(obstime=Time(at), location=loc, pressure=0 * u.hPa)
    alt, az = np.array(alt_az, dtype=float).T
    icrs = SkyCoord(alt=alt * u.deg, az=az * u.deg, frame=frame).transform_to(ICRS())
    return icrs.ra.deg, icrs.dec.deg


def catalog(alt_az, at=DARK, **columns) -> TargetArrays:
    ra, dec = radec_at(alt_az, at)
    ids = columns.pop("ids", [f"t{i}" for i in range(len(ra))])
    return TargetArrays.build(ids, ra, dec, **columns)


def listed(results) -> list:
    return [r.target_id for r in results]


def by_id(results) -> dict:
    return {r.target_id: r for r in results}


# --- geometry constraints -------------------------------------------------------------------------


def test_ranking_excludes_targets_below_horizon_mask():
    site = SiteParams(LAT, LON, ELEV, min_altitude_deg=20.0, horizon=[[0, 20], [90, 50], [180, 20], [270, 20]])
    # Both at 40 deg: the one in the east sits behind the 50-deg trees, the one in the south does not.
    targets = catalog([(40, 90), (40, 180), (45, 60)], ids=["east", "south", "northeast"])
    # At az 60 the mask is interpolated: 20 + (50 - 20) * 60/90 = 40 deg, so 45 deg is clear.
    assert sorted(listed(rank(site, targets, DARK))) == ["northeast", "south"]


def test_horizon_mask_interpolates_linearly_and_wraps_at_north():
    mask = HorizonMask([[10, 30], [350, 10], [180, 40]])
    assert mask.altitude_deg(0.0) == pytest.approx(20.0)  # halfway between 350 and 10 through north
    assert mask.altitude_deg(360.0) == pytest.approx(20.0)
    assert mask.altitude_deg(95.0) == pytest.approx(35.0)
    assert mask.limit_deg(np.array([0.0, 180.0]), 25.0).tolist() == [25.0, 40.0]
    assert HorizonMask(None).altitude_deg(123.0) == -90.0


def test_ranking_excludes_targets_below_site_min_altitude():
    targets = catalog([(25, 180), (35, 180)], ids=["low", "high"])
    site = SiteParams(LAT, LON, ELEV, min_altitude_deg=30.0)
    assert listed(rank(site, targets, DARK)) == ["high"]


def test_ranking_respects_the_targets_own_min_altitude():
    targets = catalog([(35, 180), (35, 170)], ids=["picky", "easy"], min_altitude_deg=[50.0, None])
    assert listed(rank(SITE, targets, DARK)) == ["easy"]


def test_every_listed_target_is_above_its_limit_per_astropy():
    rng = np.random.default_rng(42)
    n = 5000
    targets = TargetArrays.build(list(range(n)), rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n))))
    site = SiteParams(LAT, LON, ELEV, min_altitude_deg=25.0, horizon=[[0, 30], [120, 45], [240, 28]])
    result = rank(site, targets, DARK, count=500)
    assert len(result) == 500
    loc = EarthLocation.from_geodetic(LON * u.deg, LAT * u.deg, ELEV * u.m)
    rows = [r.index for r in result]
    ref = SkyCoord(targets.ra_deg[rows] * u.deg, targets.dec_deg[rows] * u.deg).transform_to(
        AltAz(obstime=Time(DARK), location=loc, pressure=0 * u.hPa)
    )
    limit = np.maximum(25.0, site.mask.altitude_deg(ref.az.deg))
    assert np.all(ref.alt.deg >= limit - 1 / 60)
    np.testing.assert_allclose([r.altitude_deg for r in result], ref.alt.deg, atol=1 / 60)


def test_ranking_applies_airmass_limit():
    targets = catalog([(25, 180), (60, 180)], ids=["airmass-2.37", "airmass-1.15"])
    site = SiteParams(LAT, LON, ELEV, min_altitude_deg=10.0, max_airmass=2.0)
    result = rank(site, targets, DARK)
    assert listed(result) == ["airmass-1.15"]
    assert result[0].airmass == pytest.approx(1 / math.sin(math.radians(60)), abs=1e-3)


def test_ranking_applies_hour_angle_limit():
    # East at 30 deg altitude is hours before the meridian; south at 60 deg is near it.
    targets = catalog([(30, 100), (60, 180)], ids=["rising", "meridian"])
    site = SiteParams(LAT, LON, ELEV, max_hour_angle_hours=2.0)
    result = rank(site, targets, DARK)
    assert listed(result) == ["meridian"]
    assert abs(result[0].hour_angle_hours) < 0.1


# --- twilight --------------------------------------------------------------------------------------


def _sun_crossing(limit_deg: float) -> dt.datetime:
    """When the Sun sinks through ``limit_deg`` at the site on the evening of 2026-12-08 (by astropy)."""
    loc = EarthLocation.from_geodetic(LON * u.deg, LAT * u.deg, ELEV * u.m)
    t = Time("2026-12-09T00:30:00") + np.arange(0, 240, 0.25) * u.min
    alt = get_body("sun", t, loc).transform_to(AltAz(obstime=t, location=loc, pressure=0 * u.hPa)).alt.deg
    i = int(np.flatnonzero(alt < limit_deg)[0])
    return t[i].to_datetime(timezone=dt.UTC)


@pytest.mark.parametrize("limit", [-12.0, -18.0])
def test_ranking_is_empty_until_the_sun_is_below_the_twilight_limit(limit):
    dusk = _sun_crossing(limit)
    site = SiteParams(LAT, LON, ELEV, twilight_sun_altitude_deg=limit)
    targets = catalog([(80, 0)], at=dusk)
    assert rank(site, targets, dusk - dt.timedelta(minutes=1)) == []
    assert len(rank(site, targets, dusk + dt.timedelta(minutes=1))) == 1


def test_default_twilight_limit_is_minus_twelve_degrees():
    assert SiteParams(0.0, 0.0).twilight_sun_altitude_deg == -12.0
    dusk = _sun_crossing(-12.0)
    targets = catalog([(80, 0)], at=dusk)
    assert rank(SiteParams(LAT, LON, ELEV), targets, dusk - dt.timedelta(minutes=1)) == []


# --- capabilities --------------------------------------------------------------------------------


def test_ranking_excludes_targets_whose_filters_the_site_lacks():
    targets = catalog(
        [(60, 180), (60, 170), (60, 160)],
        ids=["needs-B", "needs-R-or-V", "any"],
        filters=[["B"], ["R", "V"], []],
    )
    site = SiteParams(LAT, LON, ELEV, filters=("V", "Clear"))
    assert sorted(listed(rank(site, targets, DARK))) == ["any", "needs-R-or-V"]
    # A site that declares no filters is not checked.
    assert len(rank(SiteParams(LAT, LON, ELEV), targets, DARK)) == 3


def test_ranking_excludes_targets_fainter_than_the_limiting_magnitude():
    targets = catalog([(60, 180), (60, 170), (60, 160)], ids=["m14", "m17", "unknown"], magnitude=[14, 17, None])
    site = SiteParams(LAT, LON, ELEV, limiting_mag=16.0)
    assert sorted(listed(rank(site, targets, DARK))) == ["m14", "unknown"]


def test_moonlight_brightens_the_limiting_magnitude():
    # Far from the Moon (which stands near the zenith): only the sky brightness matters.
    targets = catalog([(30, 0), (30, 10)], at=FULL_MOON, ids=["m14", "m15.5"], magnitude=[14.0, 15.5])
    site = SiteParams(LAT, LON, ELEV, limiting_mag=16.0)
    assert sorted(listed(rank(site, targets, DARK))) == ["m14", "m15.5"]  # at new Moon both qualify
    assert listed(rank(site, targets, FULL_MOON)) == ["m14"]  # 16 - 1.5 * 0.99 = 14.5


def test_ranking_excludes_targets_needing_a_larger_field_of_view():
    targets = catalog([(60, 180), (60, 170)], ids=["wide", "small"], min_fov_arcmin=[60.0, 20.0])
    site = SiteParams(LAT, LON, ELEV, fov_arcmin=40.0)
    assert listed(rank(site, targets, DARK)) == ["small"]


def _near_moon(sep_deg: float, az_offset: float = 0.0) -> tuple[float, float]:
    frame = site_frame(LAT, LON, ELEV, FULL_MOON)
    return frame.moon_alt_deg - sep_deg, frame.moon_az_deg + az_offset


def test_moon_separation_depends_on_target_brightness():
    # 20 deg from a full Moon: fine for a 7th-magnitude star, not for a 15th-magnitude one.
    alt, az = _near_moon(20.0)
    targets = catalog([(alt, az), (alt, az)], at=FULL_MOON, ids=["bright", "faint"], magnitude=[7.0, 15.0])
    result = rank(SITE, targets, FULL_MOON)
    assert listed(result) == ["bright"]
    assert result[0].reasons["moon_separation_deg"] == pytest.approx(20.0, abs=0.2)
    # At new Moon the faint one is back.
    new_moon_targets = catalog([(60, 180)], ids=["faint"], magnitude=[15.0])
    assert listed(rank(SITE, new_moon_targets, DARK)) == ["faint"]


def test_moon_too_close_excludes_even_bright_targets():
    alt, az = _near_moon(5.0)
    targets = catalog([(alt, az)], at=FULL_MOON, magnitude=[5.0])
    assert rank(SITE, targets, FULL_MOON) == []


# --- time-critical -------------------------------------------------------------------------------


def test_expired_targets_are_excluded():
    targets = catalog(
        [(60, 180), (60, 170)], ids=["expired", "current"],
        expires_at=[DARK - dt.timedelta(minutes=1), DARK + dt.timedelta(days=1)],
    )  # fmt: skip
    assert listed(rank(SITE, targets, DARK)) == ["current"]


def test_target_past_its_window_is_excluded_and_inside_one_jumps_ahead():
    hour = dt.timedelta(hours=1)
    targets = catalog(
        [(60, 180), (60, 170), (60, 160), (60, 150)],
        ids=["past", "inside", "later", "plain"],
        priority=[5.0, 1.0, 1.0, 3.0],
        windows=[[(DARK - 3 * hour, DARK - hour, 3.0)], [(DARK - hour, DARK + hour, 3.0)],
                 [(DARK + 2 * hour, DARK + 3 * hour, 3.0)], []],
    )  # fmt: skip
    result = rank(SITE, targets, DARK)
    assert listed(result)[0] == "inside"
    assert "past" not in listed(result)
    assert by_id(result)["inside"].reasons["in_window"] is True
    assert by_id(result)["inside"].reasons["window_boost"] == 4.0
    assert by_id(result)["later"].reasons["in_window"] is False


# --- scoring rules ---------------------------------------------------------------------------------


def _pair(**columns) -> TargetArrays:
    """Two targets at the same altitude (60 deg, either side of the meridian): only the rule differs."""
    return catalog([(60, 170), (60, 190)], ids=["a", "b"], **columns)


def test_campaign_boost_raises_the_score():
    targets = _pair()
    ctx = RankContext(campaign_boost=np.where(targets.ids == "b", 2.0, 1.0))
    result = by_id(rank(SITE, targets, DARK, context=ctx))
    assert result["b"].score == pytest.approx(2 * result["a"].score, rel=1e-3)
    assert result["b"].reasons["campaign_boost"] == 2.0


def test_coverage_deficit_boosts_targets_behind_on_min_observations():
    targets = _pair(min_observations=[20, 20])
    ctx = RankContext(total_observations=np.where(targets.ids == "a", 20.0, 5.0))
    result = by_id(rank(SITE, targets, DARK, context=ctx))
    assert result["a"].reasons["coverage_deficit"] == 1.0
    assert result["b"].reasons["coverage_deficit"] == 1.75
    assert listed(rank(SITE, targets, DARK, context=ctx))[0] == "b"


def test_cadence_boosts_overdue_and_lowers_not_yet_due_targets():
    now = DARK.timestamp()
    targets = catalog([(60, 170), (60, 190), (60, 180)], ids=["due", "fresh", "never"], cadence_hours=[2, 2, 2])
    last = {"due": now - 3 * 3600, "fresh": now - 0.25 * 3600}
    ctx = RankContext(last_observed_any_s=targets.align(last))
    result = by_id(rank(SITE, targets, DARK, context=ctx))
    assert result["due"].reasons["cadence_factor"] == pytest.approx(1.5)
    assert result["fresh"].reasons["cadence_factor"] == pytest.approx(0.25)
    assert result["never"].reasons["cadence_factor"] == pytest.approx(2.0)


def test_recently_observed_by_this_site_is_penalised_unless_it_is_observing_it_now():
    now = DARK.timestamp()
    targets = _pair()
    ctx = RankContext(last_observed_here_s=targets.align({"a": now - 3600, "b": now - 5 * 3600}))
    result = by_id(rank(SITE, targets, DARK, context=ctx))
    assert result["a"].reasons["recently_observed"] is True
    assert result["a"].score == pytest.approx(0.25 * result["b"].score, rel=1e-3)
    assert result["b"].reasons["recently_observed"] is False
    # Continuity: the target the site is on right now keeps its place.
    ctx.current_row = targets.row_of("a")
    result = by_id(rank(SITE, targets, DARK, context=ctx))
    assert result["a"].reasons["recently_observed"] is False
    assert result["a"].reasons["continuity"] == 1.5


def test_recent_window_is_configurable():
    now = DARK.timestamp()
    targets = _pair()
    ctx = RankContext(last_observed_here_s=targets.align({"a": now - 3600}))
    result = by_id(rank(SITE, targets, DARK, context=ctx, weights=Weights(recent_hours=0.5)))
    assert result["a"].reasons["recently_observed"] is False


def test_network_coverage_in_last_24h_is_penalised():
    targets = _pair()
    ctx = RankContext(network_observations_24h=targets.align({"a": 5, "b": 1}, fill=0.0))
    result = by_id(rank(SITE, targets, DARK, context=ctx))
    assert result["a"].reasons["network_penalty"] == 0.5
    assert result["b"].reasons["network_penalty"] == 1.0


def test_higher_altitude_scores_higher_all_else_equal():
    targets = catalog([(30, 180), (75, 180)], ids=["low", "high"])
    result = rank(SITE, targets, DARK)
    assert listed(result) == ["high", "low"]
    assert result[0].reasons["altitude_factor"] == pytest.approx(0.5 + 0.5 * math.sin(math.radians(75)), abs=1e-3)


def test_reliability_scales_the_score():
    targets = _pair()
    good = rank(SITE, targets, DARK)
    shaky = rank(SiteParams(LAT, LON, ELEV, reliability=0.5), targets, DARK)
    assert shaky[0].score == pytest.approx(0.5 * good[0].score)


def test_reasons_multiply_to_the_score():
    now = DARK.timestamp()
    targets = catalog([(50, 150), (70, 200)], priority=[2.0, 3.0], cadence_hours=[4, None], min_observations=[10, 0])
    ctx = RankContext(
        last_observed_any_s=targets.align({"t0": now - 6 * 3600}),
        total_observations=targets.align({"t0": 3}, fill=0.0),
        campaign_boost=targets.align({"t0": 1.3}, fill=1.0),
        network_observations_24h=targets.align({"t1": 9}, fill=0.0),
    )
    names = [
        "priority", "campaign_boost", "window_boost", "coverage_deficit", "cadence_factor", "recent_penalty",
        "network_penalty", "altitude_factor", "moon_factor", "transit_factor", "automation_factor",
        "continuity", "reliability",
    ]  # fmt: skip
    for r in rank(SITE, targets, DARK, context=ctx):
        assert r.score == pytest.approx(math.prod(r.reasons[k] for k in names), rel=1e-3)


def test_eligible_mask_restricts_the_answer():
    targets = _pair()
    ctx = RankContext(eligible=targets.ids == "b")
    assert listed(rank(SITE, targets, DARK, context=ctx)) == ["b"]


def test_count_limits_the_answer_and_order_is_best_first():
    rng = np.random.default_rng(3)
    alt_az = [(float(a), float(z)) for a, z in zip(rng.uniform(30, 80, 50), rng.uniform(0, 360, 50), strict=True)]
    targets = catalog(alt_az, priority=rng.uniform(0, 5, 50))
    result = rank(SITE, targets, DARK, count=7)
    assert len(result) == 7
    scores = [r.score for r in result]
    assert scores == sorted(scores, reverse=True)
    everything = rank_arrays(SITE, targets, DARK)
    assert scores[0] == pytest.approx(everything.score.max())


# --- observable_until, transits, automation -------------------------------------------------------


def test_observable_until_is_when_the_target_sets_below_its_limit():
    site = SiteParams(LAT, LON, ELEV, min_altitude_deg=30.0, horizon=[[0, 30], [240, 30], [270, 45], [300, 30]])
    targets = catalog([(40, 220), (35, 0)], ids=["setting-west", "circumpolar"])
    result = by_id(rank(site, targets, DARK))
    until = result["setting-west"].observable_until
    loc = EarthLocation.from_geodetic(LON * u.deg, LAT * u.deg, ELEV * u.m)
    row = targets.row_of("setting-west")
    star = SkyCoord(targets.ra_deg[row] * u.deg, targets.dec_deg[row] * u.deg)
    t = Time(until) + np.array([-3.0, 3.0]) * u.min
    aa = star.transform_to(AltAz(obstime=t, location=loc, pressure=0 * u.hPa))
    limits = site.mask.limit_deg(aa.az.deg, 30.0)
    assert aa.alt.deg[0] > limits[0]  # still up three minutes before
    assert aa.alt.deg[1] < limits[1]  # gone three minutes after (the mask at 270 deg included)
    # A target that stays up all night is observable until the night ends.
    night_end = site_frame(LAT, LON, ELEV, DARK).night_end_s(-12.0)
    assert result["circumpolar"].observable_until.timestamp() == pytest.approx(night_end, abs=1)


def _transit_target(mid_offset_hours: float, duration_hours: float, alt_az=(70, 180)) -> TargetArrays:
    # Epoch in BJD_TDB so that a transit is centred mid_offset_hours after DARK (light time is < 8.5 min).
    jd_utc = 2440587.5 + DARK.timestamp() / 86400
    epoch = jd_utc + 69.184 / 86400 + mid_offset_hours / 24
    return catalog([alt_az, (70, 170)], ids=["planet", "star"], target_type=["exoplanet", "variable"],
                   transit_epoch_bjd=[epoch, None], transit_period_days=[3.0, None],
                   transit_duration_hours=[duration_hours, None])  # fmt: skip


def test_transit_bonus_only_when_the_whole_transit_fits_in_the_night():
    # Starts in ~15 min (with a 30-min baseline before ingress), ends well before dawn.
    fits = by_id(rank(SITE, _transit_target(1.75, 2.0), DARK))
    assert fits["planet"].reasons["transit_fits"] is True
    assert fits["planet"].reasons["transit_factor"] == 2.0
    end = DARK + dt.timedelta(hours=1.75 + 1.0 + 0.5)
    assert abs((fits["planet"].observable_until - end).total_seconds()) < 600  # light time at most 8.3 min
    # Same start, but a 12-hour transit runs past dawn: no bonus.
    too_long = by_id(rank(SITE, _transit_target(6.25, 12.0), DARK))
    assert too_long["planet"].reasons["transit_fits"] is False
    assert too_long["planet"].reasons["transit_factor"] == 1.0
    # A transit five hours away earns nothing now.
    later = by_id(rank(SITE, _transit_target(5.0, 2.0), DARK))
    assert later["planet"].reasons["transit_factor"] == 1.0


def test_transit_bonus_needs_the_target_to_stay_up():
    # Low in the west: it sets long before the transit ends.
    result = by_id(rank(SITE, _transit_target(1.75, 2.0, alt_az=(24, 260)), DARK))
    assert result["planet"].reasons["transit_fits"] is False


def test_manual_site_gets_fewer_longer_targets():
    rng = np.random.default_rng(8)
    n = 60
    targets = catalog(
        [(float(a), float(z)) for a, z in zip(rng.uniform(25, 85, n), rng.uniform(0, 360, n), strict=True)]
    )
    robotic = rank(SITE, targets, DARK, count=10)
    manual = rank(SiteParams(LAT, LON, ELEV, automation_level="manual"), targets, DARK, count=10)
    assert len(robotic) == 10
    assert len(manual) == 3
    hours_left = lambda rs: np.mean([(r.observable_until - DARK).total_seconds() / 3600 for r in rs])  # noqa: E731
    assert hours_left(manual) >= hours_left(robotic[:3])
    assert all(r.reasons["automation_factor"] <= 1.0 for r in manual)


def test_ranking_rejects_naive_times_and_unknown_automation_levels():
    with pytest.raises(ValueError, match="naive"):
        rank(SITE, _pair(), dt.datetime(2026, 12, 9, 8))  # noqa: DTZ001
    with pytest.raises(ValueError, match="automation_level"):
        SiteParams(0.0, 0.0, automation_level="telepathic")


def test_empty_catalogue_gives_an_empty_answer():
    targets = TargetArrays.build([], [], [])
    assert rank(SITE, targets, DARK) == []


def test_align_maps_ids_to_rows_whatever_the_input_order():
    targets = TargetArrays.build(["n", "s", "e"], [10.0, 20.0, 30.0], [60.0, -60.0, 0.0])
    assert targets.ids.tolist() == ["s", "e", "n"]  # sorted by declination
    aligned = targets.align({"n": 1.0, "e": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "unknown": 5.0})
    assert aligned[targets.row_of("n")] == 1.0
    assert aligned[targets.row_of("e")] == dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
    assert np.isnan(aligned[targets.row_of("s")])


def test_recent_penalty_window_shrinks_to_a_shorter_cadence():
    now = DARK.timestamp()
    targets = _pair(cadence_hours=[1.0, None])
    ctx = RankContext(last_observed_here_s=targets.align({"a": now - 2 * 3600, "b": now - 2 * 3600}))
    result = by_id(rank(SITE, targets, DARK, context=ctx))
    assert result["a"].reasons["recently_observed"] is False  # due again every hour
    assert result["b"].reasons["recently_observed"] is True


def test_ranking_at_the_poles_handles_polar_night_and_midnight_sun():
    solstice = dt.datetime(2026, 6, 21, 0, 0, tzinfo=dt.UTC)
    rng = np.random.default_rng(4)
    targets = TargetArrays.build(list(range(300)), rng.uniform(0, 360, 300), rng.uniform(-90, 90, 300))
    south = rank(SiteParams(-89.99, 139.27, 2835.0, min_altitude_deg=30), targets, solstice, count=50)
    assert south  # polar night: dark all day
    assert all(r.altitude_deg >= 30 for r in south)
    # The Sun never reaches -12 deg, so nothing ends the night within the next day.
    assert all(r.observable_until - solstice == dt.timedelta(hours=24) for r in south)
    assert rank(SiteParams(89.99, 0.0, min_altitude_deg=30), targets, solstice) == []  # midnight sun
