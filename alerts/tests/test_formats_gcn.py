"""GCN Kafka JSON notices, GCN Classic binary packets and IGWN gravitational-wave alerts."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from alerts.formats import AlertFormatError, parse
from alerts.formats.igwn import summarise_skymap

DATA = Path(__file__).parent / "data"
UTC = dt.UTC


def kafka(name: str):
    alerts = parse((DATA / "gcn_kafka" / name).read_bytes(), "application/json")
    assert len(alerts) == 1
    return alerts[0]


def test_swift_guano_initial_and_retraction_share_one_external_id():
    first = kafka("swift_bat_Guano.example.json")
    retraction = kafka("swift_bat_Guano.Retraction.example.json")
    assert first.external_id == retraction.external_id == "Swift/BAT-GUANO/694215995"
    assert first.event_time == retraction.event_time == dt.datetime(2022, 12, 31, 21, 46, 5, 130000, tzinfo=UTC)
    assert first.alert_type == "GRB" and not first.is_retraction
    assert retraction.is_retraction and retraction.notice_type == "retraction"
    assert (first.revision, retraction.revision) == (1, 4)
    assert first.ra_deg is None  # GUANO notices carry no position


def test_icecube_track_alert_is_a_neutrino_with_position_and_error():
    a = kafka("icecube_single_neutrino_alerts.gold_bronze_track_alerts.example.json")
    assert (a.alert_type, a.external_id, a.name) == ("neutrino", "IceCube/IC86/137840_57034692", "IceCube-230416A")
    assert (a.ra_deg, a.dec_deg, a.error_radius_deg) == pytest.approx((345.82, 9.01, 0.5))
    assert a.event_time == dt.datetime(2023, 4, 16, 5, 22, 26, 150574, tzinfo=UTC)
    assert a.skymap is not None and a.skymap.url.endswith("probability.fits.gz")


def test_einstein_probe_mission_comes_from_schema_url():
    a = kafka("einstein_probe_wxt_alert.example.json")
    assert a.external_id == "Einstein Probe/WXT/01708973486"
    assert a.alert_type == "X-ray transient"
    assert (a.ra_deg, a.dec_deg, a.error_radius_deg) == pytest.approx((120.0, 40.0, 0.02))
    assert a.event_time == dt.datetime(2024, 3, 1, 21, 46, 5, 130000, tzinfo=UTC)


def test_svom_test_tense_is_a_test_role():
    a = kafka("svom_grm_trigger.example.json")
    assert a.role == "test"
    assert a.external_id == "SVOM/GRM/sb24022203"
    assert (a.ra_deg, a.dec_deg, a.error_radius_deg) == pytest.approx((143.2478, -68.0289, 0.1))
    assert a.event_time == dt.datetime(2024, 2, 22, 8, 51, 31, 320000, tzinfo=UTC)


def test_fermi_gbm_alert_without_position_keeps_time_and_ids():
    a = kafka("fermi_gbm_trigger.alert.example.json")
    assert (a.external_id, a.alert_type, a.notice_type) == ("Fermi/GBM/745121685", "GRB", "initial")
    assert "bn240812094" in a.aliases
    assert a.ra_deg is None
    assert a.event_time == dt.datetime(2024, 8, 24, 2, 14, 40, 430000, tzinfo=UTC)


def test_core_localization_ellipse_uses_semi_major_axis():
    a = kafka("core_Localization.example.json")
    assert (a.ra_deg, a.dec_deg) == (120.0, 45.0)
    assert a.error_radius_deg == 0.5
    assert a.event_time is None
    assert a.external_id.startswith("GCN/sha1:")
    assert "healpix_file" not in a.payload


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"$schema": "https://gcn.nasa.gov/schema/main/gcn/notices/x.json", "ra": "north", "dec": 1}, "RA must be"),
        ({"mission": "Swift", "instrument": "BAT", "trigger_time": "not a time", "id": ["1"]}, "ISO 8601"),
        ({"mission": "Swift", "instrument": "BAT", "ra_dec_error": [], "id": ["1"]}, "empty list"),
        ({"mission": "Swift", "instrument": "BAT", "ra": 10, "dec": 95, "id": ["1"]}, "outside -90..90"),
        ({"mission": 5, "instrument": "BAT", "id": ["1"]}, "mission"),
        ({"unrelated": True}, "not a recognised alert"),
        ([1, 2, 3], "not a recognised alert"),
    ],
)
def test_bad_gcn_json_names_the_problem(body, message):
    with pytest.raises(AlertFormatError, match=message):
        parse(json.dumps(body).encode(), "application/json")


def test_malformed_json_is_a_format_error():
    with pytest.raises(AlertFormatError, match="malformed JSON"):
        parse(b'{"mission": "Swift", ', "application/json")


# ------------------------------------------------------------------------------------------ GCN Classic


def classic(name: str):
    alerts = parse((DATA / "gcn_classic" / name).read_bytes(), "application/octet-stream")
    assert len(alerts) == 1
    return alerts[0]


@pytest.mark.parametrize("name", ["SWIFT_BAT_GRB_POS_ACK", "CALET_GBM_FLT_LC"])
def test_classic_binary_matches_nasa_reference_conversion(name):
    a = classic(f"{name}.example.bin")
    expected = json.loads((DATA / "gcn_classic" / f"{name}.example.json").read_text())
    assert a.ra_deg == pytest.approx(expected["ra"]) and a.dec_deg == pytest.approx(expected["dec"])
    assert a.event_time == dt.datetime.fromisoformat(expected["trigger_time"].replace("Z", "+00:00"))
    if "ra_dec_error" in expected:
        assert a.error_radius_deg == pytest.approx(expected["ra_dec_error"])


def test_classic_swift_packet_shares_series_key_with_voevent():
    a = classic("SWIFT_BAT_GRB_POS_ACK.example.bin")
    assert a.external_id == "nasa.gsfc.gcn/SWIFT#1227767"
    assert a.alert_type == "GRB"


def test_classic_lvk_packet_gives_superevent_and_time():
    a = classic("LVC_PRELIMINARY.example.bin")
    assert (a.source, a.external_id, a.alert_type, a.role) == ("IGWN", "MS240510f", "GW", "test")
    assert a.event_time == dt.datetime(2024, 5, 10, 5, 47, 17, tzinfo=UTC)
    assert a.ra_deg is None


def test_unknown_binary_is_a_format_error():
    with pytest.raises(AlertFormatError, match="neither an Avro"):
        parse(b"\x00" * 100, "application/octet-stream")


# ------------------------------------------------------------------------------------------------ IGWN


def test_igwn_retraction_deactivates_superevent():
    a = parse((DATA / "igwn" / "skyportal_igwn_gwalert_retraction.json").read_bytes(), "application/json")[0]
    assert (a.source, a.external_id, a.alert_type) == ("IGWN", "MS260605l", "GW")
    assert a.is_retraction and a.notice_type == "RETRACTION"
    assert a.role == "test"  # an MS… superevent is a mock
    assert a.event_time == dt.datetime(2026, 6, 5, 12, 10, 57, tzinfo=UTC)  # its creation time


def _multiorder_fits(uniq: np.ndarray, probdensity: np.ndarray) -> bytes:
    from astropy.io import fits

    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="UNIQ", format="K", array=uniq),
            fits.Column(name="PROBDENSITY", format="D", array=probdensity, unit="sr-1"),
        ]
    )
    table.header["PIXTYPE"] = "HEALPIX"
    table.header["ORDERING"] = "NUNIQ"
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buf)
    return buf.getvalue()


def test_multiorder_skymap_areas():
    # Order 1 (48 pixels of 4π/48 sr): probability spread evenly over four pixels, nothing elsewhere.
    uniq = np.arange(16, 64, dtype=np.int64)  # 4·4¹ + ipix
    pix_sr = 4 * math.pi / 48
    dens = np.zeros(48)
    dens[[0, 1, 2, 3]] = 0.25 / pix_sr
    s = summarise_skymap(_multiorder_fits(uniq, dens))
    pix_deg2 = pix_sr * (180 / math.pi) ** 2
    assert s.area_90_deg2 == pytest.approx(4 * pix_deg2, rel=1e-3)
    assert s.area_50_deg2 == pytest.approx(2 * pix_deg2, rel=1e-3)
    assert s.max_order == 1 and s.n_pixels == 48


def test_mixed_order_skymap_counts_small_pixels_first():
    # One order-0 pixel (uniq 4..15) split: pixel 0 replaced by its 4 order-1 children (uniq 16..19).
    uniq = np.array([16, 17, 18, 19, *range(5, 16)], dtype=np.int64)
    child_sr = 4 * math.pi / 48
    dens = np.zeros(uniq.size)
    dens[0] = 0.95 / child_sr  # 95% in one order-1 pixel
    dens[4:] = 0.05 / (11 * 4 * math.pi / 12)
    s = summarise_skymap(_multiorder_fits(uniq, dens))
    assert s.area_90_deg2 == pytest.approx(child_sr * (180 / math.pi) ** 2, rel=1e-3)


def test_igwn_alert_with_embedded_skymap_is_summarised_not_a_point():
    uniq = np.arange(16, 64, dtype=np.int64)
    dens = np.zeros(48)
    dens[:8] = 0.125 / (4 * math.pi / 48)
    msg = {
        "alert_type": "PRELIMINARY",
        "time_created": "2026-11-23T19:10:00Z",
        "superevent_id": "S261123ab",
        "urls": {"gracedb": "https://gracedb.ligo.org/superevents/S261123ab/view/"},
        "event": {
            "time": "2026-11-23T19:08:41.123Z",
            "far": 1e-10,
            "significant": True,
            "instruments": ["H1", "L1"],
            "group": "CBC",
            "pipeline": "gstlal",
            "search": "AllSky",
            "classification": {"BNS": 0.9, "Terrestrial": 0.1},
            "properties": {"HasNS": 0.99},
            "skymap": base64.b64encode(_multiorder_fits(uniq, dens)).decode(),
        },
        "external_coinc": None,
    }
    a = parse(json.dumps(msg).encode(), "application/json")[0]
    assert (a.external_id, a.role, a.notice_type) == ("S261123ab", "observation", "PRELIMINARY")
    assert a.ra_deg is None and a.error_radius_deg is None
    assert a.event_time == dt.datetime(2026, 11, 23, 19, 8, 41, 123000, tzinfo=UTC)
    assert a.skymap.area_90_deg2 == pytest.approx(8 * 4 * math.pi / 48 * (180 / math.pi) ** 2, rel=1e-3)
    assert "skymap" not in a.payload["event"]
    assert a.payload["event"]["classification"]["BNS"] == 0.9


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"superevent_id": "hello"}, "superevent id"),
        ({"alert_type": "MAYBE"}, "alert_type"),
        ({"event": {"time": "2026-11-23T19:08:41Z", "skymap": "!!notbase64!!"}}, "base64"),
        ({"event": {"time": "2026-11-23T19:08:41Z", "skymap": base64.b64encode(b"hello").decode()}}, "not a FITS"),
        ({"event": "yes"}, "must be a JSON object"),
    ],
)
def test_bad_igwn_alert_names_the_problem(change, message):
    msg = {
        "alert_type": "INITIAL",
        "time_created": "2026-11-23T19:10:00Z",
        "superevent_id": "S261123ab",
        "event": None,
        "external_coinc": None,
        **change,
    }
    with pytest.raises(AlertFormatError, match=message):
        parse(json.dumps(msg).encode(), "application/json")
