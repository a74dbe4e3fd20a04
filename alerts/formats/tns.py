"""Transient Name Server: the API's JSON (``get/object`` and ``search``) and the CSV exports.

``external_id`` is the TNS name without its prefix (``2026abc``), so an AT that becomes an SN keeps its key;
``name`` carries the prefix (``AT 2026abc``/``SN 2026abc``). TNS times are UTC without an offset, by
definition of the service. A ``search`` reply lists names only (no positions): :func:`search_names` gives them
to the poller, which then fetches each with ``get/object``; :func:`parse_tns_json` refuses it clearly.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from .base import (
    AlertFormatError,
    ParsedAlert,
    check_position,
    finite_float,
    json_safe,
    parse_iso_time,
)

FORMAT = "tns"
_NAME = re.compile(r"^\s*(?:(?P<prefix>[A-Za-z]+)\s*)?(?P<name>\d{4}[a-z]{1,4})\s*$")
_SEXAGESIMAL = re.compile(r"^\s*([+-]?)(\d{1,3})[:\s](\d{1,2})[:\s](\d{1,2}(?:\.\d*)?)\s*$")


def looks_like_tns_json(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    if "id_code" in obj and "data" in obj:
        return True
    return "objname" in obj and ("radeg" in obj or "ra" in obj)


def _reply(obj: dict[str, Any]) -> Any:
    data = obj.get("data", obj)
    if isinstance(data, dict) and "reply" in data:  # older API wraps the answer in data.reply
        data = data["reply"]
    return data


def search_names(body_obj: Any) -> list[str]:
    """Object names listed by a TNS ``search`` reply (``[{"objname": "2026abc", ...}, ...]``)."""
    if not isinstance(body_obj, dict):
        raise AlertFormatError("TNS reply must be a JSON object")
    reply = _reply(body_obj)
    if not isinstance(reply, list):
        raise AlertFormatError("TNS search reply must hold a list")
    names = []
    for item in reply:
        if isinstance(item, dict) and isinstance(item.get("objname"), str):
            names.append(item["objname"].strip())
    return names


def _sexagesimal(text: str, hours: bool) -> float | None:
    m = _SEXAGESIMAL.match(text)
    if not m:
        return None
    sign = -1.0 if m.group(1) == "-" else 1.0
    value = int(m.group(2)) + int(m.group(3)) / 60.0 + float(m.group(4)) / 3600.0
    return sign * value * (15.0 if hours else 1.0)


def _angle(value: Any, hours: bool, what: str) -> float | None:
    if isinstance(value, str) and (":" in value or value.strip().count(" ") == 2):
        result = _sexagesimal(value, hours)
        if result is None:
            raise AlertFormatError(f"TNS {what} {value[:30]!r} is not sexagesimal")
        return result
    return finite_float(value, f"TNS {what}")


def _split_name(name: Any, prefix: Any = None) -> tuple[str, str]:
    if not isinstance(name, str):
        raise AlertFormatError("TNS object has no name")
    m = _NAME.match(name)
    if not m:
        raise AlertFormatError(f"TNS name {name[:30]!r} is not like 2026abc")
    pre = m.group("prefix") or (prefix if isinstance(prefix, str) and prefix.strip() else "AT")
    return m.group("name"), pre.strip()


def _alert_type(prefix: str, type_name: str | None) -> str:
    if prefix.upper() == "AT":
        return "SN candidate"  # an unclassified astronomical transient; most are supernova candidates
    if prefix.upper() == "SN":
        return "SN"
    return type_name or prefix


def _make(
    name: Any,
    prefix: Any,
    ra: Any,
    dec: Any,
    ra_is_hours: bool,
    date: Any,
    mag: Any,
    filt: Any,
    type_name: Any,
    internal: Any,
    payload: dict[str, Any],
    where: str,
) -> ParsedAlert:
    key, pre = _split_name(name, prefix)
    ra_deg = _angle(ra, ra_is_hours, f"{where} RA")
    dec_deg = _angle(dec, False, f"{where} Dec")
    ra_deg, dec_deg = check_position(ra_deg, dec_deg, f"TNS {where}")
    if ra_deg is None:
        raise AlertFormatError(f"TNS {where} {key} has no position")
    aliases = []
    if isinstance(internal, str):
        aliases = [a.strip() for a in internal.split(",") if a.strip()]
    tname = type_name if isinstance(type_name, str) and type_name.strip() else None
    return ParsedAlert(
        source="TNS",
        external_id=key,
        alert_type=_alert_type(pre, tname),
        format=FORMAT,
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        event_time=parse_iso_time(date, f"TNS {where} discovery date") if date else None,
        magnitude=finite_float(mag, f"TNS {where} discovery mag"),
        filter=filt if isinstance(filt, str) and filt.strip() else None,
        name=f"{pre} {key}",
        aliases=aliases,
        payload=json_safe(payload),
    )


def parse_tns_json(obj: Any) -> list[ParsedAlert]:
    if not isinstance(obj, dict):
        raise AlertFormatError("TNS reply must be a JSON object")
    code = obj.get("id_code")
    if code is not None and code != 200:
        raise AlertFormatError(f"TNS reply is an error ({code}: {str(obj.get('id_message'))[:80]})")
    reply = _reply(obj)
    if isinstance(reply, list):
        raise AlertFormatError("TNS search reply lists names only; fetch each object with get/object")
    if not isinstance(reply, dict):
        raise AlertFormatError("TNS get/object reply must hold an object")
    if "objname" not in reply:
        raise AlertFormatError("TNS get/object reply has no objname (object not found?)")
    filt = reply.get("discmagfilter")
    if isinstance(filt, dict):
        filt = filt.get("name")
    otype = reply.get("object_type")
    if isinstance(otype, dict):
        otype = otype.get("name")
    ra, dec, hours = reply.get("radeg"), reply.get("decdeg"), False
    if ra is None or dec is None:
        ra, dec, hours = reply.get("ra"), reply.get("dec"), True
    return [
        _make(
            reply.get("objname"),
            reply.get("name_prefix"),
            ra,
            dec,
            hours,
            reply.get("discoverydate"),
            reply.get("discoverymag"),
            filt,
            otype,
            reply.get("internal_names"),
            reply,
            "object",
        )
    ]


# ------------------------------------------------------------------------------------------------ CSV

_CSV_COLUMNS = {  # our field → header names used by the TNS search-page export and the public objects CSV
    "name": ("Name", "name"),
    "prefix": ("name_prefix",),
    "ra": ("RA", "ra"),
    "dec": ("DEC", "declination", "Dec"),
    "date": ("Discovery Date (UT)", "discoverydate"),
    "mag": ("Discovery Mag/Flux", "Discovery Mag", "discoverymag"),
    "filter": ("Discovery Filter", "filter", "discmagfilter"),
    "type": ("Obj. Type", "type"),
    "internal": ("Disc. Internal Name", "internal_names"),
}


def looks_like_tns_csv(text: str) -> bool:
    head = text.lstrip("\ufeff").splitlines()[:2]
    return any(('"Name"' in h or "name_prefix" in h) and ("RA" in h or '"ra"' in h or ",ra," in h) for h in head)


def parse_tns_csv(text: str) -> list[ParsedAlert]:
    lines = text.lstrip("\ufeff").splitlines()
    # The public objects CSV starts with a date line ("2026-11-25 00:00:00") before its header.
    if lines and not any(col in lines[0] for col in ("Name", "name")):
        lines = lines[1:]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if not reader.fieldnames:
        raise AlertFormatError("TNS CSV has no header")
    columns = {}
    for field, options in _CSV_COLUMNS.items():
        columns[field] = next((o for o in options if o in reader.fieldnames), None)
    for needed in ("name", "ra", "dec"):
        if columns[needed] is None:
            raise AlertFormatError(f"TNS CSV has no {needed!r} column")
    alerts = []
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise AlertFormatError(f"TNS CSV is malformed: {exc}") from None
    for i, row in enumerate(rows, start=1):

        def get(field: str, row: dict[str, Any] = row) -> Any:
            col = columns[field]
            return row.get(col) if col else None

        ra = get("ra")
        hours = isinstance(ra, str) and ":" in ra  # the search-page export gives sexagesimal RA in hours
        try:
            alerts.append(
                _make(
                    get("name"),
                    get("prefix"),
                    ra,
                    get("dec"),
                    hours,
                    get("date"),
                    get("mag"),
                    get("filter"),
                    get("type"),
                    get("internal"),
                    {k: v for k, v in row.items() if k is not None},
                    f"CSV row {i}",
                )
            )
        except AlertFormatError as exc:
            raise AlertFormatError(f"TNS CSV row {i}: {exc}") from None
    if not alerts:
        raise AlertFormatError("TNS CSV has no rows")
    return alerts
