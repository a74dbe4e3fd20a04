import gzip
import io
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from astropy.io import fits

from network.testing import site_client
from observations.models import Observation
from targets.tests.factories import TargetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def target():
    return TargetFactory(name="WASP-12 b")


def obs_body(target, **changes):
    body = {
        "observation_id": str(uuid.uuid4()), "target_id": str(target.pk), "observed_at": "2026-11-23T06:01:30Z",
        "exposure_sec": 60, "filter": "R", "airmass": 1.14, "seeing_arcsec": 2.4,
        "photometry": {"magnitude": 11.62, "error": 0.008, "comparison_stars": ["C1"], "method": "aperture"},
        "astrometry": {"ra_deg": 97.63661, "dec_deg": 29.67231, "error_arcsec": 0.3},
        "quality_flags": [], "raw_metadata": {"EXPTIME": 60},
    }  # fmt: skip
    body.update(changes)
    return body


def fits_bytes(*, shape=(64, 64), header=None, gz=False) -> bytes:
    data = np.random.default_rng(0).normal(1000, 10, shape).astype(np.uint16)
    hdu = fits.PrimaryHDU(data)
    for key, value in (header or {"DATE-OBS": "2026-11-23T06:01:00", "EXPTIME": 60.0, "FILTER": "R"}).items():
        hdu.header[key] = value
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    raw = buffer.getvalue()
    return gzip.compress(raw) if gz else raw


def test_site_submits_observation_and_retry_is_harmless(site_a, target):
    site, key = site_a
    client = site_client(key)
    body = obs_body(target)
    first = client.post("/api/v1/observations", body, format="json")
    assert first.status_code == 201
    assert first.json()["observation_id"] == body["observation_id"]
    assert first.json()["status"] == "accepted"
    again = client.post("/api/v1/observations", body, format="json")
    assert again.status_code == 200
    assert Observation.objects.count() == 1
    stored = Observation.objects.get()
    assert stored.site_id == site.pk and stored.photometry["magnitude"] == 11.62


def test_same_time_written_differently_is_the_same_content(site_a_client, target):
    body = obs_body(target)
    assert site_a_client.post("/api/v1/observations", body, format="json").status_code == 201
    retry = {**body, "observed_at": "2026-11-23T07:01:30+01:00"}
    assert site_a_client.post("/api/v1/observations", retry, format="json").status_code == 200


