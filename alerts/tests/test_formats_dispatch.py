"""One entry point: content type chooses the parser; unknown types are 415, bad bodies are 400."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alerts.formats import AlertFormatError, ParsedAlert, UnsupportedMediaType, parse

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]


def test_formats_package_does_not_import_django():
    code = (
        "import sys, alerts.formats, alerts.crossmatch, alerts.rules_engine; "
        "assert 'django' not in sys.modules, 'django imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize(
    "content_type",
    ["application/xml", "text/xml", "application/xml; charset=utf-8", "Application/XML", "application/voevent+xml"],
)
def test_xml_content_types_reach_the_voevent_parser(content_type):
    body = (DATA / "voevent" / "voeventparse_SWIFT_bat_position_v2.0_example.xml").read_bytes()
    assert parse(body, content_type)[0].external_id == "nasa.gsfc.gcn/SWIFT#532871"


@pytest.mark.parametrize("content_type", ["image/png", "application/pdf", "", None, "multipart/form-data"])
def test_unknown_content_type_is_unsupported_media_type(content_type):
    with pytest.raises(UnsupportedMediaType, match="not supported"):
        parse(b"{}", content_type)


def test_unsupported_media_type_is_not_a_format_error():
    assert not issubclass(UnsupportedMediaType, AlertFormatError)
    assert issubclass(AlertFormatError, ValueError)


def test_json_body_sent_as_xml_is_a_format_error():
    with pytest.raises(AlertFormatError, match="malformed XML"):
        parse(b'{"a": 1}', "application/xml")


def test_non_utf8_json_is_a_format_error():
    with pytest.raises(AlertFormatError, match="UTF-8"):
        parse(b'{"a": "\xff\xfe"}', "application/json")


def test_normalised_form_round_trips_and_requires_offset():
    body = {
        "source": "TNS",
        "external_id": "2026abc",
        "ra_deg": 150.1,
        "dec_deg": -2.3,
        "alert_type": "SN candidate",
        "priority": 3.0,
        "magnitude": 17.2,
        "event_time": "2026-11-23T19:08:41.123Z",
        "payload": {"x": 1},
    }
    a = parse(json.dumps(body).encode(), "application/json")[0]
    assert isinstance(a, ParsedAlert)
    assert (a.source, a.external_id, a.ra_deg, a.dec_deg, a.magnitude) == ("TNS", "2026abc", 150.1, -2.3, 17.2)
    assert a.to_dict()["event_time"] == "2026-11-23T19:08:41.123000Z"
    with pytest.raises(AlertFormatError, match="offset"):
        parse(json.dumps({**body, "event_time": "2026-11-23T19:08:41"}).encode(), "application/json")
    with pytest.raises(AlertFormatError, match="ra_deg and dec_deg"):
        parse(json.dumps({**body, "dec_deg": None}).encode(), "application/json")
    assert a.priority == 3.0
    with pytest.raises(AlertFormatError, match="less than 360"):
        parse(json.dumps({**body, "ra_deg": 360.0}).encode(), "application/json")
    with pytest.raises(AlertFormatError, match="priority must not be negative"):
        parse(json.dumps({**body, "priority": -1}).encode(), "application/json")
    with pytest.raises(AlertFormatError, match="external_id is required"):
        parse(json.dumps({**body, "external_id": ""}).encode(), "application/json")


def test_to_dict_is_strict_json():
    a = parse((DATA / "brokers" / "lasair_lsst_object_169342390923427937.json").read_bytes(), "application/json")[0]
    json.dumps(a.to_dict(), allow_nan=False)


def test_as_alert_fields_keeps_columns_and_moves_the_rest_into_payload():
    body = (DATA / "voevent" / "voeventparse_SWIFT_bat_position_v2.0_example.xml").read_bytes()
    fields = parse(body, "application/xml")[0].as_alert_fields()
    assert fields["external_id"] == "nasa.gsfc.gcn/SWIFT#532871"
    assert fields["event_time"].tzinfo is not None
    assert fields["payload"]["parsed"]["ivorn"] == "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_532871-729"
    assert fields["payload"]["parsed"]["revision"] == 1
    assert fields["payload"]["params"]["TrigID"] == "532871"
    json.dumps(fields["payload"], allow_nan=False)
