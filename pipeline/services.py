"""Runs the data-products pipeline on one observation's frame; every step's state is visible on the row.

The science is in pure modules (`pipeline.reduce` and friends); this module fetches the frame and the site's
calibration masters from storage, passes what the database knows (target position, comparison stars, the site's
recent zero point), and records the result, the previews and the failure reason.
"""

import logging
import statistics
import tempfile
from collections import OrderedDict
from datetime import timedelta
from pathlib import Path

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from observations import services as obs_services
from observations.models import Observation
from pipeline.calibration import MasterFrame, master_from_fits
from pipeline.frames import FrameError
from pipeline.models import CalibrationFrame
from pipeline.reduce import reduce_frame

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=15)
MAX_ATTEMPTS = 3
ZERO_POINT_LOOKBACK = timedelta(days=14)
ZERO_POINT_FRAMES = 30
_MASTER_CACHE_SIZE = 12
_masters: OrderedDict[str, MasterFrame] = OrderedDict()


class TransientPipelineError(Exception):
    """A failure worth retrying (storage unreachable); the task retries with backoff."""


def _download(name: str, directory: str) -> Path:
    local = Path(directory) / Path(name).name
    try:
        with default_storage.open(name, "rb") as src, open(local, "wb") as dst:
            for chunk in iter(lambda: src.read(1024 * 1024), b""):
                dst.write(chunk)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise TransientPipelineError(f"could not read {name} from storage: {exc}") from exc
    return local


def _site_masters(site_id, directory: str) -> list[MasterFrame]:
    """The site's active masters, kept decoded in the worker between frames (most frames reuse the same few)."""
    out = []
    for cal in CalibrationFrame.objects.filter(site_id=site_id, is_active=True):
        key = str(cal.pk)
        master = _masters.get(key)
        if master is None:
            path = _download(cal.file.name, directory)
            master = master_from_fits(path, kind=cal.kind, name=key)
            _masters[key] = master
            while len(_masters) > _MASTER_CACHE_SIZE:
                _masters.popitem(last=False)
        out.append(master)
    return out


def _reference_zero_point(observation: Observation) -> float | None:
    """The site's median zero point in this filter over recent good frames: clouds show as a drop from it."""
    recent = (
        Observation.objects.filter(
            site_id=observation.site_id,
            filter=observation.filter,
            pipeline_state=Observation.PipelineState.DONE,
            observed_at__gte=observation.observed_at - ZERO_POINT_LOOKBACK,
        )
        .exclude(pk=observation.pk)
        .order_by("-observed_at")
        .values_list("pipeline_result", flat=True)[:ZERO_POINT_FRAMES]
    )
    points = []
    for result in recent:
        zp = ((result or {}).get("photometry") or {}).get("zero_point")
        if zp is not None and not (result.get("quality_flags") or []):
            points.append(zp)
    return statistics.median(points) if len(points) >= 3 else None


def _comparison_stars(target) -> list[dict] | None:
    """Listed comparison stars; else the automatic ensemble pinned by the target's first reduced frame, so
    differential magnitudes of later frames are measured against the same stars."""
    if target.comparison_stars:
        return target.comparison_stars
    return (target.metadata or {}).get("pipeline_ensemble") or None


def observation_reduce(*, observation_id: str) -> None:
    if not obs_services.observation_claim_for_pipeline(observation_id=observation_id):
        return  # someone else has it, or it is already done: a second delivery is a no-op
    observation = Observation.objects.select_related("site", "target").get(pk=observation_id)
    try:
        outcome = _reduce(observation)
    except TransientPipelineError as exc:
        attempts = observation.pipeline_attempts + 1
        if attempts >= MAX_ATTEMPTS:
            # Out of retries: say so, rather than leave the frame pending for ever.
            obs_services.observation_set_pipeline_state(
                observation=observation,
                new_state=Observation.PipelineState.FAILED,
                pipeline_error=f"Gave up after {attempts} attempts: {exc}",
                pipeline_attempts=attempts,
            )
            return
        # Hand the frame back (pending) so the retry or the sweep can take it again.
        obs_services.observation_set_pipeline_state(
            observation=observation, new_state=Observation.PipelineState.PENDING, pipeline_attempts=attempts
        )
        raise
    except Exception as exc:
        log.exception("Pipeline failed for observation %s", observation_id)
        obs_services.observation_set_pipeline_state(
            observation=observation,
            new_state=Observation.PipelineState.FAILED,
            pipeline_error=f"{type(exc).__name__}: {exc}" if not isinstance(exc, FrameError) else str(exc),
            pipeline_attempts=observation.pipeline_attempts + 1,
        )
        return
    _record(observation, outcome)


