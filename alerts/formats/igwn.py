"""IGWN (LIGO/Virgo/KAGRA) gravitational-wave alerts as sent on GCN Kafka (JSON, or Avro with the same fields).

See the LVK user guide, "Alert contents": ``superevent_id``, ``alert_type`` (EARLYWARNING, PRELIMINARY,
INITIAL, UPDATE, RETRACTION), ``time_created``, ``event`` (``time``, ``far``, ``significant``,
``instruments``, ``group``, ``pipeline``, ``search``, ``classification``, ``properties``, ``skymap``: a
multi-order HEALPix FITS file, base64 in JSON, raw bytes in Avro), ``external_coinc``.

A GW alert localises to a region of tens to thousands of square degrees: it is summarised (50%/90% areas, most
probable pixel), never turned into one position. ``external_id`` is the superevent id, so every alert of a
superevent (including its retraction) reaches the same record; ``notice_type`` is the alert type.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import math
import re
from typing import Any

import numpy as np

from .base import (
    AlertFormatError,
    ParsedAlert,
    SkymapSummary,
    json_safe,
    parse_iso_time,
    require_mapping,
)

FORMAT = "igwn"
ALERT_TYPES = frozenset({"EARLYWARNING", "EARLY_WARNING", "PRELIMINARY", "INITIAL", "UPDATE", "RETRACTION"})
_SUPEREVENT = re.compile(r"^[A-Z]{0,2}S\d{6}[a-z]{1,3}$")
_SR_TO_DEG2 = (180.0 / math.pi) ** 2


def looks_like_igwn(obj: Any) -> bool:
    return isinstance(obj, dict) and "superevent_id" in obj and "alert_type" in obj


def summarise_skymap(fits_bytes: bytes) -> SkymapSummary:
    """50%/90% credible areas of a HEALPix map (multi-order ``UNIQ``/``PROBDENSITY`` or flat ``PROB``)."""
    from astropy.io import fits

    if fits_bytes[:2] == b"\x1f\x8b":
        try:
            fits_bytes = gzip.decompress(fits_bytes)
        except (OSError, EOFError) as exc:
            raise AlertFormatError(f"skymap is corrupt gzip: {exc}") from None
    if not fits_bytes.startswith(b"SIMPLE"):
        raise AlertFormatError("skymap is not a FITS file")
    try:
        with fits.open(io.BytesIO(fits_bytes), memmap=False) as hdul:
            if len(hdul) < 2 or not hasattr(hdul[1], "columns"):
                raise AlertFormatError("skymap FITS has no table extension")
            hdr = hdul[1].header
            names = {n.upper(): n for n in hdul[1].columns.names}
            data = hdul[1].data
            if "UNIQ" in names and "PROBDENSITY" in names:
                uniq = np.asarray(data[names["UNIQ"]], dtype=np.int64)
                dens = np.asarray(data[names["PROBDENSITY"]], dtype=np.float64)
                if uniq.size == 0 or np.any(uniq < 4):
                    raise AlertFormatError("skymap UNIQ column is empty or invalid")
                order = (np.floor(np.log2(uniq.astype(np.float64)) / 2.0) - 1).astype(np.int64)
                nside = np.left_shift(np.int64(1), order)
                ipix = uniq - 4 * nside * nside
                area_sr = 4.0 * math.pi / (12.0 * nside.astype(np.float64) ** 2)
            elif "PROB" in names:
                prob_col = np.asarray(data[names["PROB"]], dtype=np.float64).ravel()
                nside_val = int(hdr.get("NSIDE") or round(math.sqrt(prob_col.size / 12)))
                if nside_val <= 0 or 12 * nside_val * nside_val != prob_col.size:
                    raise AlertFormatError("skymap PROB column does not match its NSIDE")
                area_sr = np.full(prob_col.size, 4.0 * math.pi / (12.0 * nside_val**2))
                dens = prob_col / area_sr
                order = np.full(prob_col.size, int(round(math.log2(nside_val))), dtype=np.int64)
                nside = np.full(prob_col.size, nside_val, dtype=np.int64)
                ipix = np.arange(prob_col.size, dtype=np.int64)
                if str(hdr.get("ORDERING", "RING")).upper() != "NESTED":
                    ipix = None  # ring ordering: skip the most-probable position rather than convert
            else:
                raise AlertFormatError("skymap has neither UNIQ/PROBDENSITY nor PROB columns")
    except AlertFormatError:
        raise
    except Exception as exc:  # astropy raises many kinds of errors on broken FITS
        raise AlertFormatError(f"skymap FITS cannot be read: {exc}") from None

    dens = np.where(np.isfinite(dens) & (dens > 0), dens, 0.0)
    prob = dens * area_sr
    total = float(prob.sum())
    if not total > 0:
        raise AlertFormatError("skymap holds no probability")
    idx = np.argsort(-dens, kind="stable")
    cum = np.cumsum(prob[idx]) / total
    area_sorted = np.cumsum(area_sr[idx]) * _SR_TO_DEG2
    a50 = float(area_sorted[min(int(np.searchsorted(cum, 0.5)), cum.size - 1)])
    a90 = float(area_sorted[min(int(np.searchsorted(cum, 0.9)), cum.size - 1)])
    ra_max = dec_max = None
    if ipix is not None:
        try:
            from astropy_healpix import HEALPix

            best = int(idx[0])
            lon, lat = HEALPix(nside=int(nside[best]), order="nested").healpix_to_lonlat([int(ipix[best])])
            ra_max, dec_max = float(lon.deg[0]), float(lat.deg[0])
        except Exception:  # optional: astropy_healpix missing or an odd pixel; the areas are what matter
            ra_max = dec_max = None
    return SkymapSummary(
        area_50_deg2=round(a50, 3),
        area_90_deg2=round(a90, 3),
        max_order=int(order.max()),
        n_pixels=int(dens.size),
        ra_max_deg=ra_max,
        dec_max_deg=dec_max,
    )


def _decode_skymap(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise AlertFormatError("IGWN event.skymap is not valid base64") from None
    raise AlertFormatError("IGWN event.skymap must be base64 text or bytes")


def parse_igwn_obj(obj: Any) -> list[ParsedAlert]:
    obj = require_mapping(obj, "IGWN alert")
    sid = obj.get("superevent_id")
    if not isinstance(sid, str) or not _SUPEREVENT.match(sid.strip()):
        raise AlertFormatError(f"IGWN alert superevent_id {str(sid)[:30]!r} is not a superevent id like S230518h")
    sid = sid.strip()
    kind = obj.get("alert_type")
    if not isinstance(kind, str) or kind.upper() not in ALERT_TYPES:
        raise AlertFormatError(f"IGWN alert_type {str(kind)[:30]!r} is not one of {sorted(ALERT_TYPES)}")
    kind = kind.upper()
    created = parse_iso_time(obj.get("time_created"), "IGWN alert time_created")
    event = obj.get("event")
    if event is not None:
        event = require_mapping(event, "IGWN alert event")
    ext = obj.get("external_coinc")
    if ext is not None:
        ext = require_mapping(ext, "IGWN alert external_coinc")

    event_time = None
    skymap = None
    payload: dict[str, Any] = {k: v for k, v in obj.items() if k not in ("event", "external_coinc")}
    if event is not None:
        event_time = parse_iso_time(event.get("time"), "IGWN alert event.time")
        blob = _decode_skymap(event.get("skymap"))
        if blob:
            skymap = summarise_skymap(blob)
        payload["event"] = {k: v for k, v in event.items() if k != "skymap"}
    if ext is not None:
        payload["external_coinc"] = {k: v for k, v in ext.items() if k != "combined_skymap"}
    urls = obj.get("urls")
    if skymap is not None and isinstance(urls, dict) and isinstance(urls.get("gracedb"), str):
        skymap.url = urls["gracedb"]
    if event_time is None:  # a retraction carries no event: its creation time is the only time it has
        event_time = created

    # Mock (MS…) and test (TS…) superevents are not astrophysical.
    role = "test" if sid[0] in "MT" else "observation"
    return [
        ParsedAlert(
            source="IGWN",
            external_id=sid,
            alert_type="GW",
            format=FORMAT,
            event_time=event_time,
            role=role,  # type: ignore[arg-type]
            is_retraction=kind == "RETRACTION",
            name=sid,
            notice_type=kind,
            skymap=skymap,
            payload=json_safe(payload),
        )
    ]
