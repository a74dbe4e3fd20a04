"""The network plan: who observes what, with and without campaign redundancy."""

import datetime as dt

import numpy as np
import pytest
from astropy.utils import iers

from targets.sky import (
    CAMPAIGN_KINDS,
    PlanSettings,
    RankArrays,
    SiteParams,
    TargetArrays,
    assign,
    plan_network,
    rank_arrays,
)

iers.conf.auto_download = False
iers.conf.auto_max_age = None

OCCULTATION = CAMPAIGN_KINDS.index("occultation")
TRANSIT = CAMPAIGN_KINDS.index("transit")
MONITORING = CAMPAIGN_KINDS.index("monitoring")


def ranking(rows, scores, *, urgent=None, until=None, fits=None) -> RankArrays:
    """A site's ranking as the engine would hand it over (best first)."""
    rows = np.asarray(rows, dtype=np.intp)
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="stable")
    n = rows.size
    urgent = np.zeros(n, dtype=bool) if urgent is None else np.asarray(urgent, dtype=bool)
    until = np.full(n, 1e10) if until is None else np.asarray(until, dtype=float)
    fits = np.zeros(n, dtype=bool) if fits is None else np.asarray(fits, dtype=bool)
    nothing = np.zeros(n)
    return RankArrays(
        rows=rows[order], score=scores[order], altitude_deg=nothing, azimuth_deg=nothing, airmass=nothing,
        hour_angle_deg=nothing, until_s=until[order], urgent=urgent[order],
        factors={"transit_fits": fits[order]}, frame=None, night_end_s=2e10, dark=True,
    )  # fmt: skip


def site(lat=0.0, lon=0.0, reliability=1.0) -> SiteParams:
    return SiteParams(lat, lon, reliability=reliability)


def test_plan_gives_each_target_to_one_site_without_redundancy():
    sites = [site(lon=0), site(lon=60), site(lon=120)]
    rankings = [ranking(range(10), np.linspace(10, 1, 10) + k * 0.01) for k in range(3)]
    plan = assign(rankings, sites, 10, settings=PlanSettings(per_site=3))
    assigned = [row for rows in plan.values() for row in rows]
    assert len(assigned) == 9
    assert len(set(assigned)) == 9  # nobody doubles up on a target
    assert all(len(rows) == 3 for rows in plan.values())
    assert sorted(assigned) == list(range(9))  # the nine best targets are all covered


def test_plan_assigns_urgent_targets_first_to_the_best_site():
    sites = [site(lon=0), site(lon=90)]
    rankings = [
        ranking([0, 1, 2], [9.0, 8.0, 2.0], urgent=[False, False, True]),
        ranking([0, 1, 2], [9.5, 8.5, 3.0], urgent=[False, False, True]),
    ]
    plan = assign(rankings, sites, 3, settings=PlanSettings(per_site=1))
    # The urgent target (2) is taken first, by the site where it scores best; the other site
    # then gets the best of the rest.
    assert plan == {0: [0], 1: [2]}


def test_plan_weighs_reliability_more_for_urgent_targets():
    sites = [site(lon=0, reliability=0.5), site(lon=90, reliability=1.0)]
    # Scores from the engine already carry reliability once: 10 * 0.5 vs 4.8 * 1.0.
    calm = assign([ranking([0], [5.0]), ranking([0], [4.8])], sites, 1)
    assert calm[0] == [0]
    urgent = assign([ranking([0], [5.0], urgent=[True]), ranking([0], [4.8], urgent=[True])], sites, 1)
    assert urgent[1] == [0]


def test_plan_sends_an_occultation_to_several_sites_spread_apart():
    # Four telescopes in one town (best scores), three others 80-250 km apart across the path.
    sites = [site(lat=40.0 + k * 0.001, lon=-105.0) for k in range(4)]
    sites += [site(lat=40.0 + d, lon=-105.0) for d in (0.75, 1.5, 2.25)]
    scores = [10, 9.9, 9.8, 9.7, 8, 7.5, 7]
    rankings = [ranking([0], [s], urgent=[True]) for s in scores]
    redundancy = np.array([3])
    plan = assign(rankings, sites, 1, redundancy=redundancy, campaign_kind=np.array([OCCULTATION]))
    chosen = sorted(k for k, rows in plan.items() if rows)
    assert len(chosen) == 3
    assert chosen[0] == 0  # the best site
    assert sum(k < 4 for k in chosen) == 1  # and not two chords from the same town
    lats = sorted(sites[k].latitude_deg for k in chosen)
    assert min(np.diff(lats)) >= 0.7  # chords at least ~80 km apart


def test_plan_for_a_transit_with_redundancy_prefers_sites_covering_the_whole_transit():
    end = 1000.0
    sites = [site(lon=0), site(lon=10), site(lon=120)]
    rankings = [
        ranking([0], [5.0], until=[end], fits=[True], urgent=[True]),
        ranking([0], [6.0], until=[end - 3000], urgent=[False]),  # night ends mid-transit
        ranking([0], [4.5], until=[end], fits=[True], urgent=[True]),
    ]
    plan = assign(rankings, sites, 1, redundancy=np.array([2]), campaign_kind=np.array([TRANSIT]),
                  transit_end_s=np.array([end]))  # fmt: skip
    assert plan == {0: [0], 1: [], 2: [0]}