def test_resubmission_with_other_content_is_409(site_a_client, target):
    body = obs_body(target)
    site_a_client.post("/api/v1/observations", body, format="json")
    response = site_a_client.post(
        "/api/v1/observations", {**body, "photometry": {"magnitude": 12.0}}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["detail"]
    assert Observation.objects.get().photometry["magnitude"] == 11.62


def test_same_id_from_another_site_is_409(site_a_client, site_b_client, target):
    body = obs_body(target)
    site_a_client.post("/api/v1/observations", body, format="json")
    assert site_b_client.post("/api/v1/observations", body, format="json").status_code == 409


def test_batch_is_all_or_nothing(site_a_client, target):
    items = [obs_body(target) for _ in range(5)]
    items[2]["observed_at"] = "2026-11-23T06:01:30"  # no offset
    items[4]["airmass"] = 0.5
    response = site_a_client.post("/api/v1/observations", items, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"2", "4"}
    assert "observed_at" in errors["2"] and "airmass" in errors["4"]
    assert Observation.objects.count() == 0


def test_batch_with_one_conflict_saves_nothing(site_a_client, target):
    old = obs_body(target)
    site_a_client.post("/api/v1/observations", old, format="json")
    batch = [obs_body(target), {**old, "filter": "V"}]
    assert site_a_client.post("/api/v1/observations", batch, format="json").status_code == 409
    assert Observation.objects.count() == 1


def test_batch_answers_each_item_and_201_if_any_new(site_a_client, target):
    old = obs_body(target)
    site_a_client.post("/api/v1/observations", old, format="json")
    new = obs_body(target)
    response = site_a_client.post("/api/v1/observations", [old, new], format="json")
    assert response.status_code == 201
    assert [r["observation_id"] for r in response.json()] == [old["observation_id"], new["observation_id"]]
    assert [r["created"] for r in response.json()] == [False, True]
    assert site_a_client.post("/api/v1/observations", [old, new], format="json").status_code == 200


def test_relative_flux_is_accepted(site_a_client, target):
    body = obs_body(target, photometry={"flux": 0.993, "flux_error": 0.004, "method": "relative_flux"})
    assert site_a_client.post("/api/v1/observations", body, format="json").status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target_id": "00000000-0000-0000-0000-000000000000"}, "target_id"),
        ({"observation_id": "not-a-uuid"}, "observation_id"),
        ({"observed_at": "2026-11-23T06:01:30"}, "observed_at"),
        ({"exposure_sec": "long"}, "exposure_sec"),
        ({"photometry": {"method": "aperture"}}, "photometry"),
        ({"astrometry": {"ra_deg": 400, "dec_deg": 0}}, "astrometry"),
    ],
)
def test_bad_observation_is_400_naming_field(site_a_client, target, change, field):
    response = site_a_client.post("/api/v1/observations", obs_body(target, **change), format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Observation.objects.count() == 0


def test_people_cannot_submit_observations(observer_client, target):
    assert observer_client.post("/api/v1/observations", obs_body(target), format="json").status_code == 403


def _submitted(client, target, **changes) -> str:
    body = obs_body(target, **changes)
    assert client.post("/api/v1/observations", body, format="json").status_code == 201
    return body["observation_id"]


def test_fits_upload_is_stored_and_queued(site_a_client, target, settings):
    obs_id = _submitted(site_a_client, target)
    frame = fits_bytes()
    response = site_a_client.put(
        f"/api/v1/observations/{obs_id}/image", frame, content_type="application/fits"
    )
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued"
    obs = Observation.objects.get(pk=obs_id)
    with obs.image.open("rb") as handle:
        assert handle.read() == frame
    assert obs.image_header["FILTER"] == "R"
    detail = site_a_client.get(f"/api/v1/observations/{obs_id}").json()
    assert detail["pipeline"]["image_url"].endswith(f"/api/v1/observations/{obs_id}/image")
    download = site_a_client.get(f"/api/v1/observations/{obs_id}/image")
    assert b"".join(download.streaming_content) == frame


def test_identical_reupload_is_recognised(site_a_client, target):
    obs_id = _submitted(site_a_client, target)
    frame = fits_bytes()
    url = f"/api/v1/observations/{obs_id}/image"
    assert site_a_client.put(url, frame, content_type="application/fits").status_code == 202
    again = site_a_client.put(url, frame, content_type="application/fits")
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    other = site_a_client.put(url, fits_bytes(shape=(32, 32)), content_type="application/fits")
    assert other.status_code == 409


def test_gzip_fits_upload_is_accepted(site_a_client, target):
    obs_id = _submitted(site_a_client, target)
    response = site_a_client.put(
        f"/api/v1/observations/{obs_id}/image", fits_bytes(gz=True), content_type="application/fits"
    )
    assert response.status_code == 202
    assert Observation.objects.get(pk=obs_id).image.name.endswith(".fits.gz")


def test_non_fits_upload_is_400_and_nothing_stored(site_a_client, target):
    obs_id = _submitted(site_a_client, target)
    response = site_a_client.put(
        f"/api/v1/observations/{obs_id}/image", b"hello, this is not a frame" * 100, content_type="application/fits"
    )
    assert response.status_code == 400
    assert "FITS" in response.json()["detail"]
    assert not Observation.objects.get(pk=obs_id).image


def test_truncated_fits_is_400(site_a_client, target):
    obs_id = _submitted(site_a_client, target)
    frame = fits_bytes(shape=(256, 256))
    response = site_a_client.put(
        f"/api/v1/observations/{obs_id}/image", frame[: len(frame) // 2], content_type="application/fits"
    )
    assert response.status_code == 400


def test_fits_without_needed_keywords_names_them(site_a_client, target):
    obs_id = _submitted(site_a_client, target, filter="")
    response = site_a_client.put(
        f"/api/v1/observations/{obs_id}/image", fits_bytes(header={"OBJECT": "x"}), content_type="application/fits"
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "DATE-OBS" in detail and "EXPTIME" in detail and "FILTER" in detail


def test_fits_table_without_image_is_400(site_a_client, target):
    obs_id = _submitted(site_a_client, target)
    table = fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=np.arange(3.0))])
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer)
    response = site_a_client.put(
        f"/api/v1/observations/{obs_id}/image", buffer.getvalue(), content_type="application/fits"
    )
    assert response.status_code == 400
    assert "image" in response.json()["detail"]


