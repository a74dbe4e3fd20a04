"""Broker API JSON for ZTF/Rubin objects: Fink, ALeRCE and Lasair.

A broker answers about an *object* with its history; we return one alert for the newest detection, with the
history as its light curve. ``external_id`` is that detection's ``candid``/``diaSourceId`` (the same key a
raw ZTF/Rubin packet would give), ``name`` the object id. Shapes handled:

- Fink ``/api/v1/objects`` (ZTF): a list of rows with ``i:``/``d:``/``v:`` prefixed columns.
- ALeRCE ZTF API: ``/objects/{oid}`` (``oid``, ``meanra``, ``meandec``, ``firstmjd``, ``lastmjd``),
  ``/objects/{oid}/detections`` (a list), ``/objects/{oid}/lightcurve`` (``detections``/``non_detections``).
- Lasair: LSST ``/api/object`` (``diaObjectId``, ``diaObject``, ``diaSources``, ``lasairData``) and ZTF
  ``/api/objects`` (``objectId``, ``objectData``, ``candidates``). Lasair may emit bare ``NaN``: Python's JSON
  reader accepts it and we turn it into None.
"""

from __future__ import annotations

import csv
import io
from typing import Any

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

FORMAT = "broker_json"
ZTF_FILTERS = {1: "g", 2: "r", 3: "i"}


def _fid(value: Any) -> str | None:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 4:
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return ZTF_FILTERS.get(value)
    return None


def _candid(value: Any, where: str) -> str:
    if isinstance(value, bool) or value is None:
        raise AlertFormatError(f"{where} has no candid")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        return str(value).strip()
    raise AlertFormatError(f"{where} candid {str(value)[:30]!r} is not an integer id")


# ---------------------------------------------------------------------------------------------- Fink


def looks_like_fink(obj: Any) -> bool:
    return (
        isinstance(obj, list)
        and bool(obj)
        and isinstance(obj[0], dict)
        and any(isinstance(k, str) and k.startswith("i:") for k in obj[0])
    )


def parse_fink(rows: list[Any]) -> list[ParsedAlert]:
    good = [r for r in rows if isinstance(r, dict)]
    if len(good) != len(rows):
        raise AlertFormatError("Fink response must be a list of objects")
    detections = [r for r in good if finite_float(r.get("i:magpsf"), "Fink i:magpsf") is not None]
    if not detections:
        raise AlertFormatError("Fink response holds no detection (no row with i:magpsf)")
    latest = max(detections, key=lambda r: finite_float(r.get("i:jd"), "Fink i:jd") or 0.0)
    object_id = latest.get("i:objectId")
    if not isinstance(object_id, str) or not object_id:
        raise AlertFormatError("Fink row has no i:objectId")
    ra, dec = check_position(latest.get("i:ra"), latest.get("i:dec"), "Fink row")
    if ra is None:
        raise AlertFormatError("Fink row has no i:ra/i:dec")
    jd = finite_float(latest.get("i:jd"), "Fink i:jd", allow_none=False)
    assert jd is not None
    points = []
    for r in good:
        rjd = finite_float(r.get("i:jd"), "Fink i:jd")
        if rjd is None:
            continue
        mag = finite_float(r.get("i:magpsf"), "Fink i:magpsf")
        if mag is not None:
            points.append(
                LightcurvePoint(
                    mjd=rjd - 2400000.5,
                    mag=mag,
                    mag_err=finite_float(r.get("i:sigmapsf"), "Fink i:sigmapsf"),
                    filter=_fid(r.get("i:fid")),
                )
            )
        else:
            lim = finite_float(r.get("i:diffmaglim"), "Fink i:diffmaglim")
            if lim is not None:
                points.append(
                    LightcurvePoint(mjd=rjd - 2400000.5, mag=lim, filter=_fid(r.get("i:fid")), upper_limit=True)
                )
    points.sort(key=lambda p: p.mjd)
    classification = latest.get("v:classification")
    payload = {k: v for k, v in latest.items() if not k.startswith("b:")}  # b: columns are cutouts
    return [
        ParsedAlert(
            source="Fink",
            external_id=_candid(latest.get("i:candid"), "Fink row"),
            alert_type=classification
            if isinstance(classification, str) and classification.lower() not in ("", "unknown")
            else "optical transient",
            format=FORMAT,
            ra_deg=ra,
            dec_deg=dec,
            event_time=mjd_utc_to_datetime(jd - 2400000.5, "Fink i:jd"),
            magnitude=finite_float(latest.get("i:magpsf"), "Fink i:magpsf"),
            filter=_fid(latest.get("i:fid")),
            name=object_id,
            lightcurve=points,
            payload=json_safe(payload),
        )
    ]


