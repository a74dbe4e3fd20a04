"""Writes of observations: idempotent submission, image storage, pipeline state changes."""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import serializers

from network.errors import Conflict
from observations.models import Observation
from observations.serializers import ObservationSubmitSerializer, content_hash, normalise_submission
from targets.models import Target

log = logging.getLogger(__name__)

MAX_BATCH = 1000


@dataclass(frozen=True)
class SubmitResult:
    observation_id: str
    created: bool


def _errors(errors: dict[int, object], many: bool, what: str) -> dict:
    if not many:
        only = errors[0]
        return only if isinstance(only, dict) else {"non_field_errors": [only]}
    return {str(i): e for i, e in errors.items()}


def observations_submit(*, site, items: list, many: bool) -> list[SubmitResult]:
    """Store observations reported by `site`, all or nothing.

    The client's `observation_id` is the identity: the same id with the same normalised content is a harmless
    retry (nothing changes); with other content, or from another site, it is a conflict (409) and nothing of
    the batch is saved.
    """
    errors: dict[int, object] = {}
    parsed: list[dict] = []
    for index, item in enumerate(items):
        serializer = ObservationSubmitSerializer(data=item)
        if serializer.is_valid():
            parsed.append(serializer.validated_data)
        else:
            errors[index] = serializer.errors
            parsed.append({})
    if errors:
        detail = "Invalid observation." if not many else f"{len(errors)} of {len(items)} observations are invalid."
        raise serializers.ValidationError({"detail": detail + " Nothing was saved.", **_errors(errors, many, "")})

    target_ids = {d["target_id"] for d in parsed}
    known = set(Target.objects.filter(pk__in=target_ids).values_list("pk", flat=True))
    for index, data in enumerate(parsed):
        if data["target_id"] not in known:
            errors[index] = {"target_id": [f"No target with id {data['target_id']}."]}
    if errors:
        raise serializers.ValidationError(
            {"detail": "Unknown target. Nothing was saved.", **_errors(errors, many, "")}
        )

    try:
        return _store(site=site, parsed=parsed, many=many)
    except IntegrityError:
        # Another request stored one of these ids between our check and our insert: check again, once.
        return _store(site=site, parsed=parsed, many=many)


@transaction.atomic
def _store(*, site, parsed: list[dict], many: bool) -> list[SubmitResult]:
    hashes = []
    for data in parsed:
        data["_normalised"] = normalise_submission(data)
        hashes.append(content_hash(data["_normalised"]))

    ids = [d["observation_id"] for d in parsed]
    existing = {
        o.pk: o for o in Observation.objects.filter(pk__in=ids).only("id", "site_id", "content_hash")
    }
    conflicts: dict[int, object] = {}
    seen_in_batch: dict = {}
    results: list[SubmitResult] = []
    new: list[Observation] = []
    for index, (data, digest) in enumerate(zip(parsed, hashes, strict=True)):
        obs_id = data["observation_id"]
        if obs_id in seen_in_batch:
            if seen_in_batch[obs_id] != digest:
                conflicts[index] = {"observation_id": ["Sent twice in this list with different content."]}
            results.append(SubmitResult(str(obs_id), created=False))
            continue
        seen_in_batch[obs_id] = digest
        old = existing.get(obs_id)
        if old is not None:
            if old.site_id != site.pk:
                conflicts[index] = {"observation_id": ["This id belongs to another site's observation."]}
            elif old.content_hash != digest:
                conflicts[index] = {
                    "observation_id": ["Already stored with different content; choose a new id for new data."]
                }
            results.append(SubmitResult(str(obs_id), created=False))
            continue
        new.append(
            Observation(
                id=obs_id,
                site=site,
                target_id=data["target_id"],
                observed_at=data["observed_at"],
                exposure_sec=data.get("exposure_sec"),
                filter=data.get("filter") or "",
                airmass=data.get("airmass"),
                seeing_arcsec=data.get("seeing_arcsec"),
                photometry=data["_normalised"]["photometry"],
                astrometry=data["_normalised"]["astrometry"],
                quality_flags=data["_normalised"]["quality_flags"],
                raw_metadata=data["_normalised"]["raw_metadata"],
                content_hash=digest,
            )
        )
        results.append(SubmitResult(str(obs_id), created=True))
    if conflicts:
        raise Conflict(
            {
                "detail": "Conflicting resubmission; nothing was saved.",
                "errors": _errors(conflicts, many, ""),
            }
        )
    Observation.objects.bulk_create(new, batch_size=500)
    return results


