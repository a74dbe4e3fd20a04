"""The one shape every alert parser returns, the errors they raise, and small shared helpers.

Pure: imports numpy/astropy at most, never Django.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["observation", "test", "utility"]
ROLES: frozenset[str] = frozenset({"observation", "test", "utility"})


class AlertFormatError(ValueError):
    """The body is in a format we know but is malformed or of the wrong shape (HTTP 400)."""


class UnsupportedMediaType(ValueError):
    """No parser handles this content type (HTTP 415)."""


@dataclass(slots=True)
class LightcurvePoint:
    """One photometric point from a packet's history. ``mag`` is None for a pure non-detection."""

    mjd: float
    mag: float | None
    mag_err: float | None = None
    filter: str | None = None
    upper_limit: bool = False  # True: ``mag`` is a limiting magnitude (no detection)

    @property
    def jd(self) -> float:
        return self.mjd + 2400000.5


@dataclass(slots=True)
class SkymapSummary:
    """What we keep of a localisation map: enough to decide and to plan tiling later."""

    area_50_deg2: float | None = None
    area_90_deg2: float | None = None
    max_order: int | None = None
    n_pixels: int | None = None
    ra_max_deg: float | None = None  # most probable pixel, when computable
    dec_max_deg: float | None = None
    url: str | None = None


@dataclass(slots=True)
class ParsedAlert:
    """A message from any feed, normalised.

    ``(source, external_id)`` is the natural key: for series of notices (VOEvent Preliminary → Initial →
    Update, GCN Kafka records of one trigger, IGWN alerts of one superevent) every message of the series has
    the same ``external_id``, and ``revision`` orders them when known.
    """

    source: str
    external_id: str
    alert_type: str
    format: str
    ra_deg: float | None = None
    dec_deg: float | None = None
    error_radius_deg: float | None = None
    event_time: dt.datetime | None = None  # aware, UTC
    magnitude: float | None = None
    filter: str | None = None
    priority: float | None = None  # only when the sender states one (the API's normalised form)
    role: Role = "observation"
    is_retraction: bool = False
    name: str | None = None  # a human name for a target made from it (ZTF objectId, TNS name, ...)
    aliases: list[str] = field(default_factory=list)
    ivorn: str | None = None  # VOEvent packet identity (unique per packet, unlike external_id)
    notice_type: str | None = None  # e.g. "BAT_GRB_Pos", "Preliminary", "INITIAL", "retraction"
    revision: int | None = None  # Pkt_Ser_Num / record_number: larger is newer within a series
    lightcurve: list[LightcurvePoint] = field(default_factory=list)
    skymap: SkymapSummary | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def has_position(self) -> bool:
        return self.ra_deg is not None and self.dec_deg is not None

    def as_alert_fields(self) -> dict[str, Any]:
        """The columns an ``Alert`` row stores directly; every other parsed field (name, aliases, ivorn,
        notice_type, revision, role, lightcurve, skymap, ...) goes into ``payload["parsed"]``."""
        columns = (
            "source",
            "external_id",
            "alert_type",
            "ra_deg",
            "dec_deg",
            "error_radius_deg",
            "magnitude",
            "priority",
            "event_time",
        )
        extras = self.to_dict()
        payload = extras.pop("payload")
        for name in columns:
            extras.pop(name, None)
        return {**{name: getattr(self, name) for name in columns}, "payload": {**payload, "parsed": extras}}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (ISO times with Z, NaN → None), e.g. for ``Alert.payload`` or logs."""
        d = asdict(self)
        d["event_time"] = isoformat_z(self.event_time)
        return json_safe(d)


# --------------------------------------------------------------------------------------------------------
# Helpers shared by the parsers
# --------------------------------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """Deep-copy ``value`` into something ``json.dumps(allow_nan=False)`` accepts.

    NaN/inf → None, bytes → base64 text (cutouts are dropped by the parsers before this), datetimes → ISO.
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        return isoformat_z(value)
    if hasattr(value, "item"):  # numpy scalar
        return json_safe(value.item())
    return str(value)