# -------------------------------------------------------------------------------------------- ALeRCE


def looks_like_alerce(obj: Any) -> bool:
    if isinstance(obj, dict):
        return ("oid" in obj and "meanra" in obj) or (
            isinstance(obj.get("detections"), list) and "non_detections" in obj
        )
    return (
        isinstance(obj, list)
        and bool(obj)
        and isinstance(obj[0], dict)
        and "candid" in obj[0]
        and "mjd" in obj[0]
        and "magpsf" in obj[0]
    )


def _alerce_points(dets: list[Any], non_dets: list[Any]) -> list[LightcurvePoint]:
    points = []
    for d in dets:
        if not isinstance(d, dict):
            raise AlertFormatError("ALeRCE detections must be objects")
        mjd = finite_float(d.get("mjd"), "ALeRCE mjd")
        mag = finite_float(d.get("magpsf"), "ALeRCE magpsf")
        if mjd is not None and mag is not None:
            points.append(
                LightcurvePoint(
                    mjd=mjd,
                    mag=mag,
                    mag_err=finite_float(d.get("sigmapsf"), "ALeRCE sigmapsf"),
                    filter=_fid(d.get("fid")),
                )
            )
    for d in non_dets:
        if not isinstance(d, dict):
            raise AlertFormatError("ALeRCE non_detections must be objects")
        mjd = finite_float(d.get("mjd"), "ALeRCE mjd")
        lim = finite_float(d.get("diffmaglim"), "ALeRCE diffmaglim")
        if mjd is not None and lim is not None:
            points.append(LightcurvePoint(mjd=mjd, mag=lim, filter=_fid(d.get("fid")), upper_limit=True))
    points.sort(key=lambda p: p.mjd)
    return points


def parse_alerce(obj: Any) -> list[ParsedAlert]:
    if isinstance(obj, dict) and "oid" in obj and "meanra" in obj:
        oid = obj.get("oid")
        if not isinstance(oid, str) or not oid:
            raise AlertFormatError("ALeRCE object has no oid")
        ra, dec = check_position(obj.get("meanra"), obj.get("meandec"), "ALeRCE object")
        if ra is None:
            raise AlertFormatError("ALeRCE object has no meanra/meandec")
        sig = [finite_float(obj.get(k), f"ALeRCE {k}") for k in ("sigmara", "sigmadec")]
        # ALeRCE gives sigmara/sigmadec in degrees (~0.0002 deg for a ZTF object)
        radius = max(s for s in sig if s is not None) if any(s is not None for s in sig) else None
        return [
            ParsedAlert(
                source="ALeRCE",
                external_id=oid,  # the object endpoint names no detection; the object is the identity
                alert_type="optical transient",
                format=FORMAT,
                ra_deg=ra,
                dec_deg=dec,
                error_radius_deg=radius,
                event_time=mjd_utc_to_datetime(obj.get("lastmjd"), "ALeRCE lastmjd"),
                name=oid,
                payload=json_safe(obj),
            )
        ]
    if isinstance(obj, dict):
        dets, non_dets = obj.get("detections"), obj.get("non_detections") or []
    else:
        dets, non_dets = obj, []
    if not isinstance(dets, list) or not isinstance(non_dets, list):
        raise AlertFormatError("ALeRCE detections/non_detections must be lists")
    good = [d for d in dets if isinstance(d, dict) and finite_float(d.get("mjd"), "ALeRCE mjd") is not None]
    if not good:
        raise AlertFormatError("ALeRCE response holds no detection with an mjd")
    latest = max(good, key=lambda d: finite_float(d.get("mjd"), "ALeRCE mjd") or 0.0)
    ra, dec = check_position(latest.get("ra"), latest.get("dec"), "ALeRCE detection")
    if ra is None:
        raise AlertFormatError("ALeRCE detection has no ra/dec")
    oid = latest.get("oid") if isinstance(latest.get("oid"), str) else None
    payload = {k: v for k, v in latest.items()}
    return [
        ParsedAlert(
            source="ALeRCE",
            external_id=_candid(latest.get("candid"), "ALeRCE detection"),
            alert_type="optical transient",
            format=FORMAT,
            ra_deg=ra,
            dec_deg=dec,
            event_time=mjd_utc_to_datetime(latest.get("mjd"), "ALeRCE mjd"),
            magnitude=finite_float(latest.get("magpsf"), "ALeRCE magpsf"),
            filter=_fid(latest.get("fid")),
            name=oid,
            lightcurve=_alerce_points(dets, non_dets),
            payload=json_safe(payload),
        )
    ]


