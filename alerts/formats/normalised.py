"""The API's normalised alert form (``POST /api/v1/alerts`` with ``source`` and ``external_id``)."""

from __future__ import annotations

from typing import Any

from .base import (
    AlertFormatError,
    ParsedAlert,
    check_position,
    check_radius,
    finite_float,
    json_safe,
    parse_iso_time,
)

FORMAT = "normalised"
_ROLES = ("observation", "test", "utility")


def looks_like_normalised(obj: Any) -> bool:
    return isinstance(obj, dict) and "source" in obj and "external_id" in obj


def parse_normalised(obj: dict[str, Any]) -> list[ParsedAlert]:
    errors: list[str] = []

    def text(field: str, required: bool, limit: int = 255) -> str | None:
        value = obj.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                errors.append(f"{field} is required")
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            errors.append(f"{field} must be a string")
            return None
        value = str(value).strip()
        if len(value) > limit:
            errors.append(f"{field} is longer than {limit} characters")
        return value

    source = text("source", True, 64)
    external_id = text("external_id", True)
    alert_type = text("alert_type", False, 64) or "unknown"
    filt = text("filter", False, 32)
    role = text("role", False, 16) or "observation"
    if role not in _ROLES:
        errors.append(f"role must be one of {', '.join(_ROLES)}")
    ra = dec = radius = magnitude = priority = event_time = None
    try:
        raw_ra = finite_float(obj.get("ra_deg"), "ra_deg")
        if raw_ra is not None and not 0 <= raw_ra < 360:
            errors.append("ra_deg must be at least 0 and less than 360")
        ra, dec = check_position(obj.get("ra_deg"), obj.get("dec_deg"), "alert")
        if (obj.get("ra_deg") is None) != (obj.get("dec_deg") is None):
            errors.append("ra_deg and dec_deg go together")
    except AlertFormatError as exc:
        errors.append(str(exc))
    try:
        radius = check_radius(obj.get("error_radius_deg"), "alert")
    except AlertFormatError as exc:
        errors.append(str(exc))
    try:
        magnitude = finite_float(obj.get("magnitude"), "magnitude")
    except AlertFormatError as exc:
        errors.append(str(exc))
    try:
        priority = finite_float(obj.get("priority"), "priority")
        if priority is not None and priority < 0:
            errors.append("priority must not be negative")
    except AlertFormatError as exc:
        errors.append(str(exc))
    raw_time = obj.get("event_time")
    if raw_time is not None:
        if not isinstance(raw_time, str):
            errors.append("event_time must be an ISO 8601 string")
        else:
            stripped = raw_time.strip()
            has_offset = stripped.endswith(("Z", "z")) or (
                len(stripped) > 19 and stripped[19:].count("+") + stripped[19:].count("-") > 0
            )
            if not has_offset:
                errors.append("event_time must carry a UTC offset (e.g. 2026-11-23T19:08:41Z)")
            else:
                try:
                    event_time = parse_iso_time(stripped, "event_time")
                except AlertFormatError as exc:
                    errors.append(str(exc))
    payload = obj.get("payload", {})
    if not isinstance(payload, dict):
        errors.append("payload must be a JSON object")
        payload = {}
    retraction = obj.get("is_retraction", False)
    if not isinstance(retraction, bool):
        errors.append("is_retraction must be true or false")
    if errors:
        raise AlertFormatError("; ".join(errors))
    assert source is not None and external_id is not None
    return [
        ParsedAlert(
            source=source,
            external_id=external_id,
            alert_type=alert_type,
            format=FORMAT,
            ra_deg=ra,
            dec_deg=dec,
            error_radius_deg=radius,
            event_time=event_time,
            magnitude=magnitude,
            priority=priority,
            filter=filt,
            role=role,  # type: ignore[arg-type]
            is_retraction=bool(retraction),
            name=text("name", False),
            payload=json_safe(payload),
        )
    ]
