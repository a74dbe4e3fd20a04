from django.db.models import Count, Q

from observations.models import Observation


def campaign_progress(*, campaign) -> dict:
    """Observations made against each target's `min_observations`, and the sites taking part.

    Only observations inside the campaign's dates count.
    """
    in_dates = Q()
    if campaign.start_date:
        in_dates &= Q(observations__observed_at__date__gte=campaign.start_date)
    if campaign.end_date:
        in_dates &= Q(observations__observed_at__date__lte=campaign.end_date)
    rows = campaign.targets.annotate(n_obs=Count("observations", filter=in_dates)).order_by("-priority", "name")
    targets = [
        {
            "target_id": t.pk,
            "name": t.name,
            "target_type": t.target_type,
            "observations": t.n_obs,
            "min_observations": t.min_observations,
            "complete": bool(t.min_observations) and t.n_obs >= t.min_observations,
        }
        for t in rows
    ]
    obs = Observation.objects.filter(target__campaigns=campaign)
    if campaign.start_date:
        obs = obs.filter(observed_at__date__gte=campaign.start_date)
    if campaign.end_date:
        obs = obs.filter(observed_at__date__lte=campaign.end_date)
    site_ids = sorted({str(s) for s in obs.values_list("site_id", flat=True).distinct()})
    with_goal = [t for t in targets if t["min_observations"]]
    return {
        "targets": targets,
        "total_observations": sum(t["observations"] for t in targets),
        "targets_complete": sum(1 for t in with_goal if t["complete"]),
        "targets_with_goal": len(with_goal),
        "site_ids": site_ids,
        "sites_taking_part": len(site_ids),
    }
