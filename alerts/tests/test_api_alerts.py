"""`POST /api/v1/alerts` with native messages and the normalised form; `GET /api/v1/alerts`; a transient alert
reaching a site's target list."""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from alerts.models import Alert, DeadLetter
from campaigns.models import Campaign
from network.testing import token_client
from targets.models import Target
from targets.tests.factories import TargetFactory, UserFactory

pytestmark = pytest.mark.django_db
DATA = Path(__file__).parent / "data"
SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
CONTENT_TYPES = {
    ".xml": "application/xml",
    ".json": "application/json",
    ".avro": "avro/binary",
    ".bin": "application/octet-stream",
    ".csv": "text/csv",
}
BAT = (DATA / "voevent" / "voeventparse_SWIFT_bat_position_v2.0_example.xml").read_text()


def post(client, body: bytes | str, content_type: str):
    if isinstance(body, str):
        body = body.encode()
    return client.generic("POST", "/api/v1/alerts", body, content_type=content_type)


def _answers(response) -> list[dict]:
    body = response.json()
    return body.get("alerts", [body])


def _local_samples() -> list[Path]:
    return sorted(p for p in DATA.rglob("*") if p.suffix in CONTENT_TYPES)


@pytest.mark.parametrize("path", _local_samples(), ids=lambda p: p.name)
def test_every_local_sample_through_the_api_is_stored_with_its_position(coordinator_client, path):
    from alerts.formats import parse

    expected = parse(path.read_bytes(), CONTENT_TYPES[path.suffix])
    response = post(coordinator_client, path.read_bytes(), CONTENT_TYPES[path.suffix])
    assert response.status_code == 201, response.json()
    answers = _answers(response)
    assert len(answers) == len(expected)
    for answer, parsed in zip(answers, expected, strict=True):
        assert answer["decision"]
        stored = Alert.objects.get(pk=answer["alert"]["alert_id"])
        assert (stored.source, stored.external_id) == (parsed.source, parsed.external_id)
        if parsed.has_position and "newer one stands" not in answer["decision"]:
            assert stored.ra_deg == pytest.approx(parsed.ra_deg, abs=1e-9)
            assert stored.dec_deg == pytest.approx(parsed.dec_deg, abs=1e-9)
            assert answer["alert"]["ra_deg"] == pytest.approx(parsed.ra_deg, abs=1e-9)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
def test_every_shared_sample_through_the_api_ends_as_alerts_with_the_stated_position(coordinator_client):
    from alerts.tests.test_formats_samples import CONTENT_TYPES as TYPES
    from alerts.tests.test_formats_samples import EXPECTED

    for rel, (count, ra, dec, _when) in EXPECTED.items():
        path = SHARED / rel
        response = post(coordinator_client, path.read_bytes(), TYPES[path.suffix])
        assert response.status_code in (200, 201), (rel, response.json())
        answers = _answers(response)
        assert len(answers) == count, rel
        first = Alert.objects.get(pk=answers[0]["alert"]["alert_id"])
        if ra is not None and "newer one stands" not in answers[0]["decision"]:
            assert first.ra_deg == pytest.approx(ra, abs=1e-9), rel
            assert first.dec_deg == pytest.approx(dec, abs=1e-9), rel