def test_plan_without_campaign_redundancy_never_doubles_up_even_when_sites_are_idle():
    sites = [site(lon=0), site(lon=1)]
    plan = assign([ranking([0], [5.0]), ranking([0], [4.0])], sites, 1)
    assert plan == {0: [0], 1: []}


def test_plan_spreads_long_term_coverage_across_longitudes():
    sites = [site(lon=5.0), site(lon=150.0)]
    last_longitude = np.array([0.0, np.nan])
    # Equal scores: the target last seen from Greenwich goes to the Pacific site.
    plan = assign([ranking([0], [5.0]), ranking([0], [5.0])], sites, 2, last_longitude_deg=last_longitude)
    assert plan[1] == [0]


def test_plan_orders_each_sites_list_urgent_first_then_by_score():
    plan = assign([ranking([0, 1, 2], [9.0, 3.0, 5.0], urgent=[False, True, False])], [site()], 3)
    assert plan[0] == [1, 0, 2]


# --- with the real engine ------------------------------------------------------------------------------

NIGHT_IN_AMERICA = dt.datetime(2026, 12, 9, 7, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def sky() -> TargetArrays:
    rng = np.random.default_rng(7)
    n = 4000
    return TargetArrays.build(
        list(range(n)), rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
        priority=rng.uniform(0.5, 5, n), magnitude=rng.uniform(8, 15, n),
    )  # fmt: skip


def test_network_plan_assigns_only_observable_targets_and_never_twice(sky):
    sites = [
        SiteParams(34.05, -118.24, min_altitude_deg=30),  # night
        SiteParams(-30.17, -70.8, min_altitude_deg=30),  # night
        SiteParams(40.0, -105.0, min_altitude_deg=30),  # night
        SiteParams(35.7, 139.7, min_altitude_deg=30),  # Tokyo: daytime
        SiteParams(51.5, 0.0, min_altitude_deg=30),  # London: 7 am, twilight
    ]
    plan = plan_network(sites, sky, NIGHT_IN_AMERICA, settings=PlanSettings(per_site=5))
    assert plan[3] == []
    assert plan[4] == []
    assigned = [row for rows in plan.values() for row in rows]
    assert len(assigned) == 15 == len(set(assigned))
    for k in (0, 1, 2):
        visible = set(rank_arrays(sites[k], sky, NIGHT_IN_AMERICA).rows.tolist())
        assert set(plan[k]) <= visible


def test_network_plan_fills_every_site_in_a_crowded_region(sky):
    # Twenty telescopes in one town share their best candidates; a second round finds each its own.
    sites = [SiteParams(34.05 + k * 1e-3, -118.24, min_altitude_deg=30) for k in range(20)]
    plan = plan_network(sites, sky, NIGHT_IN_AMERICA, settings=PlanSettings(per_site=5, candidates_per_site=20))
    assert all(len(rows) == 5 for rows in plan.values())
    assigned = [row for rows in plan.values() for row in rows]
    assert len(set(assigned)) == 100


def test_network_plan_honours_campaign_redundancy(sky):
    sites = [SiteParams(34.05, -118.24), SiteParams(32.0, -110.9), SiteParams(40.0, -105.0)]
    first = rank_arrays(sites[0], sky, NIGHT_IN_AMERICA)
    common = set(first.rows.tolist())
    for s in sites[1:]:
        common &= set(rank_arrays(s, sky, NIGHT_IN_AMERICA).rows.tolist())
    target = max(common, key=lambda r: sky.priority[r])
    redundancy = np.ones(len(sky), dtype=int)
    redundancy[target] = 3
    kind = np.zeros(len(sky), dtype=int)
    kind[target] = MONITORING
    plan = plan_network(sites, sky, NIGHT_IN_AMERICA, redundancy=redundancy, campaign_kind=kind)
    assert all(target in rows for rows in plan.values())


def test_rank_sites_gives_the_same_answer_forked_on_threads_or_serially(sky, monkeypatch):
    from targets.sky import plan as plan_module

    sites = [SiteParams(34.05 + k, -118.24 + 3 * k, min_altitude_deg=30) for k in range(6)]
    serial = plan_module.rank_sites(sites, sky, NIGHT_IN_AMERICA, workers=1, top=50)
    forked = plan_module.rank_sites(sites, sky, NIGHT_IN_AMERICA, workers=2, top=50)
    monkeypatch.setattr(plan_module, "_can_fork", lambda: False)  # as inside a Celery prefork child
    threaded = plan_module.rank_sites(sites, sky, NIGHT_IN_AMERICA, workers=2, top=50)
    for a, b, c in zip(serial, forked, threaded, strict=True):
        assert a.rows.tolist() == b.rows.tolist() == c.rows.tolist()
        np.testing.assert_allclose(a.score, b.score)
        np.testing.assert_allclose(a.score, c.score)