_ALERCE_CSV_HEAD = ("mjd", "candid", "fid", "magpsf", "ra", "dec")


def looks_like_alerce_csv(text: str) -> bool:
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    columns = {c.strip().strip('"') for c in first.split(",")}
    return all(c in columns for c in _ALERCE_CSV_HEAD)


def parse_alerce_csv(text: str) -> list[ParsedAlert]:
    """ALeRCE's detections export (the CSV twin of ``/objects/{oid}/detections``)."""
    try:
        rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:
        raise AlertFormatError(f"ALeRCE CSV is malformed: {exc}") from None
    dets = [{k: v for k, v in r.items() if k is not None} for r in rows]
    return parse_alerce(dets) if dets else parse_alerce([])


# -------------------------------------------------------------------------------------------- Lasair


def looks_like_lasair(obj: Any) -> bool:
    return isinstance(obj, dict) and (
        ("diaObjectId" in obj and ("diaSources" in obj or "lasairData" in obj))
        or ("objectId" in obj and "candidates" in obj)
    )


def parse_lasair(obj: dict[str, Any]) -> list[ParsedAlert]:
    if "diaSources" in obj or "lasairData" in obj:
        return _parse_lasair_lsst(obj)
    return _parse_lasair_ztf(obj)


def _parse_lasair_lsst(obj: dict[str, Any]) -> list[ParsedAlert]:
    sources = obj.get("diaSources")
    if not isinstance(sources, list) or not all(isinstance(s, dict) for s in sources):
        raise AlertFormatError("Lasair diaSources must be a list of objects")
    timed = [s for s in sources if finite_float(s.get("midpointMjdTai"), "Lasair midpointMjdTai") is not None]
    if not timed:
        raise AlertFormatError("Lasair object has no diaSource with midpointMjdTai")
    latest = max(timed, key=lambda s: finite_float(s.get("midpointMjdTai"), "Lasair midpointMjdTai") or 0.0)
    dia_object = obj.get("diaObject") if isinstance(obj.get("diaObject"), dict) else {}
    # Lasair's LSST tables spell declination ``decl``
    ra, dec = check_position(latest.get("ra"), latest.get("decl", latest.get("dec")), "Lasair diaSource")
    if ra is None:
        ra, dec = check_position(
            dia_object.get("ra"), dia_object.get("decl", dia_object.get("dec")), "Lasair diaObject"
        )
    if ra is None:
        raise AlertFormatError("Lasair object has no position")
    source_id = latest.get("diaSourceId")
    if not isinstance(source_id, int) or isinstance(source_id, bool):
        raise AlertFormatError("Lasair diaSource has no integer diaSourceId")
    points = []
    for s in timed:
        mag = flux_njy_to_ab_mag(s.get("psfFlux"))
        if mag is not None:
            points.append(
                LightcurvePoint(
                    mjd=finite_float(s.get("midpointMjdTai"), "Lasair midpointMjdTai") or 0.0,
                    mag=mag,
                    mag_err=flux_err_to_mag_err(s.get("psfFlux"), s.get("psfFluxErr")),
                    filter=s.get("band") if isinstance(s.get("band"), str) else None,
                )
            )
    points.sort(key=lambda p: p.mjd)
    object_id = obj.get("diaObjectId")
    lasair = obj.get("lasairData") if isinstance(obj.get("lasairData"), dict) else {}
    payload = {
        "diaObjectId": object_id,
        "diaObject": dia_object,
        "lasairData": lasair,
        "diaSource": latest,
        "n_diasources": len(sources),
    }
    band = latest.get("band")
    return [
        ParsedAlert(
            source="Lasair",
            external_id=str(source_id),
            alert_type="optical transient",
            format=FORMAT,
            ra_deg=ra,
            dec_deg=dec,
            event_time=mjd_scale_to_datetime(latest.get("midpointMjdTai"), "tai", "Lasair midpointMjdTai"),
            magnitude=flux_njy_to_ab_mag(latest.get("psfFlux")),
            filter=band if isinstance(band, str) else None,
            name=str(object_id) if object_id is not None else None,
            aliases=[lasair["tns_name"]] if isinstance(lasair.get("tns_name"), str) else [],
            lightcurve=points,
            payload=json_safe(payload),
        )
    ]