def _reduce(observation: Observation) -> dict:
    site, target = observation.site, observation.target
    with tempfile.TemporaryDirectory() as tmp:
        local = _download(observation.image.name, tmp)
        masters = _site_masters(site.pk, tmp)
        result = reduce_frame(
            local,
            target_ra_deg=target.ra_deg,
            target_dec_deg=target.dec_deg,
            comparison_stars=_comparison_stars(target),
            site={"latitude": site.latitude, "longitude": site.longitude, "elevation_m": site.elevation_m},
            masters=masters,
            aperture_mm=site.aperture_mm,
            reference_zero_point=_reference_zero_point(observation),
            make_previews=True,
        )
    full = result.to_dict()
    block = result.to_pipeline_block()
    stored = {
        "photometry": block.get("photometry"),
        "astrometry": block.get("astrometry"),
        "quality_flags": block.get("quality_flags", []),
        "error": block.get("error"),
        "calibration": full.get("metadata", {}).get("calibration"),
        "metadata": full.get("metadata", {}),
        "comparison_ensemble": full.get("comparison_ensemble", []),
        "steps": {"timings_sec": full.get("timings_sec", {})},
    }
    return {"result": stored, "preview": result.preview_png, "thumbnail": result.thumbnail_png}


def _record(observation: Observation, outcome: dict) -> None:
    result = outcome["result"]
    saved: list[str] = []
    fields = {}
    try:
        for name, data in (("preview", outcome["preview"]), ("thumbnail", outcome["thumbnail"])):
            if data:
                path = f"previews/{observation.site_id}/{observation.pk}/{name}.png"
                if default_storage.exists(path):
                    default_storage.delete(path)
                saved.append(default_storage.save(path, ContentFile(data)))
                fields[name] = saved[-1]
        bjd = (result.get("metadata") or {}).get("bjd_tdb")
        with transaction.atomic():
            obs_services.observation_set_pipeline_state(
                observation=observation,
                new_state=Observation.PipelineState.DONE,
                pipeline_result=result,
                pipeline_error=result.get("error") or "",
                pipeline_attempts=observation.pipeline_attempts + 1,
                bjd_tdb=bjd,
                **fields,
            )
            _pin_ensemble(observation, result)
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise


def _pin_ensemble(observation: Observation, result: dict) -> None:
    target = observation.target
    ensemble = result.get("comparison_ensemble") or []
    if target.comparison_stars or (target.metadata or {}).get("pipeline_ensemble") or not ensemble:
        return
    metadata = dict(target.metadata or {})
    metadata["pipeline_ensemble"] = ensemble
    type(target).objects.filter(pk=target.pk).update(metadata=metadata)


def pipeline_sweep(*, now=None) -> int:
    """Release claims of workers that died and requeue frames left pending (the broker was down)."""
    now = now or timezone.now()
    stale = Observation.objects.filter(
        pipeline_state=Observation.PipelineState.PROCESSING, pipeline_claimed_at__lt=now - CLAIM_TIMEOUT
    )
    # A claim that outlived its worker counts as an attempt: a frame that kills workers cannot loop for ever.
    released = stale.update(
        pipeline_state=Observation.PipelineState.PENDING,
        pipeline_claimed_at=None,
        pipeline_attempts=F("pipeline_attempts") + 1,
    )
    Observation.objects.filter(
        pipeline_state=Observation.PipelineState.PENDING, pipeline_attempts__gte=MAX_ATTEMPTS
    ).exclude(image="").update(
        pipeline_state=Observation.PipelineState.FAILED,
        pipeline_error=f"Gave up after {MAX_ATTEMPTS} attempts (the worker died or storage was unreachable).",
    )
    pending = Observation.objects.filter(
        pipeline_state=Observation.PipelineState.PENDING, pipeline_attempts__lt=MAX_ATTEMPTS
    ).exclude(image="")
    for obs_id in pending.values_list("id", flat=True)[:500]:
        obs_services.pipeline_enqueue(observation_id=obs_id)
    return released


def calibration_store(*, site, kind: str, frame) -> CalibrationFrame:
    """Keep a checked master frame; the same file twice is recognised by its checksum and not stored again."""
    existing = CalibrationFrame.objects.filter(site=site, sha256=frame.sha256).first()
    if existing is not None:
        return existing
    master = master_from_fits(frame.path, kind=kind, name=frame.sha256[:12])
    calibration = CalibrationFrame(
        site=site,
        kind=kind,
        filter=master.filter or "",
        binning=int(master.binning[0]),
        temperature_c=master.temperature_c,
        exposure_sec=master.exposure_sec,
        shape=list(master.data.shape),
        sha256=frame.sha256,
        size_bytes=frame.size_bytes,
    )
    name = calibration.file.field.generate_filename(calibration, "master.fits.gz" if frame.gzipped else "m.fits")
    with open(frame.path, "rb") as handle:
        stored = default_storage.save(name, File(handle))
    try:
        calibration.file = stored
        calibration.save()
    except BaseException:
        default_storage.delete(stored)
        raise
    return calibration
