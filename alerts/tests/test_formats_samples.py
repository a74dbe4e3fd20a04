"""Every alert sample in ../shared/data parses to the position and time it states.

The expected values below were read from the sample files by hand (ISOTime, C1/C2, ra/dec fields, jd/mjd
columns). Skips cleanly on a fresh clone without ../shared/data; the licensed subset is also covered from
alerts/tests/data by the other test_formats_* modules.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from alerts.formats import AlertFormatError, parse

SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")

CONTENT_TYPES = {
    ".xml": "application/xml",
    ".json": "application/json",
    ".avro": "avro/binary",
    ".bin": "application/octet-stream",
    ".csv": "text/csv",
}
# Not alert messages: schemas and documentation.
NOT_ALERTS = {"schema", "schema.md"}
NOT_ALERT_FILES = {"ztf_alerts/fink/lsst_avro_schema_ftransfer_2026-03-18.json"}

# path → (number of alerts, ra_deg, dec_deg, event_time UTC ISO, first alert) — None where the message has none
EXPECTED: dict[str, tuple[int, float | None, float | None, str | None]] = {
    "gcn_notices/classic_binary/CALET_GBM_FLT_LC.example.bin": (1, 193.85, 50.359, "2024-05-14T13:49:42.620"),
    "gcn_notices/classic_binary/CALET_GBM_FLT_LC.example.json": (1, 193.85, 50.359, "2024-05-14T13:49:42.620"),
    "gcn_notices/classic_binary/LVC_PRELIMINARY.example.bin": (1, None, None, "2024-05-10T05:47:17"),
    "gcn_notices/classic_binary/SWIFT_BAT_GRB_POS_ACK.example.bin": (1, 336.6645, 8.5135, "2024-05-11T18:06:53.220"),
    "gcn_notices/classic_binary/SWIFT_BAT_GRB_POS_ACK.example.json": (1, 336.6645, 8.5135, "2024-05-11T18:06:53.220"),
    "gcn_notices/kafka_json/core_Localization.example.json": (1, 120.0, 45.0, None),
    "gcn_notices/kafka_json/einstein_probe_wxt_alert.example.json": (1, 120.0, 40.0, "2024-03-01T21:46:05.130"),
    "gcn_notices/kafka_json/fermi_gbm_trigger.alert.example.json": (1, None, None, "2024-08-24T02:14:40.430"),
    "gcn_notices/kafka_json/icecube_single_neutrino_alerts.gold_bronze_track_alerts.example.json": (
        1,
        345.82,
        9.01,
        "2023-04-16T05:22:26.150574",
    ),
    "gcn_notices/kafka_json/svom_grm_trigger.example.json": (1, 143.2478, -68.0289, "2024-02-22T08:51:31.320"),
    "gcn_notices/kafka_json/swift_bat_Guano.Retraction.example.json": (1, None, None, "2022-12-31T21:46:05.130"),
    "gcn_notices/kafka_json/swift_bat_Guano.example.json": (1, None, None, "2022-12-31T21:46:05.130"),
    "gcn_notices/lvk/skyportal_igwn_gwalert_retraction.json": (1, None, None, "2026-06-05T12:10:57"),
    "gcn_notices/voevent_xml/fink_ivo__gwnet_LVCMS191201o1Preliminary.xml": (
        1,
        None,
        None,
        "2019-12-01T16:55:29.024396",
    ),
    "gcn_notices/voevent_xml/fink_ivo__nasa.gsfc.gcn_SWIFTBAT_Known_Pos_1921042890526.xml": (
        1,
        186.6959,
        -62.7439,
        "2019-11-30T05:33:16",
    ),
    "gcn_notices/voevent_xml/voeventparse_ASASSN_2016fvf.xml": (
        1,
        345.0172083333333,
        17.84811111111111,
        "2016-09-25T11:16:48",
    ),
    # ISOTime 07:52:27 TDB → UTC (TT−UTC = 68.184 s in 2016)
    "gcn_notices/voevent_xml/voeventparse_Gaia16aac.xml": (1, 73.29423, 7.35212, "2016-01-16T07:51:18.816"),
    "gcn_notices/voevent_xml/voeventparse_MOA_Lensing_Event_2015-07-10T14_50_54.00.xml": (
        1,
        268.6860,
        -29.7073,
        "2015-07-10T14:50:54",
    ),
    "gcn_notices/voevent_xml/voeventparse_SWIFT_bat_position_v2.0_example.xml": (
        1,
        74.7412,
        -9.3137,
        "2012-09-07T00:24:23.080",
    ),
    "gcn_notices/voevent_xml/voeventparse_SWIFT_xrt_position_v1.1_example.xml": (
        1,
        314.7162,
        -53.3930,
        "2015-06-16T23:05:40",
    ),
    "gcn_notices/voevent_xml/voeventparse_no_namespace_packet.xml": (1, 0.0, 0.0, "2014-02-24T15:55:27.720"),
    # ALeRCE detections: newest row mjd 60390.528426 → 2024-03-21T12:40:55.998
    "ztf_alerts/alerce/alerce_ZTF18abbuive_detections.csv": (1, 318.5280082, 13.0153489, "2024-03-21T12:40:55.998"),
    "ztf_alerts/alerce/alerce_ZTF20aaelulu_lightcurve.json": (1, 185.7288969, 15.8235858, "2020-04-28T05:26:56.999"),
    "ztf_alerts/broker_api_responses/alerce_ztf_detections_ZTF18abcgqmz.json": (
        1,
        279.9046345,
        -4.8710161,
        "2018-08-17T04:35:33.003",
    ),
    "ztf_alerts/broker_api_responses/alerce_ztf_object_ZTF18abcgqmz.json": (
        1,
        279.90476624999997,
        -4.8708879,
        "2018-08-17T04:35:33.003",
    ),
    "ztf_alerts/broker_api_responses/fink_ztf_objects_ZTF19aaosfcb.json": (
        1,
        284.6506076,
        29.0911913,
        "2025-05-31T09:50:47.000",
    ),
    # midpointMjdTai 61105.093643486834 (TAI) − 37 s
    "ztf_alerts/fink/lsst_part-2-918301.avro": (7, 63.349628499442076, -47.18075801654059, "2026-03-06T02:14:13.797"),
    "ztf_alerts/lasair/lasair_lsst_object_169342390923427937.json": (
        1,
        8.719437971881556,
        -43.34927324163857,
        "2025-09-16T02:53:34.523",
    ),
    "ztf_alerts/ztf_avro/ztf_472263571115115000.avro": (1, 179.6402013, 52.0297203, "2018-04-18T06:19:33.001"),
    "gaia_alerts/gaia_alerts_notable.csv": (7, 261.30913, -37.13727, "2021-04-09T11:20:55"),
}


def _samples() -> list[str]:
    if not SHARED.is_dir():
        return []
    found = []
    for top in ("gcn_notices", "ztf_alerts", "gaia_alerts"):
        for p in sorted((SHARED / top).rglob("*")):
            rel = p.relative_to(SHARED).as_posix()
            if p.is_file() and not NOT_ALERTS & set(p.relative_to(SHARED).parts) and rel not in NOT_ALERT_FILES:
                found.append(rel)
    return found


def test_every_alert_sample_has_an_expectation():
    assert set(_samples()) == set(EXPECTED)


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_sample_parses_to_its_position_and_time(rel):
    path = SHARED / rel
    alerts = parse(path.read_bytes(), CONTENT_TYPES[path.suffix])
    count, ra, dec, when = EXPECTED[rel]
    assert len(alerts) == count
    a = alerts[0]
    if ra is None:
        assert a.ra_deg is None and a.dec_deg is None
    else:
        assert a.ra_deg == pytest.approx(ra, abs=1e-9) and a.dec_deg == pytest.approx(dec, abs=1e-9)
    if when is None:
        assert a.event_time is None
    else:
        expected = dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC)
        assert abs((a.event_time - expected).total_seconds()) < 0.002
        assert a.event_time.utcoffset() == dt.timedelta(0)
    for alert in alerts:
        assert alert.source and alert.external_id and alert.alert_type


def test_avro_schema_json_is_refused_as_not_an_alert():
    with pytest.raises(AlertFormatError, match="Avro schema"):
        parse((SHARED / "ztf_alerts/fink/lsst_avro_schema_ftransfer_2026-03-18.json").read_bytes(), "application/json")
