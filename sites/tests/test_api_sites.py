import pytest

from network.testing import site_client
from sites.keys import key_hash
from sites.models import Site

pytestmark = pytest.mark.django_db

SITE_BODY = {
    "name": "Backyard 8in", "latitude": 34.05, "longitude": -118.24, "elevation_m": 100,
    "timezone": "America/Los_Angeles", "aperture_mm": 200, "focal_length_mm": 1000, "camera_model": "ASI1600",
    "filters": ["V", "R", "Clear"], "fov_arcmin": 40.0, "limiting_mag": 17.5, "mount_type": "equatorial",
    "automation_level": "robotic", "min_altitude_deg": 30,
    "horizon": [[0, 25], [90, 35], [180, 20], [270, 30]],
}  # fmt: skip


def test_observer_registers_site_and_sees_key_once(observer_client):
    response = observer_client.post("/api/v1/sites", SITE_BODY, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    key = body["api_key"]
    assert len(key) >= 43
    site = Site.objects.get(pk=body["site_id"])
    assert site.api_key_hash == key_hash(key)
    assert key not in str(Site.objects.filter(pk=site.pk).values().first())
    assert site.owner.username == "observer"
    detail = observer_client.get(f"/api/v1/sites/{site.pk}").json()
    assert "api_key" not in detail
    assert detail["horizon"] == [[0.0, 25.0], [90.0, 35.0], [180.0, 20.0], [270.0, 30.0]]


def test_register_needs_only_name_and_position(observer_client):
    response = observer_client.post("/api/v1/sites", {"name": "Minimal", "latitude": 0, "longitude": 0}, format="json")
    assert response.status_code == 201
    assert response.json()["twilight_sun_altitude_deg"] == -12.0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"latitude": 91}, "latitude"),
        ({"longitude": -181}, "longitude"),
        ({"name": ""}, "name"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"horizon": [[0, 25], [400, 10]]}, "horizon"),
        ({"horizon": "low"}, "horizon"),
        ({"filters": "V"}, "filters"),
        ({"aperture_mm": "big"}, "aperture_mm"),
        ({"automation_level": "telepathic"}, "automation_level"),
    ],
)
def test_register_rejects_bad_field_naming_it(observer_client, change, field):
    response = observer_client.post("/api/v1/sites", {**SITE_BODY, **change}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert field in body["errors"]
    assert body["detail"]
    assert Site.objects.count() == 0


def test_register_reports_every_bad_field(observer_client):
    response = observer_client.post("/api/v1/sites", {"latitude": 200, "longitude": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) >= {"name", "latitude", "longitude"}


def test_site_key_cannot_register_sites(site_a_client):
    assert site_a_client.post("/api/v1/sites", SITE_BODY, format="json").status_code == 403


def test_anonymous_cannot_list_sites(api, site_a):
    response = api.get("/api/v1/sites")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_others_see_public_fields_only(other_observer_client, site_a):
    site, _ = site_a
    body = other_observer_client.get(f"/api/v1/sites/{site.pk}").json()
    assert body["name"] == "Site A"
    assert "horizon" not in body and "weather" not in body and "api_key_prefix" not in body
    assert body["latitude"] == round(site.latitude, 1)


def test_owner_coordinator_and_own_key_see_everything(observer_client, coordinator_client, site_a):
    site, key = site_a
    for client in (observer_client, coordinator_client, site_client(key)):
        body = client.get(f"/api/v1/sites/{site.pk}").json()
        assert "horizon" in body and body["latitude"] == site.latitude


def test_site_list_is_cursor_paginated(observer_client, site_a, site_b):
    body = observer_client.get("/api/v1/sites?page_size=1").json()
    assert len(body["results"]) == 1
    assert body["next"]
    second = observer_client.get(body["next"]).json()
    assert len(second["results"]) == 1
    assert second["results"][0]["site_id"] != body["results"][0]["site_id"]


def test_patch_by_owner_and_own_key_but_not_others(observer_client, other_observer_client, site_a, site_b):
    site, key = site_a
    _, key_b = site_b
    assert observer_client.patch(f"/api/v1/sites/{site.pk}", {"limiting_mag": 18}, format="json").status_code == 200
    own_key = site_client(key)
    assert own_key.patch(f"/api/v1/sites/{site.pk}", {"min_altitude_deg": 25}, format="json").status_code == 200
    assert other_observer_client.patch(f"/api/v1/sites/{site.pk}", {"name": "x"}, format="json").status_code == 403
    assert site_client(key_b).patch(f"/api/v1/sites/{site.pk}", {"name": "x"}, format="json").status_code == 403
    site.refresh_from_db()
    assert (site.limiting_mag, site.min_altitude_deg, site.name) == (18, 25, "Site A")


def test_rotate_key_invalidates_old_key_at_once(observer_client, site_a):
    site, old_key = site_a
    response = observer_client.post(f"/api/v1/sites/{site.pk}/rotate-key")
    assert response.status_code == 200
    new_key = response.json()["api_key"]
    assert new_key != old_key and len(new_key) >= 43
    assert site_client(old_key).put(f"/api/v1/sites/{site.pk}/heartbeat", {}, format="json").status_code == 401
    assert site_client(new_key).put(f"/api/v1/sites/{site.pk}/heartbeat", {}, format="json").status_code == 200


def test_only_owner_or_coordinator_rotates(other_observer_client, coordinator_client, site_a):
    site, key = site_a
    assert other_observer_client.post(f"/api/v1/sites/{site.pk}/rotate-key").status_code == 403
    assert site_client(key).post(f"/api/v1/sites/{site.pk}/rotate-key").status_code == 403
    assert coordinator_client.post(f"/api/v1/sites/{site.pk}/rotate-key").status_code == 200


def test_heartbeat_records_state_weather_and_answers_poll_interval(site_a):
    site, key = site_a
    body = {"state": "observing", "safe": True, "client_version": "1.2.0",
            "weather": {"cloud_cover_pct": 10, "rain": False, "humidity_pct": 60, "wind_mps": 3.2}}
    response = site_client(key).put(f"/api/v1/sites/{site.pk}/heartbeat", body, format="json")
    assert response.status_code == 200
    answer = response.json()
    assert answer["next_poll_s"] == 60
    assert answer["server_time"].endswith("Z")
    site.refresh_from_db()
    assert site.state == "observing" and site.client_version == "1.2.0"
    assert site.weather["cloud_cover_pct"] == 10


def test_x_api_key_header_is_accepted(site_a, api):
    site, key = site_a
    api.credentials(HTTP_X_API_KEY=key)
    assert api.put(f"/api/v1/sites/{site.pk}/heartbeat", {}, format="json").status_code == 200


def test_site_key_cannot_heartbeat_for_another_site(site_a, site_b):
    _, key_a = site_a
    site_b_obj, _ = site_b
    response = site_client(key_a).put(f"/api/v1/sites/{site_b_obj.pk}/heartbeat", {}, format="json")
    assert response.status_code == 403
    site_b_obj.refresh_from_db()
    assert site_b_obj.state != "observing"


def test_heartbeat_needs_a_site_key(observer_client, site_a):
    site, _ = site_a
    assert observer_client.put(f"/api/v1/sites/{site.pk}/heartbeat", {}, format="json").status_code == 403


def test_heartbeat_rejects_bad_state_and_weather(site_a_client, site_a):
    site, _ = site_a
    response = site_a_client.put(
        f"/api/v1/sites/{site.pk}/heartbeat",
        {"state": "dancing", "weather": {"cloud_cover_pct": 150}},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"state", "weather"}


def test_unknown_key_is_401(api, site_a):
    site, _ = site_a
    api.credentials(HTTP_AUTHORIZATION="Bearer " + "x" * 43)
    assert api.put(f"/api/v1/sites/{site.pk}/heartbeat", {}, format="json").status_code == 401


def test_site_list_boolean_filters_are_strict(observer_client, site_a):
    assert len(observer_client.get("/api/v1/sites?is_active=true").json()["results"]) == 1
    assert observer_client.get("/api/v1/sites?is_active=false").json()["results"] == []
    assert observer_client.get("/api/v1/sites?approved=maybe").status_code == 400
