"""Gaia Science Alerts ``alerts.csv`` (http://gsaweb.ast.cam.ac.uk/alerts/alerts.csv).

Header: ``#Name, Date, RaDeg, DecDeg, AlertMag, HistoricMag, HistoricStdDev, Class, Published, Comment,
TNSid``; ``Date`` is the UTC time of the alerting observation, magnitudes are Gaia G. ``external_id`` is the
alert name (``Gaia16aye``); the TNS designation becomes an alias.
"""

from __future__ import annotations

import csv
import io

from .base import AlertFormatError, ParsedAlert, check_position, finite_float, json_safe, parse_iso_time

FORMAT = "gaia_csv"
_REQUIRED = ("Name", "Date", "RaDeg", "DecDeg")


def looks_like_gaia_csv(text: str) -> bool:
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    return first.lstrip("#").strip().startswith("Name") and "RaDeg" in first and "DecDeg" in first


def _alert_type(cls: str) -> str:
    c = cls.strip().upper()
    if c == "ULENS":
        return "microlensing"
    if c.startswith("SN"):
        return "SN"
    if c in ("CV", "YSO", "AGN", "QSO", "TDE", "NOVA"):
        return c if c in ("CV", "YSO", "AGN", "QSO", "TDE") else "nova"
    return "optical transient"


def parse_gaia_csv(text: str) -> list[ParsedAlert]:
    text = text.lstrip("\ufeff")
    if not looks_like_gaia_csv(text):
        raise AlertFormatError("not a Gaia alerts CSV: the header must start with '#Name, Date, RaDeg, DecDeg'")
    header, _, rest = text.partition("\n")
    fields = [f.strip() for f in header.lstrip("#").split(",")]
    for f in _REQUIRED:
        if f not in fields:
            raise AlertFormatError(f"Gaia alerts CSV has no {f!r} column")
    try:
        rows = list(csv.DictReader(io.StringIO(rest), fieldnames=fields, skipinitialspace=True))
    except csv.Error as exc:
        raise AlertFormatError(f"Gaia alerts CSV is malformed: {exc}") from None
    alerts = []
    for i, row in enumerate(rows, start=1):
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        name = (row.get("Name") or "").strip()
        if not name:
            raise AlertFormatError(f"Gaia alerts CSV row {i} has no Name")
        where = f"Gaia alerts CSV row {i} ({name[:20]})"
        ra, dec = check_position(row.get("RaDeg"), row.get("DecDeg"), where)
        if ra is None:
            raise AlertFormatError(f"{where} has no RaDeg/DecDeg")
        tns = (row.get("TNSid") or "").strip()
        cls = (row.get("Class") or "").strip()
        alerts.append(
            ParsedAlert(
                source="Gaia",
                external_id=name,
                alert_type=_alert_type(cls),
                format=FORMAT,
                ra_deg=ra,
                dec_deg=dec,
                event_time=parse_iso_time(row.get("Date"), f"{where} Date"),
                magnitude=finite_float(row.get("AlertMag"), f"{where} AlertMag"),
                filter="G",
                name=name,
                aliases=[tns] if tns else [],
                payload=json_safe({k: v for k, v in row.items() if k is not None}),
            )
        )
    if not alerts:
        raise AlertFormatError("Gaia alerts CSV has no rows")
    return alerts
