from datetime import UTC, datetime, timedelta

import pytest

from campaigns import planning
from campaigns.models import Assignment, Campaign
from network.testing import site_client
from observations.models import Observation
from targets.tests.factories import CampaignFactory, TargetFactory, make_site

pytestmark = pytest.mark.django_db

# 2026-11-23 10:00 UTC: night over North America.
NIGHT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def two_close_sites(observer, other_observer):
    # Two sites in the south-western USA: both can see the same sky.
    a = make_site(owner=observer, name="Tucson", latitude=32.2, longitude=-110.9)
    b = make_site(owner=other_observer, name="Phoenix", latitude=33.4, longitude=-112.1)
    return a, b


def test_plan_gives_a_target_to_one_site_only_without_redundancy(two_close_sites):
    target = TargetFactory(name="Zenith star", ra_deg=95.0, dec_deg=33.0, priority=50)
    plan = planning.network_plan_build(now=NIGHT)
    holders = [s for s, ts in plan.assignments.items() if str(target.pk) in ts]
    assert len(holders) == 1
    assert Assignment.objects.filter(target=target).count() == 1


def test_occultation_campaign_redundancy_spreads_target_over_sites(two_close_sites):
    target = TargetFactory(name="Occulted star", target_type="occultation", ra_deg=95.0, dec_deg=33.0, priority=50)
    campaign = CampaignFactory(kind=Campaign.Kind.OCCULTATION, redundancy=2)
    campaign.targets.add(target)
    plan = planning.network_plan_build(now=NIGHT)
    holders = [s for s, ts in plan.assignments.items() if str(target.pk) in ts]
    assert len(holders) == 2


def test_site_answer_keeps_targets_assigned_elsewhere_off_its_list(two_close_sites, monkeypatch):
    (site_a, key_a), (site_b, key_b) = two_close_sites
    target = TargetFactory(name="Zenith star", ra_deg=95.0, dec_deg=33.0, priority=50)
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: NIGHT)
    for site in (site_a, site_b):
        site.last_heartbeat_at = NIGHT
        site.save()
    plan = planning.network_plan_build(now=NIGHT)
    holder = next(s for s, ts in plan.assignments.items() if str(target.pk) in ts)
    answers = {
        str(s.pk): site_client(k).get("/api/v1/targets?count=50").json()["targets"]
        for s, k in ((site_a, key_a), (site_b, key_b))
    }
    assert answers[holder][0]["target_id"] == str(target.pk)
    assert answers[holder][0]["reasons"]["assigned"] is True
    other = next(s for s in answers if s != holder)
    assert str(target.pk) not in [t["target_id"] for t in answers[other]]


def test_undelivered_assignment_lowers_reliability(site_a):
    site, _ = site_a
    kept, missed = TargetFactory(name="Kept"), TargetFactory(name="Missed")
    now = datetime.now(UTC)
    for target in (kept, missed):
        Assignment.objects.create(site=site, target=target, assigned_at=now - timedelta(hours=3),
                                  due_by=now - timedelta(hours=1))
    Observation.objects.create(site=site, target=kept, observed_at=now - timedelta(hours=2), content_hash="x")
    planning.site_reliability_update(now=now)
    site.refresh_from_db()
    assert site.reliability == pytest.approx((1 + 1) / (2 + 1))
    assert Assignment.objects.get(target=missed).delivered_at is None
    assert Assignment.objects.get(target=kept).delivered_at is not None
