"""The pipeline behind the upload: a site's frame becomes a calibrated, flagged point in the light curve."""

import uuid

import numpy as np
import pytest

from network.testing import site_client
from observations.models import Observation
from pipeline.models import CalibrationFrame
from pipeline.synth import synthetic_frame
from targets.tests.factories import TargetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _run_on_commit(monkeypatch):
    # Tests run inside a transaction that is never committed: run on_commit work (queuing the pipeline) at once.
    from django.db import transaction

    monkeypatch.setattr(transaction, "on_commit", lambda func, using=None, robust=False: func())

RA, DEC = 97.6366, 29.6723
SHAPE = (256, 256)


def _stars():
    rng = np.random.default_rng(3)
    x = np.r_[127.5, rng.uniform(20, 236, 25)]
    y = np.r_[127.5, rng.uniform(20, 236, 25)]
    mags = np.r_[12.0, rng.uniform(11.0, 13.5, 25)]
    return x, y, mags


def _frame(**kwargs):
    return synthetic_frame(shape=SHAPE, stars=_stars(), ra_deg=RA, dec_deg=DEC, seed=kwargs.pop("seed", 1), **kwargs)


def _target_with_comparisons():
    frame = _frame()
    comparisons = [
        {"name": f"C{i}", "ra_deg": s.ra_deg, "dec_deg": s.dec_deg, "magnitudes": {"R": s.mag}}
        for i, s in enumerate(frame.stars[1:9])
    ]
    return TargetFactory(name="WASP-12 b", ra_deg=RA, dec_deg=DEC, comparison_stars=comparisons)


def _submit_and_upload(key, target, frame_bytes, observed_at="2026-11-23T06:00:30Z"):
    client = site_client(key)
    obs_id = str(uuid.uuid4())
    body = {"observation_id": obs_id, "target_id": str(target.pk), "observed_at": observed_at,
            "exposure_sec": 60, "filter": "R"}  # fmt: skip
    assert client.post("/api/v1/observations", body, format="json").status_code == 201
    response = client.put(f"/api/v1/observations/{obs_id}/image", frame_bytes, content_type="application/fits")
    assert response.status_code == 202, response.json()
    return client, obs_id


def test_uploaded_frame_gets_calibrated_photometry_previews_and_joins_light_curve(site_a, researcher_client):
    _, key = site_a
    target = _target_with_comparisons()
    client, obs_id = _submit_and_upload(key, target, _frame().to_fits_bytes())
    body = client.get(f"/api/v1/observations/{obs_id}").json()
    pipeline = body["pipeline"]
    assert pipeline["state"] == "done", pipeline
    phot = pipeline["photometry"]
    assert phot["calibrated"] is True
    assert phot["magnitude"] == pytest.approx(12.0, abs=0.03)
    assert 0 < phot["error"] < 0.05
    assert len(phot["comparison_stars"]) >= 3
    assert pipeline["astrometry"]["ra_deg"] == pytest.approx(RA, abs=2 / 3600)
    assert pipeline["astrometry"]["wcs_source"] == "header"
    assert body["bjd_tdb"] == pytest.approx(2461367.75, abs=0.01)
    preview = client.get(f"/api/v1/observations/{obs_id}/preview")
    assert preview.status_code == 200
    assert b"".join(preview.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    points = researcher_client.get(f"/api/v1/lightcurve/{target.pk}").json()["points"]
    assert points[0]["source"] == "pipeline"
    assert points[0]["magnitude"] == pytest.approx(12.0, abs=0.03)


def test_pipeline_prefers_its_own_result_over_the_clients(site_a, researcher_client):
    _, key = site_a
    target = _target_with_comparisons()
    client = site_client(key)
    obs_id = str(uuid.uuid4())
    body = {"observation_id": obs_id, "target_id": str(target.pk), "observed_at": "2026-11-23T06:00:30Z",
            "filter": "R", "photometry": {"magnitude": 13.5, "error": 0.1}}  # fmt: skip
    client.post("/api/v1/observations", body, format="json")
    points = researcher_client.get(f"/api/v1/lightcurve/{target.pk}").json()["points"]
    assert (points[0]["source"], points[0]["magnitude"]) == ("client", 13.5)
    client.put(f"/api/v1/observations/{obs_id}/image", _frame().to_fits_bytes(), content_type="application/fits")
    points = researcher_client.get(f"/api/v1/lightcurve/{target.pk}").json()["points"]
    assert points[0]["source"] == "pipeline"
    assert points[0]["magnitude"] == pytest.approx(12.0, abs=0.03)


def test_frame_without_target_star_fails_visibly_with_reason(site_a):
    _, key = site_a
    target = TargetFactory(name="Far away", ra_deg=10.0, dec_deg=-40.0)
    client, obs_id = _submit_and_upload(key, target, _frame().to_fits_bytes())
    pipeline = client.get(f"/api/v1/observations/{obs_id}").json()["pipeline"]
    assert pipeline["state"] == "done"
    assert pipeline["photometry"] is None
    assert "outside" in pipeline["error"]


def test_science_frame_is_calibrated_with_the_sites_masters(site_a):
    site, key = site_a
    target = _target_with_comparisons()
    raw = _frame(raw=True, flat_amplitude=0.2)
    import io

    from astropy.io import fits

    for kind, data in (("bias", raw.bias), ("flat", raw.flat)):
        buffer = io.BytesIO()
        hdu = fits.PrimaryHDU(data.astype(np.float32))
        hdu.header.update({"IMAGETYP": kind, "FILTER": "R", "XBINNING": 1, "YBINNING": 1, "EXPTIME": 0.0})
        hdu.writeto(buffer)
        url = f"/api/v1/sites/{site.pk}/calibration/{kind}"
        response = site_client(key).put(url, buffer.getvalue(), content_type="application/fits")
        assert response.status_code == 201, response.json()
    assert CalibrationFrame.objects.filter(site=site).count() == 2
    _, obs_id = _submit_and_upload(key, target, raw.to_fits_bytes())
    obs = Observation.objects.get(pk=obs_id)
    used = obs.pipeline_result["calibration"]
    assert used, obs.pipeline_result
    assert "calibration_failed" not in obs.pipeline_result["quality_flags"]
    assert obs.pipeline_result["photometry"]["magnitude"] == pytest.approx(12.0, abs=0.04)


def test_calibration_upload_rejects_non_fits_and_other_sites(site_a, site_b):
    site, key = site_a
    _, key_b = site_b
    url = f"/api/v1/sites/{site.pk}/calibration/bias"
    assert site_client(key).put(url, b"not fits" * 50, content_type="application/fits").status_code == 400
    assert site_client(key_b).put(url, b"x", content_type="application/fits").status_code == 403
    assert site_client(key).put(f"/api/v1/sites/{site.pk}/calibration/sky", b"x",
                                content_type="application/fits").status_code == 400  # fmt: skip
    assert CalibrationFrame.objects.count() == 0
