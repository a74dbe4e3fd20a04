"""Avro alert packets: ZTF (with its history as a light curve), Rubin via Fink, IGWN; broken files."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import fastavro
import pytest

from alerts.formats import AlertFormatError, parse

DATA = Path(__file__).parent / "data" / "brokers"
SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
ZTF_SAMPLE = SHARED / "ztf_alerts" / "ztf_avro" / "ztf_472263571115115000.avro"
UTC = dt.UTC

# A minimal ZTF-shaped schema, written from the field list in ZTF's schema documentation.
_CANDIDATE_FIELDS = [
    {"name": "jd", "type": "double"},
    {"name": "fid", "type": "int"},
    {"name": "candid", "type": ["long", "null"]},
    {"name": "ra", "type": ["double", "null"]},
    {"name": "dec", "type": ["double", "null"]},
    {"name": "magpsf", "type": ["float", "null"]},
    {"name": "sigmapsf", "type": ["float", "null"]},
    {"name": "diffmaglim", "type": ["float", "null"]},
    {"name": "ssnamenr", "type": ["string", "null"]},
    {"name": "ssdistnr", "type": ["float", "null"]},
]
ZTF_SCHEMA = {
    "type": "record",
    "name": "alert",
    "namespace": "ztf",
    "fields": [
        {"name": "schemavsn", "type": "string"},
        {"name": "objectId", "type": "string"},
        {"name": "candid", "type": "long"},
        {"name": "candidate", "type": {"type": "record", "name": "candidate", "fields": _CANDIDATE_FIELDS}},
        {
            "name": "prv_candidates",
            "type": [
                "null",
                {"type": "array", "items": {"type": "record", "name": "prv_candidate", "fields": _CANDIDATE_FIELDS}},
            ],
        },
    ],
}


def ztf_packet(**candidate) -> bytes:
    cand = {
        "jd": 2461367.5,
        "fid": 1,
        "candid": 3000000000000000001,
        "ra": 150.1,
        "dec": -2.3,
        "magpsf": 17.2,
        "sigmapsf": 0.05,
        "diffmaglim": 20.1,
        "ssnamenr": None,
        "ssdistnr": None,
        **candidate,
    }
    prv = [
        {
            **cand,
            "jd": 2461360.5,
            "candid": None,
            "ra": None,
            "dec": None,
            "magpsf": None,
            "sigmapsf": None,
            "diffmaglim": 19.8,
        },
        {**cand, "jd": 2461364.5, "candid": 2999, "magpsf": 18.0, "fid": 2},
    ]
    buf = io.BytesIO()
    fastavro.writer(
        buf,
        fastavro.parse_schema(ZTF_SCHEMA),
        [
            {
                "schemavsn": "4.02",
                "objectId": "ZTF26aaaaaaa",
                "candid": cand["candid"],
                "candidate": cand,
                "prv_candidates": prv,
            }
        ],
    )
    return buf.getvalue()


def test_ztf_packet_position_time_magnitude_and_light_curve():
    a = parse(ztf_packet(), "avro/binary")[0]
    assert (a.source, a.external_id, a.name) == ("ZTF", "3000000000000000001", "ZTF26aaaaaaa")
    assert (a.ra_deg, a.dec_deg) == (150.1, -2.3)
    assert a.event_time == dt.datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # JD 2461367.5
    assert (a.magnitude, a.filter) == (pytest.approx(17.2), "g")
    assert [(p.mjd, p.upper_limit, p.filter) for p in a.lightcurve] == [
        (61360.0, True, "g"),
        (61364.0, False, "r"),
        (61367.0, False, "g"),
    ]
    assert a.lightcurve[0].mag == pytest.approx(19.8)


def test_ztf_solar_system_candidate_is_typed_so():
    a = parse(ztf_packet(ssnamenr="1234", ssdistnr=0.5), "avro/binary")[0]
    assert a.alert_type == "solar system object"


@pytest.mark.skipif(not ZTF_SAMPLE.exists(), reason="../shared/data not present")
def test_real_ztf_packet_from_shared_data():
    a = parse(ZTF_SAMPLE.read_bytes(), "avro/binary")[0]
    assert (a.external_id, a.name) == ("472263571115115000", "ZTF17aaajnnn")
    assert (a.ra_deg, a.dec_deg) == pytest.approx((179.6402013, 52.0297203))
    # jd 2458226.7635764 (UTC) = 2018-04-18 06:19:33.001
    assert abs((a.event_time - dt.datetime(2018, 4, 18, 6, 19, 33, 1000, tzinfo=UTC)).total_seconds()) < 0.01
    assert (a.magnitude, a.filter) == (pytest.approx(18.36185646), "r")
    assert len(a.lightcurve) == 12 and a.lightcurve[-1].mag == pytest.approx(18.36185646)
    assert "stampData" not in str(a.payload)


def test_rubin_alerts_from_fink_transfer_file():
    alerts = parse((DATA / "fink_lsst_2records.avro").read_bytes(), "avro/binary")
    assert len(alerts) == 2
    a, so = alerts
    assert (a.source, a.external_id, a.name) == ("Rubin", "170094456272322680", "170028485706776685")
    assert (a.ra_deg, a.dec_deg) == pytest.approx((63.349628499442076, -47.18075801654059))
    # midpointMjdTai 61105.093643486834 on TAI; UTC = TAI − 37 s
    expected = dt.datetime(2026, 3, 6, 2, 14, 50, 797262, tzinfo=UTC) - dt.timedelta(seconds=37)
    assert abs((a.event_time - expected).total_seconds()) < 0.001
    assert a.filter == "i"
    assert a.magnitude is None  # negative difference flux: no magnitude
    assert len(a.lightcurve) > 10
    assert so.alert_type == "solar system object"
    assert so.magnitude == pytest.approx(31.4 - 2.5 * __import__("math").log10(15362.61328125))


def test_truncated_avro_is_a_format_error():
    body = ztf_packet()
    for cut in (5, 40, len(body) // 2, len(body) - 3):
        with pytest.raises(AlertFormatError, match="Avro"):
            parse(body[:cut], "avro/binary")


def test_confluent_wire_format_is_refused_with_reason():
    with pytest.raises(AlertFormatError, match="schema-registry"):
        parse(b"\x00\x00\x00\x00\x07" + b"\x02" * 40, "avro/binary")


def test_avro_of_unknown_record_shape_is_a_format_error():
    buf = io.BytesIO()
    fastavro.writer(buf, {"type": "record", "name": "x", "fields": [{"name": "a", "type": "int"}]}, [{"a": 1}])
    with pytest.raises(AlertFormatError, match="neither a ZTF, Rubin nor IGWN"):
        parse(buf.getvalue(), "avro/binary")


def test_igwn_alert_as_avro():
    schema = {
        "type": "record",
        "name": "AlertType",
        "fields": [
            {"name": "superevent_id", "type": "string"},
            {"name": "alert_type", "type": "string"},
            {"name": "time_created", "type": "string"},
            {
                "name": "event",
                "type": [
                    "null",
                    {
                        "type": "record",
                        "name": "EventType",
                        "fields": [
                            {"name": "time", "type": "string"},
                            {"name": "far", "type": "double"},
                            {"name": "skymap", "type": ["null", "bytes"]},
                        ],
                    },
                ],
            },
            {"name": "external_coinc", "type": ["null", "string"]},
        ],
    }
    buf = io.BytesIO()
    fastavro.writer(
        buf,
        schema,
        [
            {
                "superevent_id": "S261123ab",
                "alert_type": "INITIAL",
                "time_created": "2026-11-23T19:20:00Z",
                "event": {"time": "2026-11-23T19:08:41Z", "far": 1e-9, "skymap": None},
                "external_coinc": None,
            }
        ],
    )
    a = parse(buf.getvalue(), "avro/binary")[0]
    assert (a.source, a.external_id, a.notice_type, a.alert_type) == ("IGWN", "S261123ab", "INITIAL", "GW")
    assert a.event_time == dt.datetime(2026, 11, 23, 19, 8, 41, tzinfo=UTC)