def observation_claim_for_pipeline(*, observation_id) -> bool:
    """Move pending → processing with a conditional update, so two workers never both reduce one frame."""
    now = timezone.now()
    claimed = Observation.objects.filter(
        pk=observation_id, pipeline_state=Observation.PipelineState.PENDING
    ).update(pipeline_state=Observation.PipelineState.PROCESSING, pipeline_claimed_at=now, updated_at=now)
    return claimed == 1


def observation_set_pipeline_state(*, observation: Observation, new_state: str, **fields) -> None:
    allowed = Observation.PIPELINE_TRANSITIONS.get(observation.pipeline_state, set())
    if new_state not in allowed:
        raise ValueError(f"Pipeline cannot go from {observation.pipeline_state} to {new_state}.")
    updated = Observation.objects.filter(pk=observation.pk, pipeline_state=observation.pipeline_state).update(
        pipeline_state=new_state, updated_at=timezone.now(), **fields
    )
    if not updated:
        raise ValueError("Pipeline state changed under us (another worker?).")
    observation.pipeline_state = new_state
    for name, value in fields.items():
        setattr(observation, name, value)


class ImageConflict(Exception):
    pass


class _SameImageStored(Exception):
    pass


def observation_attach_image(*, observation: Observation, frame) -> bool:
    """Store a checked frame for an observation and queue the pipeline; False if this exact file is already there.

    The file is stored first and the row updated after; if the update fails the stored file is removed, so
    nothing is ever half-stored.
    """
    from django.core.files import File
    from django.core.files.storage import default_storage

    if observation.image:
        if observation.image_sha256 == frame.sha256:
            return False
        raise ImageConflict(
            "This observation already has a different image; submit a new observation for a new frame."
        )
    name = observation.image.field.generate_filename(observation, "frame.fits.gz" if frame.gzipped else "frame.fits")
    with open(frame.path, "rb") as handle:
        stored_name = default_storage.save(name, File(handle))
    try:
        with transaction.atomic():
            updated = Observation.objects.filter(pk=observation.pk, image="").update(
                image=stored_name,
                image_sha256=frame.sha256,
                image_size_bytes=frame.size_bytes,
                image_uploaded_at=timezone.now(),
                image_header=frame.header,
                pipeline_state=Observation.PipelineState.PENDING,
                pipeline_error="",
                updated_at=timezone.now(),
            )
            if not updated:
                current = Observation.objects.filter(pk=observation.pk).values_list("image_sha256", flat=True).first()
                if current == frame.sha256:
                    raise _SameImageStored
                raise ImageConflict("Another upload for this observation finished first, with a different frame.")
            transaction.on_commit(lambda: pipeline_enqueue(observation_id=observation.pk))
    except _SameImageStored:
        default_storage.delete(stored_name)  # a concurrent retry stored the same frame first: keep that one
        return False
    except BaseException:
        default_storage.delete(stored_name)
        raise
    observation.refresh_from_db()
    return True


def pipeline_enqueue(*, observation_id) -> None:
    from pipeline.tasks import observation_reduce_task

    try:
        observation_reduce_task.delay(str(observation_id))
    except Exception:  # the broker is down: the periodic sweep picks pending frames up later
        log.exception("Could not queue the pipeline for observation %s; the sweep will retry.", observation_id)
