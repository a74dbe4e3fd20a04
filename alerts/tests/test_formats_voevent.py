"""VOEvent packets from GCN, LVK, Gaia, ASAS-SN, MOA and a broker test packet parse to what they say."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from alerts.formats import AlertFormatError, parse
from alerts.formats.voevent import parse_voevent

DATA = Path(__file__).parent / "data" / "voevent"
UTC = dt.UTC


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def one(name: str):
    alerts = parse(load(name), "application/xml")
    assert len(alerts) == 1
    return alerts[0]


def test_swift_bat_grb_position_v2_gives_position_error_time_and_trigger_series():
    a = one("voeventparse_SWIFT_bat_position_v2.0_example.xml")
    assert (a.source, a.alert_type, a.role) == ("GCN", "GRB", "observation")
    assert a.ra_deg == pytest.approx(74.7412) and a.dec_deg == pytest.approx(-9.3137)
    assert a.error_radius_deg == pytest.approx(0.05)
    assert a.event_time == dt.datetime(2012, 9, 7, 0, 24, 23, 80000, tzinfo=UTC)
    assert a.ivorn == "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_532871-729"
    assert a.external_id == "nasa.gsfc.gcn/SWIFT#532871"
    assert a.notice_type == "BAT_GRB_Pos" and a.revision == 1
    assert not a.is_retraction


def test_swift_xrt_position_voevent_1_1_namespace():
    a = one("voeventparse_SWIFT_xrt_position_v1.1_example.xml")
    assert a.payload["version"] == "1.1"
    assert a.ra_deg == pytest.approx(314.7162) and a.dec_deg == pytest.approx(-53.3930)
    assert a.error_radius_deg == pytest.approx(0.0009)
    assert a.event_time == dt.datetime(2015, 6, 16, 23, 5, 40, tzinfo=UTC)
    assert a.external_id == "nasa.gsfc.gcn/SWIFT#644259"
    assert (a.alert_type, a.notice_type, a.revision) == ("GRB", "XRT_Pos", 6)


def test_swift_known_source_is_not_called_a_grb():
    a = one("fink_ivo__nasa.gsfc.gcn_SWIFTBAT_Known_Pos_1921042890526.xml")
    assert a.alert_type == "known source"
    assert (a.ra_deg, a.dec_deg, a.error_radius_deg) == pytest.approx((186.6959, -62.7439, 0.0666))
    assert a.event_time == dt.datetime(2019, 11, 30, 5, 33, 16, tzinfo=UTC)
    assert a.external_id == "nasa.gsfc.gcn/SWIFT#-1921042890"


def test_lvk_preliminary_is_a_test_gw_without_position_keyed_by_superevent():
    a = one("fink_ivo__gwnet_LVCMS191201o1Preliminary.xml")
    assert (a.source, a.alert_type, a.role) == ("IGWN", "GW", "test")
    assert a.external_id == "MS191201o"
    assert a.notice_type == "Preliminary"
    assert a.ra_deg is None and a.dec_deg is None
    assert a.event_time == dt.datetime(2019, 12, 1, 16, 55, 29, 24396, tzinfo=UTC)
    assert a.skymap is not None
    assert a.skymap.url == "https://gracedb.ligo.org/api/superevents/MS191201o/files/bayestar.fits.gz"


def test_asassn_transient_has_v_magnitude():
    a = one("voeventparse_ASASSN_2016fvf.xml")
    assert (a.source, a.alert_type) == ("ASAS-SN", "optical transient")
    assert (a.ra_deg, a.dec_deg) == pytest.approx((345.0172083333333, 17.84811111111111))
    assert a.error_radius_deg == pytest.approx(0.0044444444444444444)
    assert a.event_time == dt.datetime(2016, 9, 25, 11, 16, 48, tzinfo=UTC)
    assert (a.magnitude, a.filter) == (pytest.approx(17.41), "V")


def test_gaia_alert_time_on_tdb_is_converted_to_utc():
    a = one("voeventparse_Gaia16aac.xml")
    assert (a.source, a.external_id, a.name) == ("Gaia", "gaia.cam.uk/alerts#Gaia16aac", "Gaia16aac")
    assert (a.ra_deg, a.dec_deg) == pytest.approx((73.29423, 7.35212))
    assert a.error_radius_deg == pytest.approx(0.00002)
    # ISOTime 2016-01-16T07:52:27 is on TDB (coord system TDB-ICRS-BARY); UTC = TDB − 68.18 s in 2016
    expected = dt.datetime(2016, 1, 16, 7, 52, 27, tzinfo=UTC) - dt.timedelta(seconds=68.184)
    assert abs((a.event_time - expected).total_seconds()) < 0.01
    assert (a.magnitude, a.filter) == (pytest.approx(17.32), "G")


def test_moa_microlensing_zero_error_radius_means_not_given():
    a = one("voeventparse_MOA_Lensing_Event_2015-07-10T14_50_54.00.xml")
    assert a.alert_type == "microlensing"
    assert (a.ra_deg, a.dec_deg) == pytest.approx((268.6860, -29.7073))
    assert a.error_radius_deg is None
    assert a.event_time == dt.datetime(2015, 7, 10, 14, 50, 54, tzinfo=UTC)
    assert a.external_id == "nasa.gsfc.gcn/MOA#201500354"
    assert a.notice_type == "Lensing_Event"


def test_packet_without_namespace_and_role_test():
    a = one("voeventparse_no_namespace_packet.xml")
    assert a.role == "test"
    assert (a.ra_deg, a.dec_deg) == (0.0, 0.0)
    assert a.event_time == dt.datetime(2014, 2, 24, 15, 55, 27, 720000, tzinfo=UTC)


def _packet(
    ivorn: str,
    params: str,
    role: str = "observation",
    extra: str = "",
    ra: str = "10.0",
    time: str = "2026-11-23T19:08:41.12",
) -> bytes:
    return f"""<?xml version="1.0"?>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" version="2.0" role="{role}" ivorn="{ivorn}">
  <Who><Date>2026-11-23T19:09:00</Date></Who>
  <What>{params}</What>
  <WhereWhen><ObsDataLocation><ObservatoryLocation id="GEOLUN"/><ObservationLocation>
    <AstroCoordSystem id="UTC-FK5-GEO"/>
    <AstroCoords coord_system_id="UTC-FK5-GEO">
      <Time unit="s"><TimeInstant><ISOTime>{time}</ISOTime></TimeInstant></Time>
      <Position2D unit="deg"><Name1>RA</Name1><Name2>Dec</Name2>
        <Value2><C1>{ra}</C1><C2>-20.5</C2></Value2><Error2Radius>0.05</Error2Radius></Position2D>
    </AstroCoords></ObservationLocation></ObsDataLocation></WhereWhen>
  {extra}