def test_upload_with_wrong_media_type_is_415(site_a_client, target):
    obs_id = _submitted(site_a_client, target)
    response = site_a_client.put(f"/api/v1/observations/{obs_id}/image", fits_bytes(), content_type="image/png")
    assert response.status_code == 415


def test_upload_over_limit_is_413(site_a_client, target, settings):
    settings.IMAGE_MAX_BYTES = 10_000
    obs_id = _submitted(site_a_client, target)
    response = site_a_client.put(
        f"/api/v1/observations/{obs_id}/image", fits_bytes(shape=(128, 128)), content_type="application/fits"
    )
    assert response.status_code == 413
    assert not Observation.objects.get(pk=obs_id).image


def test_site_cannot_upload_to_another_sites_observation(site_a_client, site_b_client, target):
    obs_id = _submitted(site_a_client, target)
    response = site_b_client.put(f"/api/v1/observations/{obs_id}/image", fits_bytes(), content_type="application/fits")
    assert response.status_code == 403


def test_query_filters_and_site_key_sees_only_its_own(site_a_client, site_b_client, researcher_client, target, site_a):
    site, _ = site_a
    _submitted(site_a_client, target, observed_at="2026-11-23T06:00:00Z", filter="V")
    _submitted(site_a_client, target, observed_at="2026-11-23T07:00:00Z", filter="R")
    _submitted(site_b_client, target, observed_at="2026-11-23T08:00:00Z", filter="R")
    def count(client, query=""):
        response = client.get("/api/v1/observations" + query)
        assert response.status_code == 200, response.json()
        return len(response.json()["results"])
    assert count(researcher_client) == 3
    assert count(researcher_client, f"?site_id={site.pk}") == 2
    assert count(researcher_client, "?filter=r") == 2
    assert count(researcher_client, "?after=2026-11-23T06:30:00Z&before=2026-11-23T07:30:00Z") == 1
    assert count(researcher_client, f"?target_id={target.pk}") == 3
    assert count(site_a_client) == 2
    assert researcher_client.get("/api/v1/observations?after=2026-11-23T06:30:00").status_code == 400


def test_embargo_hides_fresh_data_from_others_not_from_owner(observer_client, researcher_client, coordinator_client,
                                                            site_a, target):
    site, key = site_a
    site.embargo_days = 30
    site.save()
    now = datetime.now(UTC)
    fresh = _submitted(site_client(key), target, observed_at=(now - timedelta(days=1)).isoformat())
    old = _submitted(site_client(key), target, observed_at=(now - timedelta(days=60)).isoformat())
    seen = {o["observation_id"] for o in researcher_client.get("/api/v1/observations").json()["results"]}
    assert seen == {old}
    assert researcher_client.get(f"/api/v1/observations/{fresh}").status_code == 404
    for client in (observer_client, coordinator_client, site_client(key)):
        seen = {o["observation_id"] for o in client.get("/api/v1/observations").json()["results"]}
        assert seen == {old, fresh}
    points = researcher_client.get(f"/api/v1/lightcurve/{target.pk}").json()["points"]
    assert [p["observation_id"] for p in points] == [old]


