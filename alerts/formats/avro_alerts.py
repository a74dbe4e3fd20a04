"""Avro alert packets: ZTF (``candidate`` + ``prv_candidates``), Rubin/LSST (``diaSource`` + ``diaObject``,
as distributed directly or re-packed by Fink), and IGWN alerts serialised as Avro.

The body is an Avro *container file* (schema in its header), which is what ZTF distributes and what brokers
export. Confluent wire-format messages (magic byte 0 + schema id) need the schema registry and are refused
with a clear message. ``external_id`` is the packet's ``candid`` (ZTF) or ``diaSourceId`` (Rubin); ``name``
is the object (``objectId`` / ``diaObjectId``) so that packets of one object merge through the crossmatch.
"""

from __future__ import annotations

import io
import math
from typing import Any

import fastavro

from .base import (
    AlertFormatError,
    LightcurvePoint,
    ParsedAlert,
    check_position,
    finite_float,
    flux_err_to_mag_err,
    flux_njy_to_ab_mag,
    json_safe,
    mjd_scale_to_datetime,
    mjd_utc_to_datetime,
)
from .igwn import parse_igwn_obj

FORMAT = "avro"
AVRO_MAGIC = b"Obj\x01"
ZTF_FILTERS = {1: "g", 2: "r", 3: "i"}
_MAX_RECORDS = 10_000


def looks_like_avro(body: bytes) -> bool:
    return body[:4] == AVRO_MAGIC


def read_records(body: bytes) -> list[dict[str, Any]]:
    if not body:
        raise AlertFormatError("empty body: expected an Avro container file")
    if body[:1] == b"\x00" and len(body) > 5:
        raise AlertFormatError(
            "Avro body is in Confluent wire format (schema-registry id, no schema); send an Avro container file"
        )
    if body[:4] != AVRO_MAGIC:
        raise AlertFormatError("body is not an Avro container file (missing 'Obj\\x01' header)")
    records: list[dict[str, Any]] = []
    try:
        reader = fastavro.reader(io.BytesIO(body))
        for rec in reader:
            if not isinstance(rec, dict):
                raise AlertFormatError("Avro container holds non-record values")
            records.append(rec)
            if len(records) > _MAX_RECORDS:
                raise AlertFormatError(f"Avro container holds more than {_MAX_RECORDS} alerts")
    except AlertFormatError:
        raise
    except Exception as exc:  # fastavro raises EOFError, ValueError, struct/schema errors... on a bad file
        raise AlertFormatError(f"Avro container is truncated or corrupt: {type(exc).__name__}: {exc}") from None
    if not records:
        raise AlertFormatError("Avro container holds no records")
    return records


def parse_avro(body: bytes) -> list[ParsedAlert]:
    alerts: list[ParsedAlert] = []
    for i, rec in enumerate(read_records(body)):
        try:
            alerts.extend(parse_avro_record(rec))
        except AlertFormatError as exc:
            raise AlertFormatError(f"Avro record {i}: {exc}") from None
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            # a schema we do not know with fields of unexpected types
            raise AlertFormatError(f"Avro record {i} has an unexpected shape: {exc}") from None
    return alerts


def parse_avro_record(rec: dict[str, Any]) -> list[ParsedAlert]:
    if isinstance(rec.get("candidate"), dict) and "objectId" in rec:
        return [parse_ztf_record(rec)]
    if isinstance(rec.get("diaSource"), dict):
        return [parse_rubin_record(rec)]
    if "superevent_id" in rec:
        return parse_igwn_obj(rec)
    fields = ", ".join(sorted(map(str, rec))[:8])
    raise AlertFormatError(f"record is neither a ZTF, Rubin nor IGWN alert (fields: {fields})")


def _strip_bytes(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not isinstance(v, bytes | bytearray)}


# ------------------------------------------------------------------------------------------------ ZTF


def _ztf_point(c: dict[str, Any]) -> LightcurvePoint | None:
    jd = finite_float(c.get("jd"), "ZTF jd")
    if jd is None:
        return None
    fid = c.get("fid")
    filt = ZTF_FILTERS.get(fid) if isinstance(fid, int) else None
    mag = finite_float(c.get("magpsf"), "ZTF magpsf")
    if mag is not None:
        return LightcurvePoint(
            mjd=jd - 2400000.5, mag=mag, mag_err=finite_float(c.get("sigmapsf"), "ZTF sigmapsf"), filter=filt
        )
    lim = finite_float(c.get("diffmaglim"), "ZTF diffmaglim")
    if lim is None:
        return None
    return LightcurvePoint(mjd=jd - 2400000.5, mag=lim, filter=filt, upper_limit=True)


