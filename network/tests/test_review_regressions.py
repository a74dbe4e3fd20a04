"""Defects found in review, each pinned by the behaviour a user would notice."""

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from network.testing import site_client
from observations.models import Observation
from sites import services as site_services
from sites.models import Site
from targets.tests.factories import CampaignFactory, TargetFactory

pytestmark = pytest.mark.django_db


def test_patch_with_a_stale_copy_cannot_bring_back_a_rotated_key(observer_client, site_a):
    site, old_key = site_a
    stale = Site.objects.get(pk=site.pk)
    observer_client.post(f"/api/v1/sites/{site.pk}/rotate-key")
    site_services.site_update(site=stale, data={})
    assert site_client(old_key).get(f"/api/v1/sites/{site.pk}").status_code == 401


def test_embargo_days_is_bounded(observer_client, site_a):
    site, _ = site_a
    response = observer_client.patch(f"/api/v1/sites/{site.pk}", {"embargo_days": 1_000_000}, format="json")
    assert response.status_code == 400
    assert "embargo_days" in response.json()["errors"]


def test_each_site_has_its_own_rate_limit(site_a, site_b, settings):
    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"anon": "1000/min", "user": "3/min"}}  # fmt: skip
    (a, key_a), (b, key_b) = site_a, site_b
    from rest_framework.settings import api_settings
    from rest_framework.throttling import UserRateThrottle

    original_rates = UserRateThrottle.THROTTLE_RATES
    api_settings.reload()
    UserRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    try:
        codes_a = [site_client(key_a).get(f"/api/v1/sites/{a.pk}").status_code for _ in range(4)]
        assert codes_a[-1] == 429
        assert site_client(key_b).get(f"/api/v1/sites/{b.pk}").status_code == 200
    finally:
        UserRateThrottle.THROTTLE_RATES = original_rates
        cache.clear()


def test_campaign_progress_and_coverage_respect_embargo(site_a, other_observer_client, observer_client):
    site, key = site_a
    site.embargo_days = 30
    site.save()
    target = TargetFactory(min_observations=5)
    campaign = CampaignFactory()
    campaign.targets.add(target)
    now = datetime.now(UTC)
    body = {"observation_id": str(uuid.uuid4()), "target_id": str(target.pk), "observed_at": now.isoformat()}
    assert site_client(key).post("/api/v1/observations", body, format="json").status_code == 201
    other = other_observer_client.get(f"/api/v1/campaigns/{campaign.pk}").json()
    assert other["progress"]["site_ids"] == [] and other["targets"][0]["observations"] == 0
    assert other_observer_client.get(f"/api/v1/targets/{target.pk}").json()["coverage"]["total_observations"] == 0
    own = observer_client.get(f"/api/v1/campaigns/{campaign.pk}").json()
    assert own["progress"]["site_ids"] == [str(site.pk)]


def test_retry_with_explicit_nulls_inside_photometry_is_the_same_observation(site_a_client):
    target = TargetFactory()
    body = {"observation_id": str(uuid.uuid4()), "target_id": str(target.pk), "observed_at": "2026-11-23T06:00:00Z",
            "photometry": {"magnitude": 11.6, "error": 0.01}}  # fmt: skip
    assert site_a_client.post("/api/v1/observations", body, format="json").status_code == 201
    body["photometry"]["flux"] = None
    assert site_a_client.post("/api/v1/observations", body, format="json").status_code == 200


def test_absurd_times_and_deep_json_are_400_not_500(site_a_client, coordinator_client):
    assert site_a_client.get("/api/v1/targets?at=0001-01-01T00:00:00Z").status_code == 400
    deep = "[" * 50_000 + "]" * 50_000
    assert coordinator_client.post("/api/v1/targets", deep, content_type="application/json").status_code == 400
    future = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    alert = {"source": "TNS", "external_id": "future", "ra_deg": 1, "dec_deg": 1, "event_time": future}
    assert coordinator_client.post("/api/v1/alerts", alert, format="json").status_code == 400
    huge = {"source": "TNS", "external_id": "r", "ra_deg": 1, "dec_deg": 1, "revision": 2**63}
    assert coordinator_client.post("/api/v1/alerts", huge, format="json").status_code == 400


def test_unknown_api_route_answers_json(api):
    response = api.get("/api/v1/sites/not-a-uuid")
    assert response.status_code == 404
    assert response.json()["detail"]


def test_frame_that_keeps_failing_ends_failed_not_pending(site_a_client, monkeypatch):
    from pipeline import services as pipeline_services

    target = TargetFactory()
    obs = Observation.objects.create(
        site=Site.objects.get(name="Site A"), target=target, observed_at=datetime.now(UTC), content_hash="x",
        image="frames/missing.fits",
    )  # fmt: skip

    def unreachable(name, directory):
        raise pipeline_services.TransientPipelineError("storage unreachable")

    monkeypatch.setattr(pipeline_services, "_download", unreachable)
    for _ in range(pipeline_services.MAX_ATTEMPTS):
        with contextlib.suppress(pipeline_services.TransientPipelineError):
            pipeline_services.observation_reduce(observation_id=obs.pk)
    obs.refresh_from_db()
    assert obs.pipeline_state == "failed"
    assert "Gave up" in obs.pipeline_error
