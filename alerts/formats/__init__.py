"""Alert message parsers: one module per format behind one entry point, :func:`parse`.

Pure Python + numpy/astropy/fastavro/lxml; never imports Django. Every failure on bad input is an
:class:`AlertFormatError` (→ HTTP 400) or :class:`UnsupportedMediaType` (→ HTTP 415).

    from alerts.formats import parse, AlertFormatError, UnsupportedMediaType
    alerts = parse(request.body, request.content_type)   # list[ParsedAlert]
"""

from __future__ import annotations

import json
from typing import Any

from . import avro_alerts, brokers, gaia, gcn_classic, gcn_json, igwn, normalised, tns, voevent
from .base import (
    AlertFormatError,
    LightcurvePoint,
    ParsedAlert,
    SkymapSummary,
    UnsupportedMediaType,
)

__all__ = [
    "AVRO_TYPES",
    "CSV_TYPES",
    "JSON_TYPES",
    "XML_TYPES",
    "AlertFormatError",
    "LightcurvePoint",
    "ParsedAlert",
    "SkymapSummary",
    "UnsupportedMediaType",
    "parse",
    "parse_json_obj",
]

XML_TYPES = frozenset({"application/xml", "text/xml", "application/voevent+xml", "application/x-voevent+xml"})
JSON_TYPES = frozenset({"application/json", "text/json", "application/x-json"})
AVRO_TYPES = frozenset(
    {
        "avro/binary",
        "application/avro",
        "application/x-avro",
        "application/x-avro-binary",
        "application/vnd.apache.avro+binary",
        "application/avro-binary",
    }
)
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
OCTET_TYPES = frozenset({"application/octet-stream"})


def media_type(content_type: str | None) -> str:
    """``'Application/JSON; charset=utf-8'`` → ``'application/json'``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse(body: bytes, content_type: str | None) -> list[ParsedAlert]:
    """Parse one message body into alerts (one for most formats; CSV exports and Avro files may hold many).

    The content type chooses the family (XML, JSON, Avro, CSV); within a family the body is sniffed.
    Raises :class:`UnsupportedMediaType` for a content type no parser handles, :class:`AlertFormatError`
    for anything wrong with the body (malformed, truncated, wrong shape), and nothing else.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise AlertFormatError("body must be bytes")
    body = bytes(body)
    mtype = media_type(content_type)
    try:
        if mtype in XML_TYPES or (mtype.endswith("+xml")):
            return voevent.parse_voevent(body)
        if mtype in JSON_TYPES or mtype.endswith("+json"):
            return parse_json_obj(_load_json(body), body)
        if mtype in AVRO_TYPES:
            return avro_alerts.parse_avro(body)
        if mtype in OCTET_TYPES:
            if avro_alerts.looks_like_avro(body):
                return avro_alerts.parse_avro(body)
            if gcn_classic.looks_like_gcn_classic(body):
                return gcn_classic.parse_gcn_classic(body)
            raise AlertFormatError("binary body is neither an Avro container nor a 160-byte GCN Classic notice")
        if mtype in CSV_TYPES:
            text = _decode(body)
            if gaia.looks_like_gaia_csv(text):
                return gaia.parse_gaia_csv(text)
            if tns.looks_like_tns_csv(text):
                return tns.parse_tns_csv(text)
            if brokers.looks_like_alerce_csv(text):
                return brokers.parse_alerce_csv(text)
            raise AlertFormatError(
                "CSV is not a Gaia alerts.csv, a TNS export or an ALeRCE detections export (header not recognised)"
            )
    except (AlertFormatError, UnsupportedMediaType):
        raise
    except RecursionError:
        raise AlertFormatError("message is nested too deeply") from None
    except OverflowError as exc:  # a number beyond any sensible range in an unexpected place
        raise AlertFormatError(f"message holds a number out of range ({exc})") from None
    except MemoryError:
        raise AlertFormatError("message is too large to parse") from None
    raise UnsupportedMediaType(
        f"content type {mtype or '(none)'!r} is not supported; send application/xml (VOEvent), "
        "application/json (GCN, IGWN, broker, TNS or the normalised form), avro/binary or text/csv"
    )


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AlertFormatError(f"body is not UTF-8 text: {exc.reason} at byte {exc.start}") from None


def _load_json(body: bytes) -> Any:
    text = _decode(body)
    if not text.strip():
        raise AlertFormatError("empty body: expected JSON")
    try:
        # Python's reader accepts the bare NaN/Infinity that Lasair sends; json_safe() turns them into null.
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AlertFormatError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def parse_json_obj(obj: Any, raw: bytes | None = None) -> list[ParsedAlert]:
    """Dispatch an already-decoded JSON value (e.g. from a Kafka consumer) to the right parser."""
    if normalised.looks_like_normalised(obj):
        return normalised.parse_normalised(obj)
    if igwn.looks_like_igwn(obj):
        return igwn.parse_igwn_obj(obj)
    if brokers.looks_like_fink(obj):
        return brokers.parse_fink(obj)
    if brokers.looks_like_lasair(obj):
        return brokers.parse_lasair(obj)
    if brokers.looks_like_alerce(obj):
        return brokers.parse_alerce(obj)
    if tns.looks_like_tns_json(obj):
        return tns.parse_tns_json(obj)
    if gcn_json.looks_like_gcn_json(obj):
        return gcn_json.parse_gcn_obj(obj, raw)
    if isinstance(obj, dict) and ("fields" in obj and obj.get("type") == "record"):
        raise AlertFormatError("JSON is an Avro schema, not an alert message")
    if isinstance(obj, dict):
        keys = ", ".join(sorted(map(str, obj))[:8])
        raise AlertFormatError(
            f"JSON object is not a recognised alert (GCN notice, IGWN alert, broker or TNS reply, or the "
            f"normalised form with source and external_id); its keys: {keys or '(none)'}"
        )
    raise AlertFormatError(f"JSON {type(obj).__name__} is not a recognised alert message")