def parse_ztf_record(rec: dict[str, Any]) -> ParsedAlert:
    cand = rec["candidate"]
    object_id = rec.get("objectId")
    if not isinstance(object_id, str) or not object_id:
        raise AlertFormatError("ZTF alert has no objectId")
    candid = rec.get("candid", cand.get("candid"))
    if not isinstance(candid, int) or isinstance(candid, bool):
        raise AlertFormatError("ZTF alert has no integer candid")
    ra, dec = check_position(cand.get("ra"), cand.get("dec"), "ZTF candidate")
    if ra is None:
        raise AlertFormatError("ZTF candidate has no ra/dec")
    jd = finite_float(cand.get("jd"), "ZTF candidate jd", allow_none=False)
    assert jd is not None
    event_time = mjd_utc_to_datetime(jd - 2400000.5, "ZTF candidate jd")
    fid = cand.get("fid")
    filt = ZTF_FILTERS.get(fid) if isinstance(fid, int) else None

    points: list[LightcurvePoint] = []
    prv = rec.get("prv_candidates") or []
    if not isinstance(prv, list):
        raise AlertFormatError("ZTF prv_candidates must be a list")
    for c in [*prv, cand]:
        if isinstance(c, dict):
            p = _ztf_point(c)
            if p is not None:
                points.append(p)
    points.sort(key=lambda p: p.mjd)

    ss_name = cand.get("ssnamenr")
    ss_dist = finite_float(cand.get("ssdistnr"), "ZTF ssdistnr")
    is_solar_system = (
        isinstance(ss_name, str) and ss_name not in ("", "null") and ss_dist is not None and (0 <= ss_dist < 5.0)
    )
    payload = {
        "schemavsn": rec.get("schemavsn"),
        "publisher": rec.get("publisher"),
        "objectId": object_id,
        "candid": candid,
        "candidate": _strip_bytes(cand),
        "n_prv_candidates": len(prv),
        "cutouts": {
            k: (v or {}).get("fileName") for k, v in rec.items() if k.startswith("cutout") and isinstance(v, dict)
        },
    }
    return ParsedAlert(
        source="ZTF",
        external_id=str(candid),
        alert_type="solar system object" if is_solar_system else "optical transient",
        format=FORMAT,
        ra_deg=ra,
        dec_deg=dec,
        event_time=event_time,
        magnitude=finite_float(cand.get("magpsf"), "ZTF magpsf"),
        filter=filt,
        name=object_id,
        lightcurve=points,
        payload=json_safe(payload),
    )


# ---------------------------------------------------------------------------------------------- Rubin


def _rubin_point(s: dict[str, Any]) -> LightcurvePoint | None:
    mjd = finite_float(s.get("midpointMjdTai"), "Rubin midpointMjdTai")
    mag = flux_njy_to_ab_mag(s.get("psfFlux"))
    if mjd is None or mag is None:  # a negative difference flux has no magnitude
        return None
    # TAI − UTC is 37 s: negligible for a light-curve point, so MJD is kept on TAI here.
    return LightcurvePoint(
        mjd=mjd,
        mag=mag,
        mag_err=flux_err_to_mag_err(s.get("psfFlux"), s.get("psfFluxErr")),
        filter=s.get("band") if isinstance(s.get("band"), str) else None,
    )


def parse_rubin_record(rec: dict[str, Any]) -> ParsedAlert:
    src = rec["diaSource"]
    source_id = src.get("diaSourceId", rec.get("diaSourceId"))
    if not isinstance(source_id, int) or isinstance(source_id, bool):
        raise AlertFormatError("Rubin alert has no integer diaSourceId")
    ra, dec = check_position(src.get("ra"), src.get("dec"), "Rubin diaSource")
    if ra is None or dec is None:
        raise AlertFormatError("Rubin diaSource has no ra/dec")
    event_time = mjd_scale_to_datetime(src.get("midpointMjdTai"), "tai", "Rubin diaSource midpointMjdTai")
    ra_err = finite_float(src.get("raErr"), "Rubin raErr")
    dec_err = finite_float(src.get("decErr"), "Rubin decErr")
    radius = None
    if ra_err is not None and dec_err is not None:
        radius = max(abs(ra_err) * math.cos(math.radians(dec)), abs(dec_err))
    obj = rec.get("diaObject") if isinstance(rec.get("diaObject"), dict) else None
    object_id = src.get("diaObjectId") or (obj or {}).get("diaObjectId")
    ss_id = src.get("ssObjectId")
    is_solar_system = isinstance(ss_id, int) and ss_id > 0

    points: list[LightcurvePoint] = []
    prv = rec.get("prvDiaSources") or []
    if not isinstance(prv, list):
        raise AlertFormatError("Rubin prvDiaSources must be a list")
    for s in [*prv, src]:
        if isinstance(s, dict):
            p = _rubin_point(s)
            if p is not None:
                points.append(p)
    points.sort(key=lambda p: p.mjd)

    extra = {
        k: v
        for k, v in rec.items()
        if k not in ("diaSource", "diaObject", "prvDiaSources", "prvDiaForcedSources", "ssSource", "mpc_orbits")
        and not isinstance(v, bytes | bytearray | dict | list)
    }
    payload = {
        **extra,
        "diaSource": _strip_bytes(src),
        "diaObject": {k: v for k, v in (obj or {}).items() if v is not None and not isinstance(v, bytes)},
        "n_prv_diasources": len(prv),
        "n_prv_forced_sources": len(rec.get("prvDiaForcedSources") or []),
    }
    band = src.get("band")
    return ParsedAlert(
        source="Rubin",
        external_id=str(source_id),
        alert_type="solar system object" if is_solar_system else "optical transient",
        format=FORMAT,
        ra_deg=ra,
        dec_deg=dec,
        error_radius_deg=radius,
        event_time=event_time,
        magnitude=flux_njy_to_ab_mag(src.get("psfFlux")),
        filter=band if isinstance(band, str) else None,
        name=str(object_id) if object_id else None,
        lightcurve=points,
        payload=json_safe(payload),
    )