def test_repeat_native_message_answers_200_and_keeps_one_alert(coordinator_client):
    body = (DATA / "gcn_kafka" / "einstein_probe_wxt_alert.example.json").read_bytes()
    first = post(coordinator_client, body, "application/json")
    second = post(coordinator_client, body, "application/json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["alert"]["alert_id"] == second.json()["alert"]["alert_id"]
    assert Alert.objects.count() == 1
    assert second.json()["alert"]["update_count"] == 1


def _bat_packet(stage: str, serial: int, ra: float, dec: float, err: float, when: dt.datetime) -> str:
    xml = BAT.replace("#BAT_GRB_Pos_532871-729", f"#BAT_GRB_Pos_532871-{stage}")
    xml = xml.replace(
        'name="Pkt_Ser_Num" dataType="string" value="1"', f'name="Pkt_Ser_Num" dataType="string" value="{serial}"'
    )
    xml = re.sub(r"<C1>[^<]*</C1>", f"<C1>{ra}</C1>", xml)
    xml = re.sub(r"<C2>[^<]*</C2>", f"<C2>{dec}</C2>", xml)
    xml = re.sub(r"<Error2Radius>[^<]*</Error2Radius>", f"<Error2Radius>{err}</Error2Radius>", xml)
    return re.sub(r"<ISOTime>[^<]*</ISOTime>", f"<ISOTime>{when:%Y-%m-%dT%H:%M:%S.%f}</ISOTime>", xml, count=1)


def test_voevent_series_preliminary_initial_update_moves_one_target(coordinator_client):
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    stages = [("Preliminary", 1, 74.7412, -9.3137, 0.05), ("Initial", 2, 74.7450, -9.3150, 0.01),
              ("Update", 3, 74.74601, -9.31488, 0.0005)]  # fmt: skip
    answers = [post(coordinator_client, _bat_packet(*s, when), "application/xml") for s in stages]
    assert [a.status_code for a in answers] == [201, 200, 200]
    target_ids = {a.json()["target_id"] for a in answers}
    assert len(target_ids) == 1 and None not in target_ids
    target = Target.objects.get(pk=target_ids.pop())
    assert (target.ra_deg, target.dec_deg) == (74.74601, -9.31488)
    alert = Alert.objects.get()
    assert alert.revision == 3 and alert.ivorn.endswith("-Update")
    # The Initial packet arriving late again changes nothing.
    late = post(coordinator_client, _bat_packet(*stages[1], when), "application/xml")
    assert late.status_code == 200 and "newer one stands" in late.json()["decision"]
    assert Target.objects.get(pk=target.pk).ra_deg == 74.74601


def test_grb_voevent_joins_grb_afterglows_campaign(coordinator_client):
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    response = post(coordinator_client, _bat_packet("x", 1, 120.0, 10.0, 0.05, when), "application/xml")
    target_id = response.json()["target_id"]
    assert "GRB afterglows" in response.json()["decision"]
    assert Campaign.objects.get(name="GRB afterglows").targets.filter(pk=target_id).exists()
    assert Target.objects.get(pk=target_id).windows[0]["priority_boost"] > 0


def test_gcn_retraction_deactivates_the_target(coordinator_client):
    notice = {"$schema": "https://gcn.nasa.gov/schema/main/gcn/notices/swift/bat/Guano.schema.json",
              "mission": "Swift", "instrument": "BAT-GUANO", "id": [777000111], "record_number": 1,
              "alert_type": "initial", "trigger_time": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(),
              "ra": 33.3, "dec": -12.0, "ra_dec_error": 0.05, "classification": {"GRB": 0.9}}  # fmt: skip
    made = post(coordinator_client, __import__("json").dumps(notice), "application/json")
    assert made.status_code == 201, made.json()
    target_id = made.json()["target_id"]
    assert target_id, made.json()["decision"]
    retraction = {"$schema": "https://gcn.nasa.gov/schema/main/gcn/notices/swift/bat/Guano.schema.json",
                  "mission": "Swift", "instrument": "BAT-GUANO", "id": [777000111], "record_number": 2,
                  "alert_type": "retraction", "trigger_time": notice["trigger_time"]}  # fmt: skip
    answer = post(coordinator_client, __import__("json").dumps(retraction), "application/json")
    assert answer.status_code == 200, answer.json()
    assert "deactivated" in answer.json()["decision"]
    assert not Target.objects.get(pk=target_id).active


def test_gw_alert_makes_no_target_region_too_large(coordinator_client):
    body = (DATA / "igwn" / "skyportal_igwn_gwalert_retraction.json").read_bytes()
    body = body.replace(b'"MS260605l"', b'"S260605l"')
    response = post(coordinator_client, body, "application/json")
    assert response.status_code == 201
    assert response.json()["target_id"] is None
    assert Target.objects.count() == 0


def test_normalised_gw_with_skymap_area_says_region_too_large(coordinator_client):
    response = coordinator_client.post(
        "/api/v1/alerts",
        {"source": "IGWN", "external_id": "S261120ab", "alert_type": "GW",
         "event_time": "2026-11-20T03:00:00Z"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201
    assert response.json()["target_id"] is None and "region too large" in response.json()["decision"]


def test_crossmatch_merges_into_existing_target_instead_of_a_twin(coordinator_client):
    existing = TargetFactory(name="ZTF26aaaaaaa", ra_deg=150.1, dec_deg=-2.3, target_type="transient", priority=1)
    alert = {"source": "TNS", "external_id": "2026xyz", "name": "AT 2026xyz", "ra_deg": 150.1 + 0.4 / 3600,
             "dec_deg": -2.3, "alert_type": "SN candidate", "magnitude": 17.0,
             "event_time": (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()}  # fmt: skip
    response = coordinator_client.post("/api/v1/alerts", alert, format="json")
    assert response.status_code == 201
    assert response.json()["target_id"] == str(existing.pk)
    assert "Merged into existing target" in response.json()["decision"]
    assert Target.objects.count() == 1
    assert "AT 2026xyz" in Target.objects.get(pk=existing.pk).aliases


def test_csv_export_answers_with_the_list_form(coordinator_client):
    response = post(
        coordinator_client, (DATA / "brokers" / "alerce_ZTF18abbuive_detections.csv").read_bytes(), "text/csv"
    )
    assert response.status_code == 201
    assert "alert" in response.json() or response.json()["alerts"]


@pytest.mark.parametrize(
    ("body", "content_type", "needle"),
    [
        (b"<VOEvent><unclosed>", "application/xml", "XML"),
        (b"<ades version='2017'><obsBlock/></ades>", "application/xml", "not a VOEvent"),
        (b"Obj\x01\x04\x14avro.codec\x08null", "avro/binary", "Avro"),
        (b"{not json", "application/json", "JSON"),
        (b'{"hello": "world"}', "application/json", "not a recognised alert"),
        (b"[1, 2, 3]", "application/json", "not a recognised alert"),
        (b"\x00" * 17, "application/octet-stream", "neither"),
        (b"a,b,c\n1,2,3\n", "text/csv", "header not recognised"),
    ],
)
def test_bad_bodies_are_400_naming_the_problem(coordinator_client, body, content_type, needle):
    response = post(coordinator_client, body, content_type)
    assert response.status_code == 400, response.content
    assert needle.lower() in response.json()["detail"].lower()
    assert Alert.objects.count() == 0
    assert DeadLetter.objects.count() == 0  # the sender is told; nothing to keep


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "image/png", "multipart/form-data"])
def test_unknown_content_type_is_415(coordinator_client, content_type):
    response = post(coordinator_client, b"x=1", content_type)
    assert response.status_code == 415
    assert "application/xml" in response.json()["detail"]


def test_normalised_form_errors_name_fields(coordinator_client):
    response = coordinator_client.post("/api/v1/alerts", {"source": "TNS", "external_id": "a", "dec_deg": 95,
                                                          "ra_deg": 1, "role": "drill"}, format="json")  # fmt: skip
    assert response.status_code == 400
    assert {"dec_deg", "role"} <= set(response.json()["errors"])


def test_who_may_post_alerts(api, observer_client, researcher_client, site_a_client, coordinator_client):
    body = _bat_packet("p", 1, 10.0, 10.0, 0.05, dt.datetime.now(dt.UTC))
    assert post(api, body, "application/xml").status_code == 401
    for client in (observer_client, researcher_client, site_a_client):
        assert post(client, body, "application/xml").status_code == 403
    feed = UserFactory(username="gcn-feed")
    feed.user_permissions.add(Permission.objects.get(codename="add_alert"))
    assert post(token_client(feed), body, "application/xml").status_code == 201
    assert post(coordinator_client, body, "application/xml").status_code == 200


def test_alert_list_filters(coordinator_client, observer_client, site_a_client):
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    post(coordinator_client, _bat_packet("a", 1, 10.0, 10.0, 0.05, when), "application/xml")
    post(coordinator_client, (DATA / "voevent" / "voeventparse_no_namespace_packet.xml").read_bytes(), "text/xml")
    everything = observer_client.get("/api/v1/alerts").json()["results"]
    assert len(everything) == 2
    made = observer_client.get("/api/v1/alerts?has_target=true").json()["results"]
    assert [a["alert_type"] for a in made] == ["GRB"]
    assert len(observer_client.get("/api/v1/alerts?role=test").json()["results"]) == 1
    assert len(observer_client.get("/api/v1/alerts?action=create_target&source=gcn").json()["results"]) == 1
    bad = observer_client.get("/api/v1/alerts?received_after=2026-11-20")
    assert bad.status_code == 400 and "received_after" in bad.json()["errors"]
    assert site_a_client.get("/api/v1/alerts").status_code == 403


def _next_dark_hour_la() -> dt.datetime:
    """10:00 UTC (02:00-03:00 in Los Angeles, dark all year) after now."""
    now = dt.datetime.now(dt.UTC)
    at = now.replace(hour=10, minute=0, second=0, microsecond=0)
    return at if at > now else at + dt.timedelta(days=1)


def _high_and_far_from_the_moon(at: dt.datetime) -> tuple[float, float]:
    """A position at least 40 degrees up in Los Angeles at `at`, and 55 degrees or more from the Moon."""
    from astropy import units as u
    from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_body
    from astropy.time import Time

    location = EarthLocation.from_geodetic(-118.24 * u.deg, 34.05 * u.deg, 100 * u.m)
    time = Time(at)
    frame = AltAz(obstime=time, location=location)
    moon = get_body("moon", time, location)
    for alt in (80, 70, 60, 50, 40):
        for az in range(0, 360, 30):
            point = SkyCoord(alt=alt * u.deg, az=az * u.deg, frame=frame).icrs
            if point.separation(moon).deg >= 55:
                return round(point.ra.deg, 5), round(point.dec.deg, 5)
    raise AssertionError("no dark spot found")


def test_observable_transient_alert_is_on_the_sites_list_at_its_next_poll(coordinator_client, site_a_client):
    at = _next_dark_hour_la()
    ra, dec = _high_and_far_from_the_moon(at)
    alert = {"source": "TNS", "external_id": "2026zen", "name": "AT 2026zen", "ra_deg": ra, "dec_deg": dec,
             "alert_type": "SN candidate", "magnitude": 13.5,
             "event_time": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).isoformat()}  # fmt: skip
    TargetFactory(name="Old friend", ra_deg=ra, dec_deg=dec - 5.0, priority=1.0)
    # The site polled before the alert: its answer is cached (ranking caches).
    before = site_a_client.get(f"/api/v1/targets?at={at:%Y-%m-%dT%H:%M:%SZ}&count=50").json()
    assert "AT 2026zen" not in [t["name"] for t in before["targets"]]
    made = coordinator_client.post("/api/v1/alerts", alert, format="json")
    assert made.status_code == 201 and made.json()["target_id"], made.json()
    after = site_a_client.get(f"/api/v1/targets?at={at:%Y-%m-%dT%H:%M:%SZ}&count=50").json()
    names = [t["name"] for t in after["targets"]]
    assert "AT 2026zen" in names, after


def test_normalised_payload_with_bare_nan_is_stored_as_null(coordinator_client):
    body = b'{"source": "Lasair", "external_id": "nan-1", "ra_deg": 1.0, "dec_deg": 2.0, "payload": {"x": NaN}}'
    response = post(coordinator_client, body, "application/json")
    assert response.status_code == 201, response.json()
    assert Alert.objects.get(external_id="nan-1").payload["x"] is None
