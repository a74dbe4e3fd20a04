"""Writes to the target catalogue."""

from django.db import transaction
from rest_framework import serializers

from targets.models import Target, names_key
from targets.serializers import TargetSerializer

MAX_BULK_TARGETS = 10_000


def _build(data: dict) -> Target:
    target = Target(**data)
    target.names_key = names_key(target.name, target.aliases or [])
    target.sky_cell = sky_cell_of(target.ra_deg, target.dec_deg)
    return target


def sky_cell_of(ra_deg: float, dec_deg: float) -> int:
    """1-degree declination band x 1-degree RA cell: a coarse, indexable positional key."""
    band = min(int(dec_deg + 90.0), 179)
    return band * 360 + min(int(ra_deg), 359)


def targets_validate(*, items: list) -> list[dict]:
    """Validate every item; raise one ValidationError keyed by item index if any is bad."""
    errors: dict[str, object] = {}
    valid: list[dict] = []
    for index, item in enumerate(items):
        serializer = TargetSerializer(data=item)
        if serializer.is_valid():
            valid.append(serializer.validated_data)
        else:
            errors[str(index)] = serializer.errors
    if errors:
        raise serializers.ValidationError(
            {"detail": f"{len(errors)} of {len(items)} targets are invalid; nothing was created.", **errors}
        )
    return valid


@transaction.atomic
def targets_create(*, items: list[dict]) -> list[Target]:
    """Create validated targets in one transaction, in input order."""
    targets = [_build(data) for data in items]
    Target.objects.bulk_create(targets, batch_size=1000)
    return targets


def target_update(*, target: Target, data: dict) -> Target:
    for name, value in data.items():
        setattr(target, name, value)
    target.sky_cell = sky_cell_of(target.ra_deg, target.dec_deg)
    target.save()
    return target


def target_deactivate(*, target: Target) -> Target:
    target.active = False
    target.save(update_fields=["active", "updated_at"])
    return target


def targets_set_active(*, queryset, active: bool) -> int:
    from django.utils import timezone

    return queryset.update(active=active, updated_at=timezone.now())