def test_lightcurve_json_csv_and_aavso(site_a_client, site_b_client, researcher_client, target):
    _submitted(site_a_client, target, observed_at="2026-11-23T06:00:00Z")
    _submitted(site_b_client, target, observed_at="2026-11-23T07:00:00Z",
               photometry={"flux": 0.98, "flux_error": 0.01, "method": "relative_flux"})
    body = researcher_client.get(f"/api/v1/lightcurve/{target.pk}").json()
    assert body["name"] == "WASP-12 b"
    first, second = body["points"]
    assert first["magnitude"] == 11.62 and first["source"] == "client"
    # BJD_TDB of 2026-11-23 06:00 UTC: JD 2461367.75 plus up to ~8.3 min of light travel and 69 s of TT-UTC.
    assert abs(first["bjd_tdb"] - 2461367.75) < 0.0075
    assert second["flux"] == 0.98 and second["magnitude"] is None
    csv_text = researcher_client.get(f"/api/v1/lightcurve/{target.pk}?format=csv").content.decode()
    header, *rows = csv_text.strip().splitlines()
    assert header.split(",")[:3] == ["observed_at", "bjd_tdb", "magnitude"]
    assert len(rows) == 2
    aavso = researcher_client.get(f"/api/v1/lightcurve/{target.pk}?format=aavso&obscode=XYZ").content.decode()
    lines = aavso.strip().splitlines()
    assert lines[0] == "#TYPE=EXTENDED" and "#OBSCODE=XYZ" in lines
    data = [line for line in lines if not line.startswith("#")]
    assert len(data) == 1  # only magnitudes go to AAVSO
    fields = data[0].split(",")
    assert fields[0] == "WASP-12 b" and fields[2] == "11.6200" and fields[4] == "R"
    assert abs(float(fields[1]) - 2461367.75) < 1e-6
    assert researcher_client.get(f"/api/v1/lightcurve/{target.pk}?format=xls").status_code == 400


def test_lightcurve_exports_validate_and_campaign_archive_holds_every_target(site_a_client, researcher_client, target):
    import zipfile

    from astropy.io.votable import parse_single_table
    from astropy.table import Table

    from pipeline.lightcurve import validate_aavso_extended
    from targets.tests.factories import CampaignFactory

    _submitted(site_a_client, target, observed_at="2026-11-23T06:00:00Z")
    _submitted(site_a_client, target, observed_at="2026-11-23T06:10:00Z",
               photometry={"magnitude": 11.7, "error": 0.01})
    url = f"/api/v1/lightcurve/{target.pk}"
    aavso = researcher_client.get(url + "?format=aavso&obscode=ABC").content.decode()
    assert validate_aavso_extended(aavso) == []
    votable = parse_single_table(io.BytesIO(researcher_client.get(url + "?format=votable").content)).to_table()
    assert list(votable["magnitude"]) == [11.62, 11.7]
    table = Table.read(io.BytesIO(researcher_client.get(url + "?format=fits").content), format="fits")
    assert len(table) == 2
    campaign = CampaignFactory(name="Hot Jupiters")
    campaign.targets.add(target, TargetFactory(name="Quiet"))
    response = researcher_client.get(f"/api/v1/campaigns/{campaign.pk}/archive")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {"WASP-12_b_lightcurve.csv", "WASP-12_b_aavso.txt", "Quiet_lightcurve.csv", "README.txt"} <= names
    assert archive.read("WASP-12_b_lightcurve.csv").decode().count("\n") == 3


def test_same_frame_gzipped_differently_is_recognised_as_the_same(site_a_client, target):
    obs_id = _submitted(site_a_client, target)
    raw = fits_bytes()
    url = f"/api/v1/observations/{obs_id}/image"
    assert site_a_client.put(url, gzip.compress(raw, mtime=1), content_type="application/fits").status_code == 202
    again = site_a_client.put(url, gzip.compress(raw, compresslevel=1, mtime=2), content_type="application/fits")
    assert again.status_code == 200
    assert site_a_client.put(url, raw, content_type="application/fits").json()["status"] == "unchanged"
