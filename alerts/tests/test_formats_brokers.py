"""Broker API answers (Fink, ALeRCE, Lasair), TNS JSON/CSV and Gaia alerts.csv."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from alerts.formats import AlertFormatError, parse
from alerts.formats.tns import search_names

DATA = Path(__file__).parent / "data" / "brokers"
SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
UTC = dt.UTC


def one(name: str, content_type: str = "application/json"):
    alerts = parse((DATA / name).read_bytes(), content_type)
    assert len(alerts) == 1
    return alerts[0]


def test_fink_object_rows_give_newest_alert_with_history():
    a = one("fink_ztf_objects_ZTF19aaosfcb.json")
    assert (a.source, a.name, a.external_id) == ("Fink", "ZTF19aaosfcb", "3072410265715010069")
    assert (a.ra_deg, a.dec_deg) == pytest.approx((284.6506076, 29.0911913))
    # i:jd 2460826.9102662001
    assert abs((a.event_time - dt.datetime(2025, 5, 31, 9, 50, 47, tzinfo=UTC)).total_seconds()) < 0.01
    assert (a.magnitude, a.filter) == (pytest.approx(14.903686), "g")
    assert len(a.lightcurve) == 3
    json.dumps(a.to_dict(), allow_nan=False)


def test_alerce_object_endpoint():
    a = one("alerce_ztf_object_ZTF18abcgqmz.json")
    assert (a.source, a.external_id) == ("ALeRCE", "ZTF18abcgqmz")
    assert (a.ra_deg, a.dec_deg) == pytest.approx((279.90476624999997, -4.8708879))
    assert a.error_radius_deg == pytest.approx(0.00018632263685456824)


def test_alerce_detections_and_lightcurve_endpoints():
    det = one("alerce_ztf_detections_ZTF18abcgqmz.json")
    assert det.external_id == "593191350115010084"
    assert (det.ra_deg, det.dec_deg) == pytest.approx((279.9046345, -4.8710161))
    assert abs((det.event_time - dt.datetime(2018, 8, 17, 4, 35, 33, 3000, tzinfo=UTC)).total_seconds()) < 0.01
    lc = one("alerce_ZTF20aaelulu_lightcurve.json")
    assert lc.external_id == "1213227041015015005"
    assert any(p.upper_limit for p in lc.lightcurve) and any(not p.upper_limit for p in lc.lightcurve)


def test_alerce_detections_csv_export():
    a = one("alerce_ZTF18abbuive_detections.csv", "text/csv")
    assert a.source == "ALeRCE"
    assert a.ra_deg == pytest.approx(318.5280082) and a.dec_deg == pytest.approx(13.0153489)
    assert len(a.lightcurve) > 100


def test_lasair_lsst_object_with_bare_nan():
    raw = (DATA / "lasair_lsst_object_169342390923427937.json").read_bytes()
    assert b"NaN" in raw
    a = parse(raw, "application/json")[0]
    assert (a.source, a.name, a.external_id) == ("Lasair", "169342390923427937", "169342392149213300")
    assert (a.ra_deg, a.dec_deg) == pytest.approx((8.719437971881556, -43.34927324163857))
    assert a.filter == "g" and a.magnitude == pytest.approx(31.4 - 2.5 * __import__("math").log10(1035.1932373046875))
    assert len(a.lightcurve) == 4
    json.dumps(a.to_dict(), allow_nan=False)  # NaN became null


def test_lasair_ztf_object():
    body = {
        "objectId": "ZTF26aaaaaaa",
        "objectData": {"ramean": 150.1, "decmean": -2.3},
        "candidates": [
            {"candid": 3001, "jd": 2461367.5, "ra": 150.1, "dec": -2.3, "fid": 2, "magpsf": 17.5, "sigmapsf": 0.04},
            {"jd": 2461366.5, "fid": 2, "diffmaglim": 20.3},
        ],
    }
    a = parse(json.dumps(body).encode(), "application/json")[0]
    assert (a.external_id, a.name, a.filter) == ("3001", "ZTF26aaaaaaa", "r")
    assert a.event_time == dt.datetime(2026, 11, 23, tzinfo=UTC)
    assert [p.upper_limit for p in a.lightcurve] == [True, False]


# ----------------------------------------------------------------------------------------------- TNS

TNS_OBJECT = {
    "id_code": 200,
    "id_message": "OK",
    "data": {
        "objname": "2026abc",
        "name_prefix": "AT",
        "objid": 170000,
        "ra": "10:00:24.000",
        "dec": "-02:18:00.00",
        "radeg": 150.1,
        "decdeg": -2.3,
        "discoverydate": "2026-11-20 04:12:33.123",
        "discoverymag": 18.4,
        "discmagfilter": {"id": 111, "name": "r", "family": "ZTF"},
        "object_type": {"name": None, "id": None},
        "internal_names": "ZTF26aaaaaaa, ATLAS26xyz",
        "reporting_group": {"group_name": "ZTF"},
    },
}


def test_tns_get_object_reply():
    a = parse(json.dumps(TNS_OBJECT).encode(), "application/json")[0]
    assert (a.source, a.external_id, a.name, a.alert_type) == ("TNS", "2026abc", "AT 2026abc", "SN candidate")
    assert (a.ra_deg, a.dec_deg) == (150.1, -2.3)
    assert a.event_time == dt.datetime(2026, 11, 20, 4, 12, 33, 123000, tzinfo=UTC)
    assert (a.magnitude, a.filter) == (18.4, "r")
    assert a.aliases == ["ZTF26aaaaaaa", "ATLAS26xyz"]


def test_tns_old_reply_wrapper_and_sexagesimal_only_position():
    data = dict(TNS_OBJECT["data"], radeg=None, decdeg=None, name_prefix="SN", object_type={"name": "SN Ia", "id": 3})
    a = parse(json.dumps({"id_code": 200, "data": {"reply": data}}).encode(), "application/json")[0]
    assert a.name == "SN 2026abc" and a.alert_type == "SN"
    assert a.ra_deg == pytest.approx(150.1) and a.dec_deg == pytest.approx(-2.3)


def test_tns_search_reply_lists_names_and_is_not_an_alert():
    reply = {
        "id_code": 200,
        "data": {
            "reply": [
                {"objname": "2026abc", "prefix": "AT", "objid": 1},
                {"objname": "2026abd", "prefix": "SN", "objid": 2},
            ]
        },
    }
    assert search_names(reply) == ["2026abc", "2026abd"]
    with pytest.raises(AlertFormatError, match="get/object"):
        parse(json.dumps(reply).encode(), "application/json")


def test_tns_error_reply_is_a_format_error():
    with pytest.raises(AlertFormatError, match="429"):
        parse(json.dumps({"id_code": 429, "id_message": "Too many requests", "data": {}}).encode(), "application/json")


TNS_SEARCH_CSV = (
    '"ID","Name","RA","DEC","Obj. Type","Redshift","Host Name","Host Redshift","Reporting Group/s",'
    '"Discovery Data Source/s","Discovery Mag/Flux","Discovery Filter","Discovery Date (UT)","Sender",'
    '"Disc. Internal Name"\n'
    '"170000","AT 2026abc","10:00:24.000","-02:18:00.00","","","","","ZTF","ZTF","18.4","r-ZTF",'
    '"2026-11-20 04:12:33.123","ZTF_Bot","ZTF26aaaaaaa"\n'
    '"170001","SN 2026abd","23:59:59.999","+89:59:59.99","SN II","0.02","","","ATLAS","ATLAS","17.9","orange",'
    '"2026-11-21 10:00:00","ATLAS_Bot","ATLAS26abc"\n'
)
TNS_PUBLIC_CSV = (
    '"2026-11-25 00:00:00"\n'
    '"objid","name_prefix","name","ra","declination","redshift","typeid","type","reporting_groupid",'
    '"reporting_group","source_groupid","source_group","discoverydate","discoverymag","discmagfilter","filter",'
    '"reporters","time_received","internal_names","creationdate","lastmodified"\n'
    '"170000","AT","2026abc","150.1","-2.3","","","","48","ZTF","48","ZTF","2026-11-20 04:12:33.123","18.4",'
    '"111","r","Bot","2026-11-20 05:00:00","ZTF26aaaaaaa","2026-11-20 05:00:00","2026-11-20 05:00:00"\n'
)


def test_tns_search_page_csv_export():
    alerts = parse(TNS_SEARCH_CSV.encode(), "text/csv")
    assert [a.name for a in alerts] == ["AT 2026abc", "SN 2026abd"]
    assert alerts[0].ra_deg == pytest.approx(150.1) and alerts[0].dec_deg == pytest.approx(-2.3)
    assert alerts[1].ra_deg == pytest.approx(359.9999958333, abs=1e-8)
    assert alerts[1].alert_type == "SN" and alerts[1].event_time == dt.datetime(2026, 11, 21, 10, tzinfo=UTC)


def test_tns_public_objects_csv():
    a = parse(TNS_PUBLIC_CSV.encode(), "text/csv")[0]
    assert (a.external_id, a.name, a.ra_deg, a.dec_deg) == ("2026abc", "AT 2026abc", 150.1, -2.3)


def test_tns_csv_with_bad_row_names_the_row():
    bad = TNS_SEARCH_CSV.replace("10:00:24.000", "ten o'clock")
    with pytest.raises(AlertFormatError, match="row 1"):
        parse(bad.encode(), "text/csv")


# ---------------------------------------------------------------------------------------------- Gaia

GAIA_CSV = (
    "#Name, Date, RaDeg, DecDeg, AlertMag, HistoricMag, HistoricStdDev, Class, Published, Comment, TNSid\n"
    'Gaia26abc,2026-11-20 04:12:33,150.10000,-2.30000,17.10,19.20,0.10,"unknown",2026-11-21 10:00:00,'
    '"brightening, 2 mag",AT2026abc\n'
    'Gaia26abd,2026-11-21 04:12:33,10.00000,20.00000,15.00,16.00,0.05,"ULENS",2026-11-22 10:00:00,"",\n'
)


def test_gaia_alerts_csv():
    alerts = parse(GAIA_CSV.encode(), "text/csv")
    a, b = alerts
    assert (a.source, a.external_id, a.alert_type, a.filter) == ("Gaia", "Gaia26abc", "optical transient", "G")
    assert (a.ra_deg, a.dec_deg, a.magnitude) == (150.1, -2.3, 17.1)
    assert a.event_time == dt.datetime(2026, 11, 20, 4, 12, 33, tzinfo=UTC)
    assert a.aliases == ["AT2026abc"] and a.payload["Comment"] == "brightening, 2 mag"
    assert b.alert_type == "microlensing" and b.aliases == []


GAIA_SAMPLE = SHARED / "gaia_alerts" / "gaia_alerts_notable.csv"


@pytest.mark.skipif(not GAIA_SAMPLE.exists(), reason="../shared/data not present")
def test_real_gaia_alerts_rows():
    alerts = {a.external_id: a for a in parse(GAIA_SAMPLE.read_bytes(), "text/csv")}
    assert len(alerts) == 7
    aye = alerts["Gaia16aye"]
    assert (aye.ra_deg, aye.dec_deg, aye.magnitude) == (295.00474, 30.13149, 14.27)
    assert aye.event_time == dt.datetime(2016, 8, 5, 0, 53, 52, tzinfo=UTC)
    assert aye.alert_type == "microlensing" and aye.aliases == ["AT2016eta"]
    assert alerts["Gaia14aaa"].alert_type == "SN"


def test_gaia_csv_bad_coordinates_name_the_row():
    with pytest.raises(AlertFormatError, match="row 2"):
        parse(GAIA_CSV.replace("10.00000,20.00000", "10.0,200.0").encode(), "text/csv")
