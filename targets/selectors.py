from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from targets.models import Target


def target_coverage(*, target: Target, principal=None, now=None) -> dict:
    """Observation counts of a target; with `principal`, only what it may see (embargoes)."""
    now = now or timezone.now()
    observations = target.observations.all()
    if principal is not None:
        observations = observations.visible_to(principal)
    stats = observations.aggregate(
        total_observations=Count("id"),
        unique_sites=Count("site", distinct=True),
        recent_observations=Count("id", filter=Q(observed_at__gte=now - timedelta(days=7))),
    )
    return {k: int(v or 0) for k, v in stats.items()}


def catalogue_queryset():
    return Target.objects.prefetch_related("campaigns").order_by("-created_at")