def isoformat_z(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    text = value.astimezone(dt.UTC).isoformat()
    return text.replace("+00:00", "Z")


def finite_float(value: Any, what: str, *, allow_none: bool = True) -> float | None:
    """``value`` as a finite float. None, blank or NaN → None (absent); infinite or not a number →
    AlertFormatError."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "null", "None", "NaN", "nan")):
        if allow_none:
            return None
        raise AlertFormatError(f"{what} is missing")
    if isinstance(value, bool):
        raise AlertFormatError(f"{what} must be a number, got a boolean")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range, e.g. 1 followed by 400 zeros
        number = math.inf
    except (TypeError, ValueError):
        raise AlertFormatError(f"{what} must be a number, got {str(value)[:40]!r}") from None
    if math.isnan(number):  # brokers write NaN for "no value" (Lasair even as a bare token)
        if allow_none:
            return None
        raise AlertFormatError(f"{what} is missing (NaN)")
    if math.isinf(number):
        raise AlertFormatError(f"{what} is not a finite number")
    return number


def check_position(ra: Any, dec: Any, where: str) -> tuple[float | None, float | None]:
    """Validate an (ra, dec) pair in degrees; both or neither. RA is wrapped into [0, 360)."""
    ra_deg = finite_float(ra, f"{where} RA")
    dec_deg = finite_float(dec, f"{where} Dec")
    if ra_deg is None or dec_deg is None:
        return None, None
    if not -90.0 <= dec_deg <= 90.0:
        raise AlertFormatError(f"{where} Dec {dec_deg} is outside -90..90 degrees")
    if not -360.0 <= ra_deg <= 720.0:
        raise AlertFormatError(f"{where} RA {ra_deg} is not an angle in degrees")
    ra_deg = ra_deg % 360.0
    if ra_deg >= 360.0:  # -1e-17 % 360 == 360.0 in floating point
        ra_deg = 0.0
    return ra_deg, dec_deg


def check_radius(value: Any, where: str) -> float | None:
    radius = finite_float(value, f"{where} error radius")
    if radius is None:
        return None
    if radius < 0 or radius > 180:
        raise AlertFormatError(f"{where} error radius {radius} is not between 0 and 180 degrees")
    return radius


_MJD_EPOCH = dt.datetime(1858, 11, 17, tzinfo=dt.UTC)
# Valid range for times we accept: anything outside is a broken packet, not an astronomical event.
_MIN_TIME = dt.datetime(1950, 1, 1, tzinfo=dt.UTC)
_MAX_TIME = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _check_range(value: dt.datetime, where: str) -> dt.datetime:
    if not _MIN_TIME <= value < _MAX_TIME:
        raise AlertFormatError(f"{where} {value.isoformat()} is outside 1950..2200")
    return value


def mjd_utc_to_datetime(mjd: Any, where: str) -> dt.datetime | None:
    """MJD on the UTC time scale (as ZTF's ``jd`` − 2400000.5) → aware datetime.

    Simple arithmetic is right here: UTC MJD counts 86400 s days, and leap seconds never fall inside an alert.
    """
    value = finite_float(mjd, where)
    if value is None:
        return None
    if not 33282.0 <= value < 124000.0:  # 1950..2200
        raise AlertFormatError(f"{where} {value} is not a plausible MJD")
    return _MJD_EPOCH + dt.timedelta(days=value)


def mjd_scale_to_datetime(mjd: Any, scale: str, where: str) -> dt.datetime | None:
    """MJD on another time scale (``tai`` for Rubin, ``tt``/``tdb``) → aware UTC datetime."""
    value = finite_float(mjd, where)
    if value is None:
        return None
    if not 33282.0 <= value < 124000.0:
        raise AlertFormatError(f"{where} {value} is not a plausible MJD")
    if scale == "utc":
        return mjd_utc_to_datetime(value, where)
    return _MJD_EPOCH + dt.timedelta(days=_mjd_to_utc_mjd(value, scale))


def _mjd_to_utc_mjd(mjd: float, scale: str) -> float:
    """Convert with ERFA (astropy's own time engine) directly: ~100x faster than building astropy Time
    objects, which matters for alert streams. Leap seconds come from ERFA's built-in table, offline."""
    import warnings

    import erfa

    scale = scale.lower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", erfa.ErfaWarning)  # "dubious year" past the leap-second table
        d1, d2 = 2400000.5, mjd
        if scale == "gps":  # GPS = TAI − 19 s exactly
            d2 += 19.0 / 86400.0
            scale = "tai"
        if scale == "tcb":
            d1, d2 = erfa.tcbtdb(d1, d2)
            scale = "tdb"
        if scale == "tcg":
            d1, d2 = erfa.tcgtt(d1, d2)
            scale = "tt"
        if scale == "tdb":
            # TDB − TT at the geocentre (≤ 1.7 ms), the usual approximation when no site is given
            dtr = erfa.dtdb(d1, d2, 0.0, 0.0, 0.0, 0.0)
            d1, d2 = erfa.tdbtt(d1, d2, dtr)
            scale = "tt"
        if scale == "tt":
            d1, d2 = erfa.tttai(d1, d2)
            scale = "tai"
        if scale != "tai":
            raise AlertFormatError(f"unknown time scale {scale!r}")
        u1, u2 = erfa.taiutc(d1, d2)
    return float((u1 - 2400000.5) + u2)


_TIME_SCALES = {"UTC", "TAI", "TT", "TDB", "TCB", "TCG", "GPS", "UT1"}
_NAIVE_MJD_EPOCH = dt.datetime(1858, 11, 17)  # noqa: DTZ001 - arithmetic on times of a stated non-UTC scale


def parse_iso_time(text: Any, where: str, *, scale: str = "UTC") -> dt.datetime | None:
    """An ISO 8601 time → aware UTC datetime.

    A value without an offset is taken on ``scale`` (VOEvent states its scale in the coordinate system,
    e.g. ``UTC-FK5-GEO``; GCN JSON times are UTC by schema). Other scales are converted with ERFA.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise AlertFormatError(f"{where} must be an ISO 8601 string")
    raw = text.strip()
    if not raw:
        return None
    candidate = raw.replace(" ", "T", 1) if "T" not in raw and " " in raw else raw
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(candidate)
    except ValueError:
        raise AlertFormatError(f"{where} {raw[:40]!r} is not an ISO 8601 time") from None
    scale = scale.upper()
    if value.tzinfo is not None:
        return _check_range(value.astimezone(dt.UTC), where)
    if scale not in _TIME_SCALES:
        raise AlertFormatError(f"{where}: unknown time scale {scale!r}")
    _check_range(value.replace(tzinfo=dt.UTC), where)
    if scale in ("UTC", "UT1"):  # UT1 is within 0.9 s of UTC; converting needs IERS tables we do not fetch
        return value.replace(tzinfo=dt.UTC)
    mjd = (value - _NAIVE_MJD_EPOCH).total_seconds() / 86400.0
    return _MJD_EPOCH + dt.timedelta(days=_mjd_to_utc_mjd(mjd, scale))


def flux_njy_to_ab_mag(flux_njy: Any) -> float | None:
    """Rubin fluxes are in nanojansky; AB mag = 31.4 − 2.5 log10(f/nJy). Non-positive flux has no magnitude."""
    flux = finite_float(flux_njy, "flux")
    if flux is None or flux <= 0:
        return None
    return 31.4 - 2.5 * math.log10(flux)


def flux_err_to_mag_err(flux: Any, flux_err: Any) -> float | None:
    f = finite_float(flux, "flux")
    e = finite_float(flux_err, "flux error")
    if f is None or e is None or f <= 0 or e < 0:
        return None
    return 2.5 / math.log(10) * e / f


def require_mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AlertFormatError(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def first_str(value: Any) -> str | None:
    """GCN JSON ``id`` is a list of strings (sometimes numbers); take the first as text."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = str(value).strip()
    return text or None