def _parse_lasair_ztf(obj: dict[str, Any]) -> list[ParsedAlert]:
    object_id = obj.get("objectId")
    if not isinstance(object_id, str) or not object_id:
        raise AlertFormatError("Lasair object has no objectId")
    cands = obj.get("candidates")
    if not isinstance(cands, list) or not all(isinstance(c, dict) for c in cands):
        raise AlertFormatError("Lasair candidates must be a list of objects")
    dets = [
        c
        for c in cands
        if c.get("candid") is not None
        and finite_float(c.get("magpsf"), "Lasair magpsf") is not None
        and finite_float(c.get("jd"), "Lasair jd") is not None
    ]
    if not dets:
        raise AlertFormatError("Lasair object has no detection")
    latest = max(dets, key=lambda c: finite_float(c.get("jd"), "Lasair jd") or 0.0)
    ra, dec = check_position(latest.get("ra"), latest.get("dec"), "Lasair candidate")
    if ra is None:
        raise AlertFormatError("Lasair candidate has no ra/dec")
    points = []
    for c in cands:
        jd = finite_float(c.get("jd"), "Lasair jd")
        if jd is None:
            continue
        mag = finite_float(c.get("magpsf"), "Lasair magpsf")
        if mag is not None:
            points.append(
                LightcurvePoint(
                    mjd=jd - 2400000.5,
                    mag=mag,
                    mag_err=finite_float(c.get("sigmapsf"), "Lasair sigmapsf"),
                    filter=_fid(c.get("fid")),
                )
            )
        elif (lim := finite_float(c.get("diffmaglim"), "Lasair diffmaglim")) is not None:
            points.append(LightcurvePoint(mjd=jd - 2400000.5, mag=lim, filter=_fid(c.get("fid")), upper_limit=True))
    points.sort(key=lambda p: p.mjd)
    jd = finite_float(latest.get("jd"), "Lasair jd") or 0.0
    return [
        ParsedAlert(
            source="Lasair",
            external_id=_candid(latest.get("candid"), "Lasair candidate"),
            alert_type="optical transient",
            format=FORMAT,
            ra_deg=ra,
            dec_deg=dec,
            event_time=mjd_utc_to_datetime(jd - 2400000.5, "Lasair jd"),
            magnitude=finite_float(latest.get("magpsf"), "Lasair magpsf"),
            filter=_fid(latest.get("fid")),
            name=object_id,
            lightcurve=points,
            payload=json_safe({"objectId": object_id, "objectData": obj.get("objectData"), "candidate": latest}),
        )
    ]
