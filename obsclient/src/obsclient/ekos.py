"""The EKOS bridge: for observatories that run KStars/EKOS and want to keep it.

`obsclient plan --ekos DIR` writes the night's plan as an EKOS Scheduler list (``network-plan.esl``) with one
capture sequence (``.esq``) per target, and ``obsclient-plan.json`` that remembers which network target each EKOS
job is. `obsclient watch DIR` then uploads the light frames EKOS saves under DIR, through the same outbox as the
observing loop, each exactly once (the observation id is derived from the file, so a rescan changes nothing).
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from astropy.io import fits

from obsclient.api import iso_utc, parse_time
from obsclient.config import Config
from obsclient.frames import header_metadata
from obsclient.outbox import Outbox

log = logging.getLogger(__name__)

PLAN_FILE = "obsclient-plan.json"
SCHEDULE_FILE = "network-plan.esl"
FRAME_SUFFIXES = (".fits", ".fit", ".fts")
# A file whose size has not changed for this long is complete (EKOS writes frames in one go, but a network share
# may deliver them slowly).
SETTLED_SEC = 5.0
# Deterministic observation ids for watched files: the same file always gives the same id.
WATCH_NAMESPACE = uuid.UUID("5b0c8a52-7f7e-4c53-9a8e-2f0b6f1e9d41")
OVERHEAD_SEC = 10.0


@dataclass
class PlannedTarget:
    target: dict[str, Any]
    start: datetime
    end: datetime


def plan_windows(answers: list[tuple[datetime, list[dict[str, Any]]]], step: timedelta) -> list[PlannedTarget]:
    """From the server's answers at successive times, each target's first and last appearance (a window)."""
    windows: dict[str, PlannedTarget] = {}
    for moment, targets in answers:
        for target in targets:
            key = str(target["target_id"])
            if key in windows:
                windows[key].end = moment + step
            else:
                windows[key] = PlannedTarget(target=target, start=moment, end=moment + step)
    return sorted(windows.values(), key=lambda w: w.start)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60] or "target"


def write_ekos_plan(config: Config, folder: Path, windows: list[PlannedTarget]) -> Path:
    """Write the .esl, one .esq per target and the mapping file; returns the .esl path."""
    folder.mkdir(parents=True, exist_ok=True)
    mapping: dict[str, Any] = {
        "site_id": config.site.site_id,
        "written_at": iso_utc(datetime.now().astimezone()),
        "targets": {},
    }
    jobs = []
    for window in windows:
        target = window.target
        name = str(target.get("name") or target["target_id"])
        slug = _slug(name)
        exposure_sec = float(target.get("exposure_sec") or config.observing.default_exposure_sec)
        window_sec = (window.end - window.start).total_seconds()
        count = max(1, math.floor(window_sec / (exposure_sec + OVERHEAD_SEC)))
        filter_name = target.get("filter") or config.observing.default_filter
        sequence = folder / f"{slug}.esq"
        sequence.write_text(_esq(name, exposure_sec, filter_name, count, folder), encoding="utf-8")
        mapping["targets"][name] = {
            "target_id": str(target["target_id"]),
            "name": name,
            "filter": filter_name,
            "exposure_sec": exposure_sec,
            "start": iso_utc(window.start),
            "end": iso_utc(window.end),
        }
        jobs.append(
            _esl_job(
                name, float(target["ra_deg"]), float(target["dec_deg"]), sequence, window, config.site.min_altitude_deg
            )
        )
    schedule = folder / SCHEDULE_FILE
    schedule.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<SchedulerList version=\'1.4\'>\n<Profile>Default</Profile>\n'
        + "".join(jobs)
        + "<ErrorHandlingStrategy value='1'>\n<delay>0</delay>\n</ErrorHandlingStrategy>\n"
        "<StartupProcedure>\n<Procedure>UnparkMount</Procedure>\n</StartupProcedure>\n"
        "<ShutdownProcedure>\n<Procedure>ParkMount</Procedure>\n</ShutdownProcedure>\n</SchedulerList>\n",
        encoding="utf-8",
    )
    (folder / PLAN_FILE).write_text(json.dumps(mapping, indent=2), encoding="utf-8")
    return schedule


def _local(moment: datetime) -> str:
    # EKOS reads "At" times as the observatory computer's local time, without an offset.
    return moment.astimezone().replace(tzinfo=None).isoformat(timespec="seconds")


def _esl_job(
    name: str, ra_deg: float, dec_deg: float, sequence: Path, window: PlannedTarget, min_altitude_deg: float
) -> str:
    return (
        "<Job>\n"
        f"<Name>{escape(name)}</Name>\n<Priority>10</Priority>\n"
        f"<Coordinates>\n<J2000RA>{ra_deg / 15:.6f}</J2000RA>\n<J2000DE>{dec_deg:.6f}</J2000DE>\n</Coordinates>\n"
        "<Rotation>0</Rotation>\n"
        f"<Sequence>{escape(str(sequence))}</Sequence>\n"
        f"<StartupCondition>\n<Condition value='{_local(window.start)}'>At</Condition>\n</StartupCondition>\n"
        f"<Constraints>\n<Constraint value='{min_altitude_deg:g}'>MinimumAltitude</Constraint>\n"
        "<Constraint>EnforceTwilight</Constraint>\n<Constraint>EnforceWeather</Constraint>\n</Constraints>\n"
        f"<CompletionCondition>\n<Condition value='{_local(window.end)}'>At</Condition>\n</CompletionCondition>\n"
        "<Steps>\n<Step>Track</Step>\n</Steps>\n"
        "</Job>\n"
    )


def _esq(name: str, exposure_sec: float, filter_name: str | None, count: int, folder: Path) -> str:
    filter_xml = f"<Filter>{escape(filter_name)}</Filter>\n" if filter_name else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<SequenceQueue version=\'2.1\'>\n'
        "<GuideDeviation enabled='false'>2</GuideDeviation>\n"
        "<Autofocus enabled='false'>0</Autofocus>\n"
        "<RefocusEveryN enabled='false'>60</RefocusEveryN>\n"
        "<Job>\n"
        f"<Exposure>{exposure_sec:g}</Exposure>\n"
        "<Binning>\n<X>1</X>\n<Y>1</Y>\n</Binning>\n"
        f"{filter_xml}"
        "<Type>Light</Type>\n"
        f"<TargetName>{escape(name)}</TargetName>\n"
        f"<Prefix>\n<RawPrefix>{escape(_slug(name))}</RawPrefix>\n<FilterEnabled>1</FilterEnabled>\n"
        "<ExpEnabled>1</ExpEnabled>\n<TimeStampEnabled>1</TimeStampEnabled>\n</Prefix>\n"
        f"<Count>{count}</Count>\n<Delay>0</Delay>\n"
        f"<FITSDirectory>{escape(str(folder))}</FITSDirectory>\n"
        "<UploadMode>0</UploadMode>\n"
        "</Job>\n</SequenceQueue>\n"
    )


def watch_scan(config: Config, folder: Path, outbox: Outbox, *, now: float | None = None) -> list[str]:
    """Queue every finished light frame under `folder` that belongs to a planned target; returns the new ids."""
    try:
        mapping = json.loads((folder / PLAN_FILE).read_text(encoding="utf-8"))["targets"]
    except (OSError, ValueError, KeyError):
        log.warning("no %s in %s: run `obsclient plan --ekos %s` first", PLAN_FILE, folder, folder)
        return []
    by_name = {name.lower(): entry for name, entry in mapping.items()}
    now = time.time() if now is None else now
    queued: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in FRAME_SUFFIXES and p.is_file()):
        if now - path.stat().st_mtime < SETTLED_SEC:
            continue  # EKOS may still be writing it
        observation_id = str(uuid.uuid5(WATCH_NAMESPACE, f"{config.site.site_id}:{path.resolve()}"))
        if outbox.get(observation_id) is not None:
            continue
        body = _observation_from_frame(path, observation_id, by_name)
        if body is None:
            continue
        outbox.add(body, path)
        queued.append(observation_id)
        log.info("queued %s (%s) from EKOS", path.name, body["raw_metadata"].get("OBJECT"))
    return queued


def _observation_from_frame(path: Path, observation_id: str, by_name: dict[str, Any]) -> dict[str, Any] | None:
    try:
        header = fits.getheader(path)
    except (OSError, ValueError) as exc:
        log.warning("skipping %s: not a readable FITS file (%s)", path, exc)
        return None
    frame_type = str(header.get("IMAGETYP", "Light")).lower()
    if "light" not in frame_type:
        return None
    entry = by_name.get(str(header.get("OBJECT", "")).strip().lower())
    if entry is None:
        log.info("skipping %s: OBJECT %r is not in the network plan", path.name, header.get("OBJECT"))
        return None
    try:
        start = parse_time(str(header["DATE-OBS"]).rstrip("Z") + "+00:00")
        exposure_sec = float(header.get("EXPTIME", header.get("EXPOSURE")))
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("skipping %s: no usable DATE-OBS/EXPTIME (%s)", path.name, exc)
        return None
    return {
        "observation_id": observation_id,
        "target_id": entry["target_id"],
        "observed_at": iso_utc(start + timedelta(seconds=exposure_sec / 2)),
        "exposure_sec": exposure_sec,
        "filter": str(header.get("FILTER") or entry.get("filter") or "") or None,
        "quality_flags": [],
        "raw_metadata": header_metadata(header),
    }
