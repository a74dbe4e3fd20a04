"""Writes to the target catalogue."""

from django.db import connection, transaction
from rest_framework import serializers

from alerts.crossmatch import sky_cell, sky_cells
from targets.models import Target, names_key
from targets.serializers import TargetSerializer

MAX_BULK_TARGETS = 10_000


def _build(data: dict, cell: int) -> Target:
    target = Target(**data)
    target.names_key = names_key(target.name, target.aliases or [])
    target.sky_cell = cell
    return target


def sky_cell_of(ra_deg: float, dec_deg: float) -> int:
    """The indexable sky cell of a position (alerts.crossmatch), so cone prefilters use a B-tree everywhere."""
    return sky_cell(ra_deg, dec_deg)


def targets_validate(*, items: list) -> list[dict]:
    """Validate every item; raise one ValidationError keyed by item index if any is bad."""
    # One list serializer builds its fields once for all items: ~10x faster than a serializer per item.
    serializer = TargetSerializer(data=items, many=True)
    if serializer.is_valid():
        return list(serializer.validated_data)
    raw = serializer.errors
    pairs = raw.items() if isinstance(raw, dict) else enumerate(raw)
    errors = {str(i): e for i, e in pairs if e}
    if errors:
        raise serializers.ValidationError(
            {"detail": f"{len(errors)} of {len(items)} targets are invalid; nothing was created.", **errors}
        )
    raise serializers.ValidationError({"detail": "Invalid target list."})


@transaction.atomic
def targets_create(*, items: list[dict]) -> list[Target]:
    """Create validated targets in one transaction, in input order."""
    cells = sky_cells([d["ra_deg"] for d in items], [d["dec_deg"] for d in items]) if items else []
    targets = [_build(data, int(cell)) for data, cell in zip(items, cells, strict=True)]
    _insert_many(targets)
    return targets


def _insert_many(targets: list[Target]) -> None:
    """One prepared INSERT run with executemany: bulk_create spends most of its time assembling multi-row SQL,
    which matters when a coordinator loads 100,000 targets."""
    fields = Target._meta.concrete_fields
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        quote(Target._meta.db_table),
        ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    rows = [[f.get_db_prep_save(f.pre_save(t, True), connection) for f in fields] for t in targets]
    with connection.cursor() as cursor:
        for lo in range(0, len(rows), 5000):
            cursor.executemany(sql, rows[lo : lo + 5000])
    for t in targets:
        t._state.adding = False
        t._state.db = connection.alias


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
