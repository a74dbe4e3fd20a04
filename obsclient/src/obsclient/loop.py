"""The observing loop: heartbeat → targets → pick → observe → outbox → upload."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from obsclient import __version__
from obsclient.api import ApiError, ServerClient, iso_utc, parse_time
from obsclient.config import Config
from obsclient.drivers.base import Driver, DriverError
from obsclient.frames import Exposure, build_header, header_metadata, write_fits
from obsclient.outbox import Outbox
from obsclient.safety import SafetyGuard, Verdict
from obsclient.sky import altitude_limit_deg, position, sun_altitude_deg

log = logging.getLogger(__name__)

CLOCK_WARNING_SEC = 2.0
# Time between the decision to observe and the shutter opening (slew, settle, filter), counted when checking
# that a target stays observable for the whole exposure.
OVERHEAD_SEC = 120.0


class UnsafeDuringExposure(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__("; ".join(verdict.reasons))
        self.verdict = verdict


@dataclass
class CycleResult:
    state: str
    observation_id: str | None = None
    target_name: str | None = None
    frame_path: Path | None = None
    next_poll_sec: float = 60.0
    notes: list[str] = field(default_factory=list)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Agent:
    def __init__(
        self,
        config: Config,
        driver: Driver,
        client: ServerClient,
        outbox: Outbox,
        *,
        now: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.driver = driver
        self.client = client
        self.outbox = outbox
        self.now = now
        self.sleep = sleep
        self.safety = SafetyGuard(
            driver,
            config.safety,
            park_timeout_sec=config.observing.slew_timeout_sec,
            enclosure_timeout_sec=config.observing.slew_timeout_sec,
        )
        self.state_path = config.data_dir / "state.json"
        self.targets_path = config.data_dir / "targets.json"
        self.next_poll_sec = 60.0
        self.clock_offset_sec: float | None = None

    @property
    def site_id(self) -> str:
        if not self.config.site.site_id:
            raise ApiError("site.site_id is not set; run `obsclient register` first.")
        return self.config.site.site_id

    # One cycle ---------------------------------------------------------------------------------------------

    def cycle(self) -> CycleResult:
        verdict = self.safety.check()
        result = self._stay_closed(verdict) if not self.safety.may_open(verdict) else self._observe_cycle(verdict)
        report = self.outbox.flush(self.client, compress=self.config.upload.gzip)
        if report.observations_sent or report.images_sent:
            result.notes.append(f"uploaded {report.observations_sent} observation(s), {report.images_sent} image(s)")
        self._save_state(result)
        return result

    def _stay_closed(self, verdict: Verdict) -> CycleResult:
        result = CycleResult(state="closed")
        if not verdict.safe and not self.safety.secured:
            result.notes.extend(self.safety.secure(verdict.reasons))
        elif verdict.safe:
            result.notes.append(
                f"safe again; waiting until it has been safe for {self.config.safety.safe_for_sec:.0f} s"
            )
        else:
            result.notes.append("unsafe: " + "; ".join(verdict.reasons))
        self._heartbeat("closed", verdict)
        result.next_poll_sec = self._poll_sec()
        return result

    def _observe_cycle(self, verdict: Verdict) -> CycleResult:
        self._heartbeat("observing", verdict)
        targets = self._targets()
        chosen = self.pick(targets)
        if chosen is None:
            self._heartbeat("idle", verdict)
            return CycleResult(state="idle", next_poll_sec=self._poll_sec(), notes=["nothing observable now"])
        target, exposure_sec, filter_name = chosen
        try:
            exposure, frame_path = self.observe(target, exposure_sec, filter_name)
        except UnsafeDuringExposure as unsafe:
            notes = self.safety.secure(unsafe.verdict.reasons)
            self._heartbeat("closed", unsafe.verdict)
            return CycleResult(
                state="closed", target_name=target.get("name"), notes=notes, next_poll_sec=self._poll_sec()
            )
        except DriverError as exc:
            log.error("observing %s failed: %s", target.get("name"), exc)
            self._heartbeat("error", verdict)
            return CycleResult(
                state="error", target_name=target.get("name"), notes=[str(exc)], next_poll_sec=self._poll_sec()
            )
        self.outbox.add(self.observation_body(exposure, frame_path, verdict), frame_path)
        # Straight on to the next target: the poll interval applies only while idle.
        return CycleResult(
            state="observing",
            observation_id=exposure.observation_id,
            target_name=exposure.object_name,
            frame_path=frame_path,
            next_poll_sec=0.0,
        )

    def _poll_sec(self) -> float:
        return min(max(self.next_poll_sec, self.config.observing.min_poll_sec), self.config.observing.max_poll_sec)

    # Server ------------------------------------------------------------------------------------------------

    def _heartbeat(self, state: str, verdict: Verdict) -> None:
        body: dict[str, Any] = {"state": state, "safe": verdict.safe, "client_version": __version__}
        if verdict.conditions is not None:
            body["weather"] = verdict.conditions.as_heartbeat()
        try:
            sent_at = self.now()
            answer = self.client.heartbeat(self.site_id, body)
        except ApiError as exc:
            log.warning("heartbeat failed: %s", exc)
            return
        if isinstance(answer.get("next_poll_s"), int | float) and answer["next_poll_s"] > 0:
            self.next_poll_sec = float(answer["next_poll_s"])
        if answer.get("server_time"):
            self._check_clock(sent_at, parse_time(answer["server_time"]))

    def _check_clock(self, sent_at: datetime, server_time: datetime) -> None:
        # The server stamped its time somewhere between our send and receive: compare with the midpoint.
        received_at = self.now()
        local = sent_at + (received_at - sent_at) / 2
        self.clock_offset_sec = (local - server_time).total_seconds()
        uncertainty = (received_at - sent_at).total_seconds() / 2
        if abs(self.clock_offset_sec) > CLOCK_WARNING_SEC + uncertainty:
            log.warning(
                "the system clock is %.1f s %s the server's; timing (occultations!) needs NTP/GPS time",
                abs(self.clock_offset_sec),
                "ahead of" if self.clock_offset_sec > 0 else "behind",
            )

    def _targets(self) -> list[dict[str, Any]]:
        """The server's list, or while it is unreachable the last list (each target until its window ends)."""
        try:
            answer = self.client.targets(site_id=self.site_id, count=self.config.observing.target_count)
        except ApiError as exc:
            log.warning("cannot fetch targets (%s); using the last list", exc)
            return self._cached_targets()
        targets = list(answer.get("targets") or [])
        self.targets_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.targets_path.with_suffix(".part")
        temporary.write_text(json.dumps({"fetched_at": iso_utc(self.now()), "targets": targets}), encoding="utf-8")
        temporary.replace(self.targets_path)
        return targets

    def _cached_targets(self) -> list[dict[str, Any]]:
        try:
            cached = json.loads(self.targets_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        now = self.now()
        alive = []
        for target in cached.get("targets", []):
            until = target.get("observable_until")
            if until and parse_time(until) > now:
                alive.append(target)
        return alive

    # Choosing and observing --------------------------------------------------------------------------------

    def pick(self, targets: list[dict[str, Any]]) -> tuple[dict[str, Any], float, str | None] | None:
        """The first target, in the server's order, that this site can really do now."""
        site = self.config.site
        now = self.now()
        if sun_altitude_deg(site, now) > self.config.observing.max_sun_altitude_deg:
            log.info("the Sun is up; not observing")
            return None
        for target in targets:
            exposure_sec = min(
                float(target.get("exposure_sec") or self.config.observing.default_exposure_sec),
                self.config.observing.max_exposure_sec,
            )
            end = now + timedelta(seconds=OVERHEAD_SEC + exposure_sec)
            until = target.get("observable_until")
            if until and parse_time(until) < end:
                log.info("skip %s: observable only until %s", target.get("name"), until)
                continue
            ok = True
            for moment in (now, end):
                where = position(site, float(target["ra_deg"]), float(target["dec_deg"]), moment)
                if where.altitude_deg < altitude_limit_deg(site, where.azimuth_deg):
                    log.info(
                        "skip %s: altitude %.1f° below the limit at %s",
                        target.get("name"),
                        where.altitude_deg,
                        iso_utc(moment),
                    )
                    ok = False
                    break
            if not ok:
                continue
            usable, filter_name = self._filter_for(target)
            if not usable:
                log.info("skip %s: filter %s is not in the wheel", target.get("name"), target.get("filter"))
                continue
            return target, exposure_sec, filter_name
        return None

    def _filter_for(self, target: dict[str, Any]) -> tuple[bool, str | None]:
        """(whether this site can use the target's filter, the wheel's name for it)."""
        wheel = self.driver.filter_names()
        wanted = target.get("filter") or self.config.observing.default_filter
        if not wheel:
            # No wheel: whatever filter is fixed in the light path.
            return True, wanted or (self.config.site.filters[0] if self.config.site.filters else None)
        if wanted is None:
            return True, wheel[0]
        for name in wheel:
            if name.lower() == str(wanted).lower():
                return True, name
        return False, None

    def observe(self, target: dict[str, Any], exposure_sec: float, filter_name: str | None) -> tuple[Exposure, Path]:
        cfg = self.config.observing
        ra_deg, dec_deg = float(target["ra_deg"]), float(target["dec_deg"])
        self.driver.prepare_target(target)
        if self.driver.has_enclosure() and self.driver.enclosure_closed():
            self.driver.open_enclosure(timeout_sec=cfg.slew_timeout_sec)
        self.driver.slew(ra_deg, dec_deg, timeout_sec=cfg.slew_timeout_sec)
        if filter_name and self.driver.filter_names():
            self.driver.set_filter(filter_name, timeout_sec=cfg.slew_timeout_sec)
        self.sleep(cfg.settle_sec)
        self._raise_if_unsafe()
        observation_id = str(uuid.uuid4())
        start = self.now()
        self.driver.start_exposure(exposure_sec)
        deadline = time.monotonic() + exposure_sec + cfg.readout_timeout_sec
        while not self.driver.image_ready():
            self._raise_if_unsafe()
            if time.monotonic() > deadline:
                self.driver.abort_exposure()
                raise DriverError(f"the camera gave no image within {exposure_sec + cfg.readout_timeout_sec:.0f} s")
            self.sleep(min(1.0, max(0.05, exposure_sec / 20)))
        frame = self.driver.read_frame()
        mid = start + timedelta(seconds=exposure_sec / 2)
        where = position(self.config.site, ra_deg, dec_deg, mid)
        exposure = Exposure(
            observation_id=observation_id,
            target_id=str(target["target_id"]),
            object_name=str(target.get("name") or target["target_id"]),
            ra_deg=ra_deg,
            dec_deg=dec_deg,
            start_utc=start,
            exposure_sec=exposure_sec,
            filter_name=filter_name,
            airmass=where.airmass,
            altitude_deg=where.altitude_deg,
            site_id=self.config.site.site_id,
        )
        header = build_header(exposure, self.config.site, frame.cards)
        path = (
            self.config.data_dir
            / "frames"
            / start.strftime("%Y%m%d")
            / (f"{start.strftime('%Y%m%dT%H%M%S')}_{_slug(exposure.object_name)}_{observation_id[:8]}.fits")
        )
        write_fits(path, frame.data, header)
        log.info("observed %s (%.0f s, %s) → %s", exposure.object_name, exposure_sec, filter_name, path)
        return exposure, path

    def _raise_if_unsafe(self) -> None:
        verdict = self.safety.check()
        if not verdict.safe:
            raise UnsafeDuringExposure(verdict)

    def observation_body(self, exposure: Exposure, frame_path: Path, verdict: Verdict) -> dict[str, Any]:
        from astropy.io import fits

        body: dict[str, Any] = {
            "observation_id": exposure.observation_id,
            "target_id": exposure.target_id,
            "observed_at": iso_utc(exposure.start_utc + timedelta(seconds=exposure.exposure_sec / 2)),
            "exposure_sec": exposure.exposure_sec,
            "filter": exposure.filter_name,
            "quality_flags": [],
            "raw_metadata": header_metadata(fits.getheader(frame_path)),
        }
        if exposure.airmass is not None:
            body["airmass"] = round(exposure.airmass, 4)
        if verdict.conditions is not None and verdict.conditions.seeing_arcsec is not None:
            body["seeing_arcsec"] = verdict.conditions.seeing_arcsec
        return body

    # Persistence for `obsclient status` ---------------------------------------------------------------------

    def _save_state(self, result: CycleResult) -> None:
        state = {
            "last_cycle_at": iso_utc(self.now()),
            "state": result.state,
            "last_target": result.target_name,
            "last_observation_id": result.observation_id,
            "notes": result.notes,
            "clock_offset_sec": self.clock_offset_sec,
            "secured": self.safety.secured,
        }
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_suffix(".part")
        temporary.write_text(json.dumps(state, indent=2), encoding="utf-8")
        temporary.replace(self.state_path)

    def run(self, *, once: bool = False) -> CycleResult:
        """Cycle until interrupted (or once). Driver failures are logged and retried, never fatal."""
        while True:
            try:
                result = self.cycle()
            except Exception:
                if once:
                    raise
                log.exception("the cycle failed; trying again in %.0f s", self._poll_sec())
                self.sleep(self._poll_sec())
                continue
            log.info("cycle: %s %s %s", result.state, result.target_name or "", "; ".join(result.notes))
            if once:
                return result
            self.sleep(result.next_poll_sec)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "target"
