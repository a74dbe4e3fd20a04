"""Keeping the equipment safe.

When the safety monitor says unsafe, the weather is beyond the configured limits, or the sensors fall silent:
abort the exposure, park the mount, and only then close the dome or roof (a roof moving over an unparked
telescope can hit it). Observing resumes only after it has been safe for ``safety.safe_for_sec``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from obsclient.config import SafetyConfig
from obsclient.drivers.base import Conditions, Driver

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Verdict:
    safe: bool
    reasons: list[str] = field(default_factory=list)
    conditions: Conditions | None = None


class SafetyGuard:
    def __init__(
        self,
        driver: Driver,
        config: SafetyConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        park_timeout_sec: float = 300,
        enclosure_timeout_sec: float = 300,
    ) -> None:
        self.driver = driver
        self.config = config
        self.clock = clock
        self.park_timeout_sec = park_timeout_sec
        self.enclosure_timeout_sec = enclosure_timeout_sec
        self.secured = False
        self.safe_since: float | None = None
        self._last_good_monitor: tuple[float, bool | None] | None = None
        self._last_good_conditions: tuple[float, Conditions | None] | None = None

    def check(self) -> Verdict:
        """Ask every sensor; a sensor that cannot be read for sensor_timeout_sec counts as unsafe."""
        now = self.clock()
        reasons: list[str] = []
        try:
            monitor = self.driver.is_safe()
            self._last_good_monitor = (now, monitor)
        except Exception as exc:
            monitor = self._stale(self._last_good_monitor, now, "safety monitor", exc, reasons)
        try:
            conditions = self.driver.conditions()
            self._last_good_conditions = (now, conditions)
        except Exception as exc:
            conditions = self._stale(self._last_good_conditions, now, "weather sensors", exc, reasons)
        if monitor is False:
            reasons.append("the safety monitor reports unsafe")
        if conditions is not None:
            reasons.extend(self._weather_reasons(conditions))
        if monitor is None and conditions is None and not reasons and not self.config.allow_without_sensors:
            reasons.append(
                "no safety monitor or weather sensor is configured "
                "(set safety.allow_without_sensors: true only if a person watches the sky)"
            )
        verdict = Verdict(safe=not reasons, reasons=reasons, conditions=conditions)
        if verdict.safe:
            if self.safe_since is None:
                self.safe_since = now
        else:
            self.safe_since = None
        return verdict

    def _stale(
        self, last_good: tuple[float, T] | None, now: float, what: str, exc: Exception, reasons: list[str]
    ) -> T | None:
        if last_good is not None and now - last_good[0] <= self.config.sensor_timeout_sec:
            log.warning("%s did not answer (%s); using the reading from %.0f s ago", what, exc, now - last_good[0])
            return last_good[1]
        reasons.append(f"the {what} are silent ({exc})" if what.endswith("s") else f"the {what} is silent ({exc})")
        return None

    def _weather_reasons(self, conditions: Conditions) -> list[str]:
        limits = self.config
        reasons = []
        if conditions.age_sec is not None and conditions.age_sec > limits.sensor_timeout_sec:
            reasons.append(f"the weather readings are {conditions.age_sec:.0f} s old")
        if conditions.rain:
            reasons.append("rain")
        if conditions.cloud_cover_pct is not None and conditions.cloud_cover_pct > limits.max_cloud_cover_pct:
            reasons.append(f"cloud cover {conditions.cloud_cover_pct:.0f}% > {limits.max_cloud_cover_pct:.0f}%")
        if conditions.humidity_pct is not None and conditions.humidity_pct > limits.max_humidity_pct:
            reasons.append(f"humidity {conditions.humidity_pct:.0f}% > {limits.max_humidity_pct:.0f}%")
        if conditions.wind_mps is not None and conditions.wind_mps > limits.max_wind_mps:
            reasons.append(f"wind {conditions.wind_mps:.1f} m/s > {limits.max_wind_mps:.1f} m/s")
        return reasons

    def may_open(self, verdict: Verdict) -> bool:
        """Safe now, and, after a shutdown, safe without interruption for safe_for_sec."""
        if not verdict.safe:
            return False
        if not self.secured:
            return True
        assert self.safe_since is not None
        if self.clock() - self.safe_since >= self.config.safe_for_sec:
            self.secured = False
            return True
        return False

    def secure(self, reasons: list[str]) -> list[str]:
        """Abort, park, then close; returns what was done. A failed park leaves the roof where it is."""
        log.warning("unsafe (%s): securing the observatory", "; ".join(reasons) or "unknown reason")
        self.secured = True
        done: list[str] = []
        try:
            self.driver.abort_exposure()
            done.append("exposure aborted")
        except Exception as exc:
            log.error("could not abort the exposure: %s", exc)
        try:
            self.driver.park(timeout_sec=self.park_timeout_sec)
            parked = self.driver.is_parked()
        except Exception as exc:
            log.critical("could not park the mount: %s; the roof is NOT moved so it cannot hit the telescope", exc)
            done.append(f"park FAILED: {exc}")
            return done
        if not parked:
            log.critical("the mount does not report parked; the roof is NOT moved so it cannot hit the telescope")
            done.append("park FAILED: mount not at park")
            return done
        done.append("mount parked")
        if self.driver.has_enclosure():
            try:
                self.driver.close_enclosure(timeout_sec=self.enclosure_timeout_sec)
                done.append("enclosure closed")
            except Exception as exc:
                log.critical("could not close the dome/roof: %s", exc)
                done.append(f"close FAILED: {exc}")
        return done
