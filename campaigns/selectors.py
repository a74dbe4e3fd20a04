from django.db.models import Count

from observations.models import Observation


def campaign_progress(*, campaign, principal=None) -> dict:
    """Observations made against each target's `min_observations`, and the sites taking part.

    Only observations inside the campaign's dates count, and only those `principal` may see (embargoes hold here
    too: counts and site ids would otherwise reveal embargoed data).
    """
    observations = Observation.objects.all() if principal is None else Observation.objects.visible_to(principal)
    observations = observations.filter(target__campaigns=campaign)
    if campaign.start_date:
        observations = observations.filter(observed_at__date__gte=campaign.start_date)
    if campaign.end_date:
        observations = observations.filter(observed_at__date__lte=campaign.end_date)
    counts = dict(observations.values("target_id").annotate(n=Count("id")).values_list("target_id", "n"))
    targets = [
        {
            "target_id": t.pk,
            "name": t.name,
            "target_type": t.target_type,
            "observations": counts.get(t.pk, 0),
            "min_observations": t.min_observations,
            "complete": bool(t.min_observations) and counts.get(t.pk, 0) >= t.min_observations,
        }
        for t in campaign.targets.order_by("-priority", "name")
    ]
    site_ids = sorted({str(s) for s in observations.values_list("site_id", flat=True).distinct()})
    with_goal = [t for t in targets if t["min_observations"]]
    return {
        "targets": targets,
        "total_observations": sum(t["observations"] for t in targets),
        "targets_complete": sum(1 for t in with_goal if t["complete"]),
        "targets_with_goal": len(with_goal),
        "site_ids": site_ids,
        "sites_taking_part": len(site_ids),
    }
