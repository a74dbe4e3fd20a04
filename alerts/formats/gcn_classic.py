"""GCN Classic 160-byte binary notices (40 big-endian int32), for the few types we act on.

Layout (https://gcn.gsfc.nasa.gov/sock_pkt_def_doc.html): [0] packet type, [1] serial number, [4] trigger
number, [5] truncated Julian day (MJD − 40000), [6] seconds of day ×100, [7] RA ×10⁴ deg, [8] Dec ×10⁴ deg,
[11] error radius ×10⁴ deg (Swift/Fermi). LVK packets carry the superevent id in the text at words 29–38.
Binary GCN is deprecated in favour of the Kafka JSON; this exists so an old relay still works.
"""

from __future__ import annotations

import datetime as dt
import struct

from .base import AlertFormatError, ParsedAlert, check_position, check_radius, json_safe

FORMAT = "gcn_classic"
PACKET_BYTES = 160

# type → (notice name, mission/instrument, alert type, has position, error word scale or None)
_TYPES: dict[int, tuple[str, str, str, bool, float | None]] = {
    61: ("SWIFT_BAT_GRB_POS_ACK", "Swift/BAT", "GRB", True, 1e-4),
    67: ("SWIFT_XRT_POSITION", "Swift/XRT", "GRB", True, 1e-4),
    81: ("SWIFT_UVOT_POS", "Swift/UVOT", "GRB", True, 1e-4),
    111: ("FERMI_GBM_FLT_POS", "Fermi/GBM", "GRB", True, 1e-4),
    112: ("FERMI_GBM_GND_POS", "Fermi/GBM", "GRB", True, 1e-4),
    115: ("FERMI_GBM_FIN_POS", "Fermi/GBM", "GRB", True, 1e-4),
    160: ("CALET_GBM_FLT_LC", "CALET/GBM", "GRB", True, None),
    161: ("CALET_GBM_GND_LC", "CALET/GBM", "GRB", True, None),
    150: ("LVC_PRELIMINARY", "LVK", "GW", False, None),
    151: ("LVC_INITIAL", "LVK", "GW", False, None),
    152: ("LVC_UPDATE", "LVK", "GW", False, None),
    164: ("LVC_RETRACTION", "LVK", "GW", False, None),
}
_VOEVENT_STREAM = {"Swift": "SWIFT", "Fermi": "Fermi", "CALET": "CALET"}
_MJD_EPOCH = dt.datetime(1858, 11, 17, tzinfo=dt.UTC)


def looks_like_gcn_classic(body: bytes) -> bool:
    return len(body) == PACKET_BYTES and struct.unpack(">i", body[:4])[0] in _TYPES


def _lvk_superevent(words: tuple[int, ...]) -> str | None:
    # The text field is stored as little-endian words inside a big-endian packet.
    raw = b"".join(struct.pack("<i", w) for w in words[29:39]).split(b"\x00", 1)[0]
    text = raw.decode("ascii", "replace")
    sid = text.split("/", 1)[0].strip()
    return sid or None


def parse_gcn_classic(body: bytes) -> list[ParsedAlert]:
    if len(body) != PACKET_BYTES:
        raise AlertFormatError(f"GCN Classic packet must be {PACKET_BYTES} bytes, got {len(body)}")
    words = struct.unpack(">40i", body)
    ptype = words[0]
    if ptype not in _TYPES:
        raise AlertFormatError(f"GCN Classic packet type {ptype} is not supported")
    notice, mission, alert_type, has_pos, err_scale = _TYPES[ptype]
    tjd, sod_cs = words[5], words[6]
    if not 10000 <= tjd < 90000 or not 0 <= sod_cs < 8640100:
        raise AlertFormatError(f"GCN Classic packet time (TJD {tjd}, SOD {sod_cs / 100}) is not valid")
    event_time = _MJD_EPOCH + dt.timedelta(days=40000 + tjd, seconds=sod_cs / 100.0)
    ra = dec = radius = None
    if has_pos:
        ra, dec = check_position(words[7] * 1e-4, words[8] * 1e-4, f"GCN Classic {notice}")
        if err_scale is not None:
            radius = check_radius(words[11] * err_scale, f"GCN Classic {notice}")
    role = "observation"
    if mission == "LVK":
        trigger = _lvk_superevent(words) or str(words[4])
        role = "test" if trigger[:1] in ("M", "T") else "observation"
        external_id = trigger
    else:
        trigger = str(words[4] & 0xFFFFFF) if mission.startswith("Swift") else str(words[4])
        # Same key as the VOEvent of the same trigger (ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_<trig>-<n>).
        external_id = f"nasa.gsfc.gcn/{_VOEVENT_STREAM[mission.split('/')[0]]}#{trigger}"
    return [
        ParsedAlert(
            source="IGWN" if mission == "LVK" else "GCN",
            external_id=external_id,
            alert_type=alert_type,
            format=FORMAT,
            ra_deg=ra,
            dec_deg=dec,
            error_radius_deg=radius,
            event_time=event_time,
            role=role,  # type: ignore[arg-type]
            is_retraction=ptype == 164,
            name=trigger if mission == "LVK" else f"{mission} trigger {trigger}",
            notice_type=notice,
            revision=words[1],
            payload=json_safe({"packet_type": ptype, "notice": notice, "words": list(words)}),
        )
    ]
