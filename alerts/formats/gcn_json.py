"""GCN Kafka notices in the unified JSON schema (https://gcn.nasa.gov/docs/notices/schema).

Core fields used: ``mission``, ``instrument``, ``id`` (list), ``trigger_time``, ``ra``, ``dec``,
``ra_dec_error`` (a radius, or [semi-major, semi-minor, angle] — we keep the semi-major axis), ``alert_type``
(initial / update / retraction), ``alert_tense`` (``test`` → role test), ``record_number`` (revision),
``event_name``, ``messenger``. ``mission`` is taken from the ``$schema`` path when the notice omits it.

Identity: ``external_id = "<mission>/<instrument>/<first id>"`` — every record of one trigger shares it, so
updates and the retraction reach the same alert. Without an ``id`` the trigger time stands in; without either,
a digest of the message (such a notice cannot be updated, only recorded).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from .base import (
    AlertFormatError,
    ParsedAlert,
    SkymapSummary,
    check_position,
    check_radius,
    finite_float,
    first_str,
    json_safe,
    parse_iso_time,
    require_mapping,
)

FORMAT = "gcn_json"

_SCHEMA_MISSION = re.compile(r"gcn\.nasa\.gov/schema/[^/]+/gcn/notices/([^/]+)/")
_MISSION_NAMES = {
    "einstein_probe": "Einstein Probe",
    "svom": "SVOM",
    "swift": "Swift",
    "fermi": "Fermi",
    "icecube": "IceCube",
    "integral": "INTEGRAL",
    "calet": "CALET",
    "lvk": "LVK",
    "glowbug": "Glowbug",
    "dsa110": "DSA-110",
    "chime": "CHIME",
    "super_kamiokande": "Super-Kamiokande",
    "gecam": "GECAM",
    "core": None,
}
_GAMMA = ("fermi", "swift", "svom", "integral", "calet", "gecam", "konus", "agile", "glowbug", "maxi")
_KNOWN_KEYS = frozenset(
    {
        "trigger_time",
        "ra_dec_error",
        "alert_tense",
        "alert_type",
        "mission",
        "instrument",
        "record_number",
        "messenger",
        "containment_probability",
        "healpix_url",
        "healpix_file",
    }
)


def looks_like_gcn_json(obj: Any) -> bool:
    if not isinstance(obj, dict) or "superevent_id" in obj:
        return False
    schema = obj.get("$schema")
    if isinstance(schema, str) and "gcn.nasa.gov/schema" in schema:
        return True
    return len(_KNOWN_KEYS & obj.keys()) >= 2


def _alert_type(mission: str | None, instrument: str | None, obj: dict[str, Any]) -> str:
    m = (mission or "").lower()
    inst = (instrument or "").lower()
    messenger = str(obj.get("messenger") or "").lower()
    if messenger == "neutrino" or "icecube" in m or "kamiokande" in m:
        return "neutrino"
    if messenger == "gw" or m in ("lvk", "ligo"):
        return "GW"
    classification = obj.get("classification")
    if isinstance(classification, dict) and classification:
        numeric = {k: v for k, v in classification.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        if numeric:
            best = max(numeric, key=lambda k: numeric[k])
            if best.upper() == "GRB":
                return "GRB"
    if "einstein" in m or inst in ("wxt", "fxt"):
        return "X-ray transient"
    if m.startswith(_GAMMA) or inst in ("gbm", "bat", "bat-guano", "grm", "eclairs", "spi-acs", "ibis"):
        return "GRB"
    if "chime" in m or "dsa" in m:
        return "FRB"
    return "unknown"


def parse_gcn_obj(obj: Any, raw: bytes | None = None) -> list[ParsedAlert]:
    obj = require_mapping(obj, "GCN notice")
    schema = obj.get("$schema")
    mission = obj.get("mission")
    if mission is not None and not isinstance(mission, str):
        raise AlertFormatError("GCN notice 'mission' must be a string")
    if not mission and isinstance(schema, str):
        m = _SCHEMA_MISSION.search(schema)
        if m:
            mission = _MISSION_NAMES.get(m.group(1), m.group(1))
    instrument = obj.get("instrument")
    if instrument is not None and not isinstance(instrument, str):
        raise AlertFormatError("GCN notice 'instrument' must be a string")

    raw_ids = obj.get("id")
    if raw_ids is not None and not isinstance(raw_ids, list | str | int):
        raise AlertFormatError("GCN notice 'id' must be a list of identifiers")
    ids = (
        [str(i) for i in raw_ids if isinstance(i, str | int) and not isinstance(i, bool)]
        if isinstance(raw_ids, list)
        else ([str(raw_ids)] if raw_ids is not None else [])
    )
    event_names = obj.get("event_name")
    names = (
        [str(n) for n in event_names if isinstance(n, str)]
        if isinstance(event_names, list)
        else ([event_names] if isinstance(event_names, str) else [])
    )

    event_time = parse_iso_time(obj.get("trigger_time"), "GCN notice trigger_time")
    if event_time is None and "event_time" in obj:
        event_time = parse_iso_time(obj.get("event_time"), "GCN notice event_time")

    ra, dec = check_position(obj.get("ra"), obj.get("dec"), "GCN notice")
    err = obj.get("ra_dec_error")
    if isinstance(err, list):
        if not err:
            raise AlertFormatError("GCN notice ra_dec_error is an empty list")
        err = err[0]  # semi-major axis: the conservative radius of the ellipse
    radius = check_radius(err, "GCN notice ra_dec_error")

    alert_kind = obj.get("alert_type")
    if alert_kind is not None and not isinstance(alert_kind, str):
        raise AlertFormatError("GCN notice 'alert_type' must be a string")
    tense = obj.get("alert_tense")
    role = "test" if isinstance(tense, str) and tense.lower() == "test" else "observation"
    is_retraction = isinstance(alert_kind, str) and alert_kind.lower() == "retraction"

    record = obj.get("record_number")
    revision = None
    if record is not None:
        value = finite_float(record, "GCN notice record_number")
        revision = int(value) if value is not None else None

    mission_s = mission or "GCN"
    identity = first_str(ids) if ids else None
    if identity is None and obj.get("trigger_time"):
        identity = str(obj["trigger_time"])
    if identity is None:
        digest_src = raw if raw is not None else json.dumps(obj, sort_keys=True, default=str).encode()
        identity = "sha1:" + hashlib.sha1(digest_src).hexdigest()
    external_id = "/".join(p for p in (mission_s, instrument or "", identity) if p)

    skymap = None
    if obj.get("healpix_url") or obj.get("healpix_file"):
        skymap = SkymapSummary(url=obj.get("healpix_url") if isinstance(obj.get("healpix_url"), str) else None)

    name = names[0] if names else f"{mission_s} {instrument or ''} {identity}".replace("  ", " ")
    aliases = [n for n in names[1:] + ids[1:] if n != name]
    payload = {k: v for k, v in obj.items() if k != "healpix_file"}  # the map itself is large; keep its URL

    return [
        ParsedAlert(
            source="GCN",
            external_id=external_id[:255],
            alert_type=_alert_type(mission, instrument, obj),
            format=FORMAT,
            ra_deg=ra,
            dec_deg=dec,
            error_radius_deg=radius,
            event_time=event_time,
            role=role,  # type: ignore[arg-type]
            is_retraction=is_retraction,
            name=name,
            aliases=aliases,
            notice_type=alert_kind,
            revision=revision,
            skymap=skymap,
            payload=json_safe(payload),
        )
    ]
