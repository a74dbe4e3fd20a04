"""Alert ingest: store an alert idempotently by (source, external_id) and let the rules decide about targets."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import Alert
from targets.models import Target
from targets.services import sky_cell_of

# Until coordinators configure rules: positions good to this radius become targets.
DEFAULT_MAX_ERROR_RADIUS_DEG = 0.5
DEFAULT_EXPIRY_DAYS = 14
DEFAULT_PRIORITY = 3.0


@dataclass(frozen=True)
class IngestResult:
    alert: Alert
    created: bool
    target: Target | None
    decision: str


def alert_ingest(*, data: dict) -> IngestResult:
    try:
        return _ingest(data)
    except IntegrityError:
        # The same (source, external_id) arrived concurrently: the second one becomes an update.
        return _ingest(data)


@transaction.atomic
def _ingest(data: dict) -> IngestResult:
    fields = {
        k: data.get(k)
        for k in ("alert_type", "ra_deg", "dec_deg", "error_radius_deg", "magnitude", "priority", "event_time")
    }
    fields["alert_type"] = fields["alert_type"] or ""
    fields["payload"] = data.get("payload") or {}
    alert = (
        Alert.objects.select_for_update()
        .filter(source=data["source"], external_id=data["external_id"])
        .first()
    )
    created = alert is None
    if created:
        alert = Alert(source=data["source"], external_id=data["external_id"], **fields)
    else:
        for name, value in fields.items():
            if value is not None:
                setattr(alert, name, value)
        alert.update_count += 1
    target, decision = _decide(alert)
    alert.target = target
    alert.decision = decision
    alert.save()
    return IngestResult(alert=alert, created=created, target=target, decision=decision)


def _decide(alert: Alert) -> tuple[Target | None, str]:
    if alert.ra_deg is None or alert.dec_deg is None:
        return alert.target, "No position: no target made."
    if alert.error_radius_deg is not None and alert.error_radius_deg > DEFAULT_MAX_ERROR_RADIUS_DEG:
        return alert.target, (
            f"Error radius {alert.error_radius_deg:.3g} deg is over {DEFAULT_MAX_ERROR_RADIUS_DEG} deg: "
            "too large a region for one target."
        )
    expires = timezone.now() + timedelta(days=DEFAULT_EXPIRY_DAYS)
    name = f"{alert.source} {alert.external_id}"
    if alert.target is not None:
        target = alert.target
        target.ra_deg, target.dec_deg = alert.ra_deg, alert.dec_deg
        target.sky_cell = sky_cell_of(target.ra_deg, target.dec_deg)
        if alert.magnitude is not None:
            target.magnitude = alert.magnitude
        if alert.priority is not None:
            target.priority = alert.priority
        target.expires_at = expires
        target.active = True
        target.save()
        return target, f"Updated target '{target.name}' with the new position and brightness."
    target = Target(
        name=name[:200],
        ra_deg=alert.ra_deg,
        dec_deg=alert.dec_deg,
        target_type=Target.Type.TRANSIENT,
        magnitude=alert.magnitude,
        priority=alert.priority if alert.priority is not None else DEFAULT_PRIORITY,
        expires_at=expires,
        metadata={"alert_source": alert.source, "alert_type": alert.alert_type},
    )
    target.sky_cell = sky_cell_of(target.ra_deg, target.dec_deg)
    target.save()
    return target, f"Made target '{target.name}' (transient, expires in {DEFAULT_EXPIRY_DAYS} days)."
