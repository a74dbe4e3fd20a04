import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import Permission

from targets.tests.factories import CampaignFactory, TargetFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_status_is_public_and_counts(api, site_a):
    TargetFactory()
    TargetFactory(active=False)
    CampaignFactory()
    response = api.get("/api/v1/status")
    assert response.status_code == 200
    body = response.json()
    assert body["active_sites"] == 1 and body["sites_online"] == 1
    assert body["active_targets"] == 1 and body["active_campaigns"] == 1
    assert body["total_observations"] == 0 and body["observations_24h"] == 0
    assert isinstance(body["uptime_s"], int) and body["version"]


def test_token_endpoint_gives_a_working_token(api, observer):
    response = api.post("/api/v1/auth/token", {"username": "observer", "password": "correct horse battery staple"},
                        format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/sites").status_code == 200


def test_token_endpoint_wrong_password_is_400(api, observer):
    response = api.post("/api/v1/auth/token", {"username": "observer", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "Wrong username or password."


def test_schema_and_docs_are_served(api):
    schema = api.get("/api/v1/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/v1/sites/{site_id}/heartbeat", "/api/v1/observations/{observation_id}/image",
                 "/api/v1/lightcurve/{target_id}", "/api/v1/alerts", "/api/v1/status"):
        assert path in text
    docs = api.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_oversized_json_body_is_413(coordinator_client, settings):
    settings.API_MAX_BODY_BYTES = 1000
    response = coordinator_client.post("/api/v1/targets", [{"name": "x" * 50}] * 100, format="json")
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_malformed_json_is_400_not_500(coordinator_client):
    response = coordinator_client.post("/api/v1/targets", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_wrong_content_type_for_json_is_415(coordinator_client):
    response = coordinator_client.post("/api/v1/targets", "name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_missing_credentials_is_401_with_error_shape(api):
    response = api.get("/api/v1/observations")
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "errors"}


def test_alert_feed_posts_normalised_alert_and_repeat_updates(api):
    feed = UserFactory(username="feed")
    feed.user_permissions.add(Permission.objects.get(codename="add_alert"))
    from network.testing import token_client

    client = token_client(feed)
    alert = {"source": "TNS", "external_id": "2026abc", "ra_deg": 150.1, "dec_deg": -2.3,
             "alert_type": "SN candidate", "priority": 3.0, "magnitude": 17.2,
             "event_time": "2026-11-20T03:00:00Z", "payload": {}}
    first = client.post("/api/v1/alerts", alert, format="json")
    assert first.status_code == 201, first.json()
    body = first.json()
    assert body["alert"]["external_id"] == "2026abc" and body["target_id"]
    assert body["decision"]
    second = client.post("/api/v1/alerts", {**alert, "ra_deg": 150.2}, format="json")
    assert second.status_code == 200
    assert second.json()["alert"]["alert_id"] == body["alert"]["alert_id"]
    assert second.json()["target_id"] == body["target_id"]


def test_only_alert_feeds_post_alerts(observer_client, site_a_client, coordinator_client):
    alert = {"source": "TNS", "external_id": "x", "ra_deg": 1, "dec_deg": 1}
    assert observer_client.post("/api/v1/alerts", alert, format="json").status_code == 403
    assert site_a_client.post("/api/v1/alerts", alert, format="json").status_code == 403
    assert coordinator_client.post("/api/v1/alerts", alert, format="json").status_code == 201


def test_bad_alert_is_400_naming_fields(coordinator_client):
    response = coordinator_client.post(
        "/api/v1/alerts", {"source": "TNS", "ra_deg": 500, "event_time": "2026-11-20"}, format="json"
    )
    assert response.status_code == 400
    assert {"external_id", "ra_deg", "event_time"} <= set(response.json()["errors"])


def test_campaign_list_detail_progress_and_coordinator_edits(coordinator_client, researcher_client, site_a_client):
    target = TargetFactory(min_observations=2)
    created = coordinator_client.post(
        "/api/v1/campaigns",
        {"name": "Hot Jupiters", "kind": "transit", "priority_boost": 1.5, "redundancy": 2,
         "target_ids": [str(target.pk)]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    campaign_id = created.json()["campaign_id"]
    site_a_client.post("/api/v1/observations", {
        "observation_id": "7b0a4c1e-8f57-4f0e-8a0e-0e5c7c0b7d11", "target_id": str(target.pk),
        "observed_at": "2026-11-23T06:01:30Z"}, format="json")
    detail = researcher_client.get(f"/api/v1/campaigns/{campaign_id}").json()
    assert detail["targets"][0]["observations"] == 1
    assert detail["targets"][0]["min_observations"] == 2 and detail["targets"][0]["complete"] is False
    assert detail["progress"]["sites_taking_part"] == 1
    assert [c["name"] for c in researcher_client.get("/api/v1/campaigns").json()["results"]] == ["Hot Jupiters"]
    url = f"/api/v1/campaigns/{campaign_id}"
    assert researcher_client.patch(url, {"redundancy": 3}, format="json").status_code == 403
    assert coordinator_client.patch(f"/api/v1/campaigns/{campaign_id}", {"redundancy": 3}, format="json").json()[
        "redundancy"] == 3
    bad = coordinator_client.post("/api/v1/campaigns", {"name": "x", "start_date": "2026-12-02",
                                                        "end_date": "2026-12-01"}, format="json")
    assert bad.status_code == 400 and "end_date" in bad.json()["errors"]


def test_server_starts_offline_for_astropy():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='network.settings'; django.setup();"
        "from astropy.utils import iers; assert iers.conf.auto_download is False; assert iers.conf.auto_max_age is None"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **os.environ,
        "DJANGO_SECRET_KEY": "k" * 20 + "-Production-Secret-Key-With-Enough-Entropy-0123456789",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECURE_SSL_REDIRECT": "true",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout + result.stderr
