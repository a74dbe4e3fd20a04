"""VOEvent 1.1 / 2.0 packets (GCN, LVK, Gaia, ASAS-SN, MOA, brokers), with or without namespaces.

Identity: ``ivorn`` is the packet; ``external_id`` is the *series* the packet belongs to, so that
Preliminary → Initial → Update (and BAT → XRT → UVOT positions of one Swift trigger) update one alert:

    external_id = "<ivorn authority/stream>#<event key>"     (GW: the bare superevent id, source "IGWN",
                                                              the same key the IGWN JSON alerts give)

where the event key is, in order: the LVK ``GraceID``; the GCN ``TrigID``; IceCube/AMON ``run_id_event_id``;
``AMON_ID``/``EventID``; a top-level Param with ``ucd="meta.id"`` (Gaia's alert name); otherwise the ivorn
fragment without a trailing revision counter. ``revision`` is ``Pkt_Ser_Num`` when present.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from lxml import etree

from .base import (
    AlertFormatError,
    ParsedAlert,
    SkymapSummary,
    check_position,
    check_radius,
    finite_float,
    json_safe,
    parse_iso_time,
)

FORMAT = "voevent"

_PARSER_KW: dict[str, Any] = {
    "resolve_entities": False,  # no XXE
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


_THREAD = threading.local()


def _parser() -> Any:
    # lxml parsers are cheap to reuse but not thread-safe: one per thread.
    parser = getattr(_THREAD, "parser", None)
    if parser is None:
        parser = _THREAD.parser = etree.XMLParser(**_PARSER_KW)
    return parser


def _local(el: Any) -> str:
    tag = el.tag
    if not isinstance(tag, str):  # comments / processing instructions
        return ""
    return tag.rsplit("}", 1)[-1]


def _child(el: Any, name: str) -> Any | None:
    if el is None:
        return None
    for c in el:
        if _local(c) == name:
            return c
    return None


def _children(el: Any | None) -> list[Any]:
    return [] if el is None else list(el)


def _path(el: Any, *names: str) -> Any | None:
    for name in names:
        el = _child(el, name)
        if el is None:
            return None
    return el


def _descendant(el: Any, name: str) -> Any | None:
    if el is None:
        return None
    for c in el.iter():
        if _local(c) == name:
            return c
    return None


def _text(el: Any | None) -> str | None:
    if el is None or el.text is None:
        return None
    text = el.text.strip()
    return text or None


def _param_value(p: Any) -> str | None:
    value = p.get("value")
    if value is None:
        value = _text(_child(p, "Value"))
    return value


def _collect_params(what: Any) -> tuple[dict[str, str | None], dict[str, dict[str, str | None]], list[Any]]:
    """Top-level params (name → value), grouped params (group → name → value), and all Param elements."""
    top: dict[str, str | None] = {}
    groups: dict[str, dict[str, str | None]] = {}
    elements: list[Any] = []
    if what is None:
        return top, groups, elements
    for el in what:
        kind = _local(el)
        if kind == "Param":
            elements.append(el)
            name = el.get("name") or el.get("ucd") or ""
            top.setdefault(name, _param_value(el))
        elif kind == "Group":
            gname = el.get("name") or el.get("type") or "group"
            bucket = groups.setdefault(gname, {})
            for p in el.iter():
                if _local(p) == "Param":
                    elements.append(p)
                    bucket.setdefault(p.get("name") or p.get("ucd") or "", _param_value(p))
    return top, groups, elements


def _lowered(params: dict[str, str | None]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for k, v in params.items():
        out.setdefault(k.lower(), v)
    return out


def _ci_get(lowered: dict[str, str | None], *names: str) -> str | None:
    """Case-insensitive Param lookup in a dict made by :func:`_lowered`."""
    for n in names:
        v = lowered.get(n.lower())
        if v not in (None, ""):
            return v
    return None


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1", "yes", "t")


_SOURCE_BY_STREAM = (
    (re.compile(r"^nasa\.gsfc\.gcn/"), "GCN"),
    (re.compile(r"^gwnet/"), "IGWN"),
    (re.compile(r"^gaia\.cam\.uk/"), "Gaia"),
    (re.compile(r"/ASASSN$", re.I), "ASAS-SN"),
)

# (stream regex, fragment regex) → alert type; first match wins.
_TYPE_RULES: tuple[tuple[str, str, str], ...] = (
    (r"^gwnet/", r"", "GW"),
    (r"/SWIFT$", r"^BAT_Known_Pos", "known source"),
    (r"/SWIFT$", r"^BAT_Sub", "GRB candidate"),
    (r"/SWIFT$", r"^(BAT_GRB_Pos|BAT_QL_Pos|XRT_Pos|UVOT_Pos|BAT_Alert|FOM|SC_Slew|XRT_|UVOT_|BAT_)", "GRB"),
    (r"/(Fermi|FERMI)$", r"", "GRB"),
    (r"/INTEGRAL$", r"", "GRB"),
    (r"/(AGILE|MAXI|CALET|SVOM|KONUS|IPN|GECAM|EP|Einstein_Probe)$", r"", "GRB"),
    (r"/(AMON|ICECUBE|IceCube)$", r"", "neutrino"),
    (r"/MOA$", r"", "microlensing"),
    (r"/ASASSN$", r"", "optical transient"),
    (r"^gaia\.cam\.uk/", r"", "optical transient"),
)

_REVISION_SUFFIX = re.compile(r"(-\d+(-[A-Za-z]+)?|_\d+)$")


def _alert_type(stream: str, fragment: str, concept: str | None, params: dict[str, str | None]) -> str:
    for stream_re, frag_re, kind in _TYPE_RULES:
        if re.search(stream_re, stream) and re.search(frag_re, fragment):
            return kind
    if _ci_get(params, "GraceID"):
        return "GW"
    if concept:
        c = concept.lower()
        if "em.gamma" in c and "burst" in c:
            return "GRB"
        if "neutrino" in c:
            return "neutrino"
        if "em.opt" in c:
            return "optical transient"
        if "em.x-ray" in c:
            return "X-ray transient"
    return "unknown"


def _series_key(fragment: str, params: dict[str, str | None]) -> str:
    for names in (("GraceID",), ("TrigID",)):
        v = _ci_get(params, *names)
        if v:
            return v.strip()
    run, event = _ci_get(params, "run_id", "RunID"), _ci_get(params, "event_id", "EventID")
    if run and event:
        return f"{run.strip()}_{event.strip()}"
    v = _ci_get(params, "AMON_ID", "EventID", "event_id")
    if v:
        return v.strip()
    meta_id = params.get("__meta.id__")  # (keys are lower-case here)
    if meta_id:
        return meta_id.strip()
    stripped = _REVISION_SUFFIX.sub("", fragment)
    return stripped or fragment


_GALACTIC = re.compile(r"GAL", re.I)
_FK4 = re.compile(r"FK4", re.I)


def _to_icrs(ra: float, dec: float, system: str) -> tuple[float, float]:
    """Most packets are FK5/ICRS (equal to well under an arcsecond); convert the rare galactic/FK4 ones."""
    if not (_GALACTIC.search(system) or _FK4.search(system)):
        return ra, dec
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    if _GALACTIC.search(system):
        c = SkyCoord(l=ra * u.deg, b=dec * u.deg, frame="galactic").icrs
    else:
        c = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="fk4").icrs
    return float(c.ra.deg), float(c.dec.deg)


def parse_voevent(body: bytes) -> list[ParsedAlert]:
    if not body or not body.strip():
        raise AlertFormatError("empty body: expected a VOEvent XML packet")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise AlertFormatError(f"malformed XML: {exc}") from None
    except ValueError as exc:  # e.g. unicode strings with an encoding declaration
        raise AlertFormatError(f"malformed XML: {exc}") from None
    if root is None or _local(root) != "VOEvent":
        found = _local(root) if root is not None else ""
        raise AlertFormatError(f"XML document is not a VOEvent (root element <{found}>)")

    ivorn = (root.get("ivorn") or "").strip()
    if not ivorn.startswith("ivo://") or len(ivorn) <= len("ivo://"):
        raise AlertFormatError(f"VOEvent has no valid ivorn attribute (got {ivorn[:60]!r})")
    role = (root.get("role") or "observation").strip().lower()
    if role not in ("observation", "prediction", "test", "utility"):
        raise AlertFormatError(f"VOEvent role {role!r} is not one of observation, prediction, utility, test")
    version = root.get("version")

    rest = ivorn[len("ivo://") :]
    stream, _, fragment = rest.partition("#")
    stream = stream.rstrip("/")

    what = _child(root, "What")
    top, groups, elements = _collect_params(what)
    for p in elements:  # Gaia names its alert in an unnamed Param with ucd meta.id
        if p.getparent() is what and (p.get("ucd") or "").strip() == "meta.id" and not p.get("name"):
            top.setdefault("__meta.id__", _param_value(p))
    flat: dict[str, str | None] = dict(top)
    for bucket in groups.values():
        for k, v in bucket.items():
            flat.setdefault(k, v)
    flat_ci = _lowered(flat)
    top_ci = _lowered(top)

    # --- where and when
    coords = _descendant(_child(root, "WhereWhen"), "AstroCoords")
    system = (coords.get("coord_system_id") if coords is not None else None) or ""
    if not system:
        sys_el = _descendant(_child(root, "WhereWhen"), "AstroCoordSystem")
        system = (sys_el.get("id") if sys_el is not None else "") or ""
    time_scale = system.split("-")[0].upper() if system else "UTC"
    if time_scale not in ("UTC", "TAI", "TT", "TDB", "TCB", "TCG", "GPS", "UT1"):
        time_scale = "UTC"
    iso = _text(_descendant(coords, "ISOTime"))
    event_time = parse_iso_time(iso, "VOEvent WhereWhen ISOTime", scale=time_scale) if iso else None

    ra = dec = radius = None
    pos = _descendant(coords, "Position2D")
    if pos is not None:
        unit = (pos.get("unit") or "deg").strip().lower()
        value2 = _child(pos, "Value2")
        c1, c2 = _text(_child(value2, "C1")), _text(_child(value2, "C2"))
        ra, dec = check_position(c1, c2, "VOEvent Position2D")
        radius = check_radius(_text(_child(pos, "Error2Radius")), "VOEvent Position2D")
        if unit in ("rad", "radian", "radians") and ra is not None and dec is not None:
            import math

            ra, dec = check_position(math.degrees(ra), math.degrees(dec), "VOEvent Position2D")
            radius = None if radius is None else math.degrees(radius)
        elif unit not in ("deg", "degree", "degrees"):
            raise AlertFormatError(f"VOEvent Position2D unit {unit!r} is not supported (deg or rad)")
        if ra is not None and dec is not None:
            ra, dec = _to_icrs(ra, dec, system)
        if radius == 0.0:  # GCN writes 0.0 when the instrument gives no error (MOA); not a zero-size box
            radius = None

    # --- what it is
    inference = _descendant(_child(root, "Why"), "Concept")
    concept = _text(inference)
    alert_type = _alert_type(stream, fragment, concept, flat_ci)
    source = next((name for rx, name in _SOURCE_BY_STREAM if rx.search(stream)), stream.split("/")[0])
    key = _series_key(fragment, top_ci | {k: v for k, v in flat_ci.items() if k not in top_ci})
    # GW: every format (VOEvent, IGWN JSON/Avro, GCN Classic) keys a superevent by its id alone.
    external_id = key if alert_type == "GW" and _ci_get(flat_ci, "GraceID") else f"{stream}#{key}"

    ser = finite_float(_ci_get(flat_ci, "Pkt_Ser_Num"), "VOEvent Pkt_Ser_Num")
    revision = int(ser) if ser is not None and abs(ser) < 2**62 else None

    notice_type = _ci_get(flat_ci, "AlertType")
    if notice_type is None and source == "GCN":
        m = re.match(r"^([A-Za-z][A-Za-z_]*?)_(?=[-\d])", fragment)
        notice_type = m.group(1) if m else (fragment or None)

    # Role: GCN and LVK mark tests inside the packet as well.
    if role == "prediction":
        role = "observation"
    if _truthy(_ci_get(flat_ci, "Test_Submission")) or (alert_type == "GW" and key.upper().startswith("M")):
        role = "test"

    is_retraction = False
    if (notice_type or "").lower() == "retraction" or _truthy(_ci_get(flat_ci, "Retraction")):
        is_retraction = True
    citations = _child(root, "Citations")
    cited: list[dict[str, str | None]] = []
    if citations is not None:
        for c in citations:
            if _local(c) == "EventIVORN":
                cite = (c.get("cite") or "").strip().lower()
                cited.append({"ivorn": _text(c), "cite": cite})
                if cite == "retraction":
                    is_retraction = True
    if _truthy(_ci_get(flat_ci, "Def_NOT_a_GRB")):
        # Swift/Fermi say "definitely not a GRB" in a later notice of the series: undo what the series made.
        is_retraction = True

    # --- photometry (optical feeds only)
    magnitude = filt = None
    mag_v = _ci_get(flat_ci, "mag_v")
    if mag_v is not None:
        magnitude, filt = finite_float(mag_v, "VOEvent mag_v"), "V"
    else:
        for p in elements:
            ucd = (p.get("ucd") or "").strip()
            unit = (p.get("unit") or "").strip().lower()
            if ucd.startswith("phot.mag") and "stat.error" not in ucd and unit in ("mag", ""):
                value = finite_float(_param_value(p), f"VOEvent Param {p.get('name')!r}")
                if value is not None:
                    magnitude = value
                    break
    if magnitude is not None and filt is None:
        for p in elements:
            if (p.get("ucd") or "").strip() == "instr.bandpass":
                filt = (_param_value(p) or "").strip() or None
                break

    skymap = None
    sky_url = _ci_get(flat_ci, "skymap_fits")
    if alert_type == "GW" or sky_url:
        skymap = SkymapSummary(url=(sky_url or "").split(",")[0] or None)

    # A numeric trigger number alone is no name; say whose trigger it is.
    name = key if not key.lstrip("-").isdigit() else f"{stream.split('/')[-1]} trigger {key}"

    who = _child(root, "Who")
    payload: dict[str, Any] = {
        "ivorn": ivorn,
        "version": version,
        "role": root.get("role"),
        "stream": stream,
        "published": _text(_child(who, "Date")),
        "coord_system": system or None,
        "time_scale": time_scale,
        "params": {k: v for k, v in top.items() if k != "__meta.id__"},
        "groups": groups,
        "concept": concept,
        "importance": (_child(root, "Why").get("importance") if _child(root, "Why") is not None else None),
        "citations": cited,
        "description": _text(_child(root, "Description")),
        "how": [t for t in (_text(d) for d in _children(_child(root, "How"))) if t],
    }

    return [
        ParsedAlert(
            source=source,
            external_id=external_id[:255],
            alert_type=alert_type,
            format=FORMAT,
            ra_deg=ra,
            dec_deg=dec,
            error_radius_deg=radius,
            event_time=event_time,
            magnitude=magnitude,
            filter=filt,
            role=role,  # type: ignore[arg-type]
            is_retraction=is_retraction,
            name=name,
            ivorn=ivorn,
            notice_type=notice_type,
            revision=revision,
            skymap=skymap,
            payload=json_safe(payload),
        )
    ]
