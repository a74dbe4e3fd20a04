from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_body
from astropy.time import Time

from network.testing import site_client
from targets.models import Target
from targets.tests.factories import CampaignFactory, TargetFactory, make_site

pytestmark = pytest.mark.django_db

WASP12 = {
    "name": "WASP-12 b", "aliases": ["TOI-1125"], "ra_deg": 97.6366, "dec_deg": 29.6723, "target_type": "exoplanet",
    "magnitude": 11.6, "priority": 5.0, "cadence_hours": None, "min_observations": 20, "filters": ["R"],
    "exposure_sec": 60, "active": True, "expires_at": None,
    "windows": [{"start": "2026-11-23T00:00:00Z", "end": "2026-11-23T06:00:00Z", "priority_boost": 3.0}],
    "ephemeris": {"epoch_bjd_tdb": 2457010.512173, "period_days": 1.09142, "duration_hours": 3.0},
    "comparison_stars": [{"name": "C1", "ra_deg": 97.61, "dec_deg": 29.70, "magnitudes": {"V": 12.10, "R": 11.71}}],
    "metadata": {},
}  # fmt: skip


def test_coordinator_creates_one_target(coordinator_client):
    response = coordinator_client.post("/api/v1/targets", WASP12, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["target_id"] and body["name"] == "WASP-12 b"
    assert body["windows"][0]["start"] == "2026-11-23T00:00:00.000Z"
    assert body["comparison_stars"][0]["magnitudes"]["R"] == 11.71
    assert Target.objects.get(pk=body["target_id"]).ephemeris["period_days"] == 1.09142


def test_bulk_create_returns_targets_in_input_order(coordinator_client):
    items = [{**WASP12, "name": f"T{i}", "ra_deg": i * 3.0} for i in range(50)]
    response = coordinator_client.post("/api/v1/targets", items, format="json")
    assert response.status_code == 201
    assert [t["name"] for t in response.json()] == [f"T{i}" for i in range(50)]
    assert Target.objects.count() == 50


def test_bulk_with_one_bad_item_creates_nothing_and_names_it(coordinator_client):
    items = [{**WASP12, "name": f"T{i}"} for i in range(5)]
    items[3] = {**items[3], "ra_deg": 360.0}
    response = coordinator_client.post("/api/v1/targets", items, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["errors"]["3"]["ra_deg"] == ["Ensure this value is less than 360."]
    assert list(body["errors"]) == ["3"]
    assert Target.objects.count() == 0


def test_bulk_over_ten_thousand_is_refused(coordinator_client):
    response = coordinator_client.post("/api/v1/targets", [{"name": "x"}] * 10_001, format="json")
    assert response.status_code == 400
    assert "10000" in response.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dec_deg": -91}, "dec_deg"),
        ({"ra_deg": -0.1}, "ra_deg"),
        ({"priority": -1}, "priority"),
        ({"target_type": "galaxy"}, "target_type"),
        ({"expires_at": "2026-11-23T06:00:00"}, "expires_at"),
        ({"windows": [{"start": "2026-11-23T06:00:00Z", "end": "2026-11-23T05:00:00Z"}]}, "windows"),
        ({"ephemeris": {"period_days": 1.0}}, "ephemeris"),
        ({"ra_deg": "NaN"}, "ra_deg"),
    ],
)
def test_create_rejects_bad_fields(coordinator_client, change, field):
    response = coordinator_client.post("/api/v1/targets", {**WASP12, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Target.objects.count() == 0


def test_naive_timestamp_is_rejected_with_reason(coordinator_client):
    body = {**WASP12, "expires_at": "2026-12-01T00:00:00"}
    response = coordinator_client.post("/api/v1/targets", body, format="json")
    assert "offset" in response.json()["errors"]["expires_at"][0]


def test_observers_and_sites_cannot_create_targets(observer_client, site_a_client):
    assert observer_client.post("/api/v1/targets", WASP12, format="json").status_code == 403
    assert site_a_client.post("/api/v1/targets", WASP12, format="json").status_code == 403


def test_catalogue_filters_by_type_name_alias_and_cone(researcher_client):
    TargetFactory(name="WASP-12 b", aliases=["TOI-1125"], ra_deg=97.6366, dec_deg=29.6723)
    TargetFactory(name="Algol", target_type="variable", ra_deg=47.0422, dec_deg=40.9556)
    TargetFactory(name="Old", active=False, ra_deg=10, dec_deg=10)

    def names(query):
        response = researcher_client.get("/api/v1/targets" + query)
        assert response.status_code == 200, response.json()
        return sorted(t["name"] for t in response.json()["results"])

    assert names("?target_type=variable") == ["Algol"]
    assert names("?name=toi-1125") == ["WASP-12 b"]
    assert names("?name=wasp-12") == []
    assert names("?active=false") == ["Old"]
    assert names("?ra_deg=97.6&dec_deg=29.7&radius_deg=0.1") == ["WASP-12 b"]
    assert names("?ra_deg=47&dec_deg=41&radius_deg=2") == ["Algol"]


def test_cone_search_needs_all_three_numbers(researcher_client):
    response = researcher_client.get("/api/v1/targets?ra_deg=10&dec_deg=95")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"dec_deg", "radius_deg"}


def test_catalogue_filters_by_campaign(researcher_client):
    inside, outside = TargetFactory(name="In"), TargetFactory(name="Out")
    campaign = CampaignFactory()
    campaign.targets.add(inside)
    body = researcher_client.get(f"/api/v1/targets?campaign={campaign.pk}").json()
    assert [t["name"] for t in body["results"]] == ["In"]
    assert outside.name not in str(body)


def test_detail_has_coverage_patch_and_delete_deactivates(coordinator_client, site_a):
    target = TargetFactory()
    body = coordinator_client.get(f"/api/v1/targets/{target.pk}").json()
    assert body["coverage"] == {"total_observations": 0, "unique_sites": 0, "recent_observations": 0}
    response = coordinator_client.patch(f"/api/v1/targets/{target.pk}", {"priority": 9}, format="json")
    assert response.status_code == 200 and response.json()["priority"] == 9
    assert coordinator_client.delete(f"/api/v1/targets/{target.pk}").status_code == 200
    target.refresh_from_db()
    assert target.active is False


def test_observer_cannot_patch_or_delete(observer_client):
    target = TargetFactory()
    assert observer_client.patch(f"/api/v1/targets/{target.pk}", {"priority": 9}, format="json").status_code == 403
    assert observer_client.delete(f"/api/v1/targets/{target.pk}").status_code == 403


def test_unknown_target_is_404_in_error_shape(researcher_client):
    response = researcher_client.get("/api/v1/targets/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["detail"]


# --- the scheduler's answer for one site ---------------------------------------------------------------------

# 2026-11-23 10:00 UTC is 02:00 local in Los Angeles: dark.
NIGHT_LA = "2026-11-23T10:00:00Z"


def _random_sky(n: int, seed: int = 1) -> list[Target]:
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    return Target.objects.bulk_create(
        [Target(name=f"R{i}", ra_deg=float(a), dec_deg=float(d), priority=1.0, magnitude=12.0)
         for i, (a, d) in enumerate(zip(ra, dec, strict=True))]
    )  # fmt: skip


def test_site_key_gets_ranked_targets_above_its_horizon(site_a):
    site, key = site_a
    _random_sky(300)
    response = site_client(key).get(f"/api/v1/targets?count=500&at={NIGHT_LA}")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["site_id"] == str(site.pk)
    assert body["targets"], "a dark sky with 300 random targets has some above 20 degrees"
    scores = [t["score"] for t in body["targets"]]
    assert scores == sorted(scores, reverse=True)
    # Check every listed altitude against astropy (geometric altitude, no refraction).
    location = EarthLocation.from_geodetic(site.longitude * u.deg, site.latitude * u.deg, site.elevation_m * u.m)
    coords = SkyCoord([t["ra_deg"] for t in body["targets"]] * u.deg, [t["dec_deg"] for t in body["targets"]] * u.deg)
    altaz = coords.transform_to(AltAz(obstime=Time("2026-11-23T10:00:00", scale="utc"), location=location))
    listed = np.array([t["altitude_deg"] for t in body["targets"]])
    assert np.all(np.abs(altaz.alt.deg - listed) < 1 / 60)
    assert np.all(altaz.alt.deg >= site.min_altitude_deg - 1 / 60)
    for t in body["targets"]:
        assert t["observable_until"].endswith("Z")
        assert t["filter"] in ("V", "R")


def test_ranking_is_empty_in_daylight(site_a):
    _, key = site_a
    _random_sky(100)
    body = site_client(key).get("/api/v1/targets?at=2026-11-23T20:00:00Z").json()  # noon in Los Angeles
    location = EarthLocation.from_geodetic(-118.24 * u.deg, 34.05 * u.deg)
    sun = get_body("sun", Time("2026-11-23T20:00:00", scale="utc"), location)
    assert sun.transform_to(AltAz(location=location, obstime=sun.obstime)).alt.deg > 0
    assert body["targets"] == []


def test_ranking_respects_horizon_mask(observer):
    _, key = make_site(owner=observer, name="Walled", horizon=[[0, 80], [360, 80]], min_altitude_deg=10)
    _random_sky(300)
    body = site_client(key).get(f"/api/v1/targets?count=500&at={NIGHT_LA}").json()
    assert all(t["altitude_deg"] >= 80 for t in body["targets"])


def test_stale_or_unsafe_site_gets_no_targets(site_a):
    site, key = site_a
    _random_sky(100)
    site.last_heartbeat_at = datetime.now(UTC) - timedelta(minutes=16)
    site.save()
    assert site_client(key).get(f"/api/v1/targets?at={NIGHT_LA}").json()["targets"] == []
    site_client(key).put(f"/api/v1/sites/{site.pk}/heartbeat", {"safe": False}, format="json")
    assert site_client(key).get(f"/api/v1/targets?at={NIGHT_LA}").json()["targets"] == []
    site_client(key).put(f"/api/v1/sites/{site.pk}/heartbeat", {"safe": True, "state": "idle"}, format="json")
    assert site_client(key).get(f"/api/v1/targets?at={NIGHT_LA}").json()["targets"] != []


def test_site_key_cannot_ask_for_another_site(site_a, site_b):
    _, key_a = site_a
    other, _ = site_b
    assert site_client(key_a).get(f"/api/v1/targets?site_id={other.pk}").status_code == 403


def test_observer_asks_for_own_site_only_coordinator_for_any(observer_client, other_observer_client,
                                                             coordinator_client, site_a):
    site, _ = site_a
    assert observer_client.get(f"/api/v1/targets?site_id={site.pk}").status_code == 200
    assert other_observer_client.get(f"/api/v1/targets?site_id={site.pk}").status_code == 403
    assert coordinator_client.get(f"/api/v1/targets?site_id={site.pk}").status_code == 200


@pytest.mark.parametrize("query", ["count=0", "count=501", "count=abc", "at=2026-11-23T10:00:00", "at=yesterday"])
def test_ranking_rejects_bad_parameters(site_a_client, query):
    response = site_a_client.get(f"/api/v1/targets?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["errors"]


def test_ranking_only_lists_filters_the_site_has(site_a):
    _, key = site_a
    TargetFactory(name="Needs Ha", ra_deg=95, dec_deg=34, filters=["Ha"])
    TargetFactory(name="Needs V", ra_deg=95, dec_deg=34, filters=["V"])
    names = [t["name"] for t in site_client(key).get(f"/api/v1/targets?at={NIGHT_LA}").json()["targets"]]
    assert "Needs V" in names and "Needs Ha" not in names


def test_ranking_query_count_does_not_grow_with_catalogue(site_a, django_assert_max_num_queries):
    _, key = site_a
    client = site_client(key)
    _random_sky(50, seed=2)
    client.get(f"/api/v1/targets?at={NIGHT_LA}")
    _random_sky(2000, seed=3)
    with django_assert_max_num_queries(12):
        assert client.get(f"/api/v1/targets?at={NIGHT_LA}").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get("/api/v1/targets?at=2026-11-23T10:05:00Z").status_code == 200


def test_catalogue_boolean_filter_rejects_nonsense(researcher_client):
    TargetFactory(name="On")
    TargetFactory(name="Off", active=False)
    assert [t["name"] for t in researcher_client.get("/api/v1/targets?active=true").json()["results"]] == ["On"]
    assert [t["name"] for t in researcher_client.get("/api/v1/targets?active=0").json()["results"]] == ["Off"]
    response = researcher_client.get("/api/v1/targets?active=maybe")
    assert response.status_code == 400
    assert "active" in response.json()["errors"]
