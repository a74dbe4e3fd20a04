"""Runs the data-products pipeline on one observation's frame; every step's state is visible on the row."""

import logging
import tempfile
from datetime import timedelta
from pathlib import Path

from django.core.files.storage import default_storage
from django.utils import timezone

from observations import services as obs_services
from observations.models import Observation

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=15)
MAX_ATTEMPTS = 3


def _frame_metadata(header: dict) -> dict:
    return {
        key.lower(): header.get(key)
        for key in ("DATE-OBS", "EXPTIME", "FILTER", "OBJECT", "AIRMASS", "XBINNING", "YBINNING", "GAIN")
        if key in header
    }


def observation_reduce(*, observation_id: str) -> None:
    if not obs_services.observation_claim_for_pipeline(observation_id=observation_id):
        return  # someone else has it, or it is already done: a second delivery is a no-op
    observation = Observation.objects.select_related("site", "target").get(pk=observation_id)
    try:
        result = _reduce(observation)
    except Exception as exc:
        log.exception("Pipeline failed for observation %s", observation_id)
        obs_services.observation_set_pipeline_state(
            observation=observation,
            new_state=Observation.PipelineState.FAILED,
            pipeline_error=f"{type(exc).__name__}: {exc}",
            pipeline_attempts=observation.pipeline_attempts + 1,
        )
        return
    obs_services.observation_set_pipeline_state(
        observation=observation,
        new_state=Observation.PipelineState.DONE,
        pipeline_result=result,
        pipeline_error="",
        pipeline_attempts=observation.pipeline_attempts + 1,
    )


def _reduce(observation: Observation) -> dict:
    suffix = ".fits.gz" if observation.image.name.endswith(".gz") else ".fits"
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / f"frame{suffix}"
        with default_storage.open(observation.image.name, "rb") as src, open(local, "wb") as dst:
            for chunk in iter(lambda: src.read(1024 * 1024), b""):
                dst.write(chunk)
        return {"steps": {"metadata": "done"}, "metadata": _frame_metadata(observation.image_header)}


def pipeline_sweep(*, now=None) -> int:
    now = now or timezone.now()
    stale = Observation.objects.filter(
        pipeline_state=Observation.PipelineState.PROCESSING, pipeline_claimed_at__lt=now - CLAIM_TIMEOUT
    )
    released = stale.update(pipeline_state=Observation.PipelineState.PENDING, pipeline_claimed_at=None)
    pending = Observation.objects.filter(
        pipeline_state=Observation.PipelineState.PENDING, pipeline_attempts__lt=MAX_ATTEMPTS
    ).exclude(image="")
    for obs_id in pending.values_list("id", flat=True)[:500]:
        obs_services.pipeline_enqueue(observation_id=obs_id)
    return released