</voe:VOEvent>""".encode()


def test_fermi_gbm_series_shares_external_id_and_orders_by_revision():
    flt = parse_voevent(
        _packet(
            "ivo://nasa.gsfc.gcn/Fermi#GBM_Flt_Pos_2026-11-23T19:08:41.12_785617726_0-123",
            '<Param name="Pkt_Ser_Num" value="2"/><Param name="TrigID" value="785617726"/>',
        )
    )[0]
    gnd = parse_voevent(
        _packet(
            "ivo://nasa.gsfc.gcn/Fermi#GBM_Gnd_Pos_2026-11-23T19:08:41.12_785617726_0-456",
            '<Param name="Pkt_Ser_Num" value="5"/><Param name="TrigID" value="785617726"/>',
            ra="10.5",
        )
    )[0]
    assert flt.external_id == gnd.external_id == "nasa.gsfc.gcn/Fermi#785617726"
    assert flt.alert_type == gnd.alert_type == "GRB"
    assert (flt.revision, gnd.revision) == (2, 5)
    assert gnd.ra_deg == 10.5


def test_lvk_retraction_and_citation_retraction_are_flagged():
    params = '<Param name="GraceID" value="S261123ab"/><Param name="AlertType" value="Retraction"/>'
    lvk = parse_voevent(_packet("ivo://gwnet/LVC#S261123ab-3-Retraction", params))[0]
    assert lvk.is_retraction and lvk.external_id == "S261123ab" and lvk.role == "observation"
    cited = parse_voevent(
        _packet(
            "ivo://example.org/feed#ev-2",
            "",
            extra='<Citations><EventIVORN cite="retraction">ivo://example.org/feed#ev-1'
            "</EventIVORN><Description>bad</Description></Citations>",
        )
    )[0]
    assert cited.is_retraction


def test_utility_role_and_icecube_amon_series_key():
    a = parse_voevent(
        _packet(
            "ivo://nasa.gsfc.gcn/AMON#ICECUBE_GOLD_Event2026-11-23T19:08:41.12_24_138599_40463812_0",
            '<Param name="run_id" value="138599"/><Param name="event_id" value="40463812"/>',
            role="utility",
        )
    )[0]
    assert a.role == "utility"
    assert a.alert_type == "neutrino"
    assert a.external_id == "nasa.gsfc.gcn/AMON#138599_40463812"


def test_integral_packet_is_a_grb():
    a = parse_voevent(
        _packet(
            "ivo://nasa.gsfc.gcn/INTEGRAL#Wakeup_2026-11-23T19:08:41.12_9876-1", '<Param name="TrigID" value="9876"/>'
        )
    )[0]
    assert (a.alert_type, a.external_id) == ("GRB", "nasa.gsfc.gcn/INTEGRAL#9876")


def test_time_with_explicit_offset_is_respected():
    a = parse_voevent(_packet("ivo://example.org/feed#x", "", time="2026-11-23T21:08:41+02:00"))[0]
    assert a.event_time == dt.datetime(2026, 11, 23, 19, 8, 41, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"<VOEvent ivorn='ivo://x/y#z'><What>", "malformed XML"),
        (b"<html><body>hello</body></html>", "not a VOEvent"),
        (b"<VOEvent role='observation'/>", "ivorn"),
        (b"<VOEvent ivorn='ivo://a/b#c' role='fun'/>", "role"),
        (_packet("ivo://a/b#c", "", ra="abc"), "RA must be a number"),
        (_packet("ivo://a/b#c", "", time="yesterday"), "ISO 8601"),
        (_packet("ivo://a/b#c", "").replace(b"-20.5", b"-120.5"), "outside -90..90"),
    ],
)
def test_bad_xml_raises_alert_format_error_naming_the_problem(body, message):
    with pytest.raises(AlertFormatError, match=message):
        parse(body, "application/xml")


def test_external_entities_are_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE v [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<VOEvent ivorn="ivo://a/b#c" role="test"><What><Param name="p" value="&x;"/></What></VOEvent>'
    ).encode()
    try:
        alerts = parse(body, "application/xml")
    except AlertFormatError:
        return
    assert "TOPSECRET" not in str(alerts[0].payload)
