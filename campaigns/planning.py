"""The network plan: rank every online site and assign targets across the network (targets.sky.plan).

`network_plan_build` runs every few minutes (Celery beat). The per-site answer puts a site's assigned targets
first while the plan is fresh and keeps targets assigned elsewhere off its list (no redundant simultaneous
coverage unless a campaign's redundancy asks for it); with no fresh plan it falls back to live ranking.
"""

import time
from datetime import timedelta

import numpy as np
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from campaigns.models import Assignment, Campaign, CampaignTarget, NetworkPlan
from observations.models import Observation
from sites.models import Site
from targets import ranking
from targets.sky.catalog import CAMPAIGN_KINDS
from targets.sky.plan import PlanSettings, plan_network
from targets.sky.ranking import RankContext

PLAN_VALID_FOR = timedelta(minutes=10)
RELIABILITY_WINDOW = timedelta(days=30)
# An assignment counts as delivered if the site observes the target within this time of the plan.
DELIVERY_GRACE = timedelta(hours=2)


def _campaign_arrays(cat, *, today):
    """Per target row: the largest redundancy and the kind of the campaign asking for it."""
    n = len(cat.arrays)
    redundancy = np.ones(n, dtype=np.int64)
    kind = np.zeros(n, dtype=np.int64)
    rows = CampaignTarget.objects.filter(campaign__in=Campaign.objects.active(today=today)).values_list(
        "target_id", "campaign__redundancy", "campaign__kind"
    )
    for target_id, red, campaign_kind in rows:
        row = cat.arrays._row_of_id.get(target_id)
        if row is None or red < redundancy[row]:
            continue
        redundancy[row] = red
        kind[row] = CAMPAIGN_KINDS.index(campaign_kind) if campaign_kind in CAMPAIGN_KINDS else 0
    return redundancy, kind


def network_plan_build(*, now=None, per_site: int = 5) -> NetworkPlan | None:
    now = now or timezone.now()
    started = time.perf_counter()
    sites = list(Site.objects.online(now=now))
    if not sites:
        return None
    cat = ranking.catalogue(now=now)
    if len(cat.arrays) == 0:
        return None
    aggregates = ranking.aligned_aggregates(cat, now=now)
    # The longitude of the site that last observed each target (last week), for longitude diversity: ordered
    # oldest first, so the dict keeps the newest.
    longitudes = dict(
        Observation.objects.filter(observed_at__gte=now - timedelta(days=7))
        .order_by("observed_at")
        .values_list("target_id", "site__longitude")
    )
    context = RankContext(
        last_observed_any_s=aggregates["last_any"],
        network_observations_24h=aggregates["n24"],
        total_observations=aggregates["total"],
        campaign_boost=cat.campaign_boost,
    )
    redundancy, kind = _campaign_arrays(cat, today=now.date())
    params = [ranking.site_params(s) for s in sites]
    plan = plan_network(
        params,
        cat.arrays,
        now,
        contexts=context,
        redundancy=redundancy,
        campaign_kind=kind,
        last_longitude_deg=cat.arrays.align(longitudes),
        settings=PlanSettings(per_site=per_site),
    )
    assignments = {
        str(sites[i].pk): [str(cat.arrays.ids[row]) for row in rows] for i, rows in plan.items() if rows
    }
    n_assigned = sum(len(v) for v in assignments.values())
    with transaction.atomic():
        record = NetworkPlan.objects.create(
            generated_at=now,
            valid_until=now + PLAN_VALID_FOR,
            assignments=assignments,
            sites_planned=len(sites),
            targets_assigned=n_assigned,
            duration_ms=(time.perf_counter() - started) * 1000.0,
        )
        # The first assignment of each site is what it is expected to start now.
        Assignment.objects.bulk_create(
            [
                Assignment(site_id=site_id, target_id=targets[0], assigned_at=now, due_by=now + DELIVERY_GRACE)
                for site_id, targets in assignments.items()
                if targets
            ]
        )
        NetworkPlan.objects.filter(generated_at__lt=now - timedelta(days=1)).delete()
    return record


def fresh_plan(*, now=None) -> NetworkPlan | None:
    now = now or timezone.now()
    return NetworkPlan.objects.filter(valid_until__gt=now, generated_at__lte=now).order_by("-generated_at").first()


def site_reliability_update(*, now=None) -> int:
    """Settle assignments past their due time and recompute each site's delivered share (30 days)."""
    now = now or timezone.now()
    due = Assignment.objects.filter(settled=False, due_by__lt=now).select_related("site")
    for assignment in due:
        delivered = (
            Observation.objects.filter(
                site_id=assignment.site_id,
                target_id=assignment.target_id,
                observed_at__gte=assignment.assigned_at,
                observed_at__lte=assignment.due_by,
            )
            .order_by("observed_at")
            .values_list("observed_at", flat=True)
            .first()
        )
        Assignment.objects.filter(pk=assignment.pk).update(settled=True, delivered_at=delivered)
    stats = (
        Assignment.objects.filter(settled=True, assigned_at__gte=now - RELIABILITY_WINDOW)
        .values("site_id")
        .annotate(total=Count("id"), delivered=Count("id", filter=Q(delivered_at__isnull=False)))
    )
    updated = 0
    for row in stats:
        # Laplace smoothing: a new site with one miss is not written off.
        reliability = (row["delivered"] + 1) / (row["total"] + 1)
        updated += Site.objects.filter(pk=row["site_id"]).update(reliability=reliability)
    return updated
