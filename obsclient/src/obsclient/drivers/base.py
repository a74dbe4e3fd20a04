"""One interface for every kind of hardware: the loop and the safety logic speak only this."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class DriverError(RuntimeError):
    """A device did not do what it was asked (or could not be reached)."""


@dataclass
class Frame:
    """A read-out image and what the camera knows about it (FITS cards: name → (value, comment))."""

    data: np.ndarray
    cards: dict[str, tuple[Any, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Conditions:
    """Weather as the site's sensors report it; None where a sensor is absent."""

    cloud_cover_pct: float | None = None
    rain: bool | None = None
    humidity_pct: float | None = None
    wind_mps: float | None = None
    sky_quality_mpsas: float | None = None
    seeing_arcsec: float | None = None
    age_sec: float | None = None  # how old the newest reading is; None if the sensor cannot tell

    def as_heartbeat(self) -> dict[str, Any]:
        values = {
            "cloud_cover_pct": self.cloud_cover_pct,
            "rain": self.rain,
            "humidity_pct": self.humidity_pct,
            "wind_mps": self.wind_mps,
            "sky_quality_mpsas": self.sky_quality_mpsas,
            "seeing_arcsec": self.seeing_arcsec,
        }
        return {k: v for k, v in values.items() if v is not None}


class Driver(ABC):
    """The devices of one telescope. Blocking calls raise DriverError on failure or timeout."""

    kind = "base"

    def __init__(self) -> None:
        # What the driver did, in order: the safety sequence is checked against this.
        self.events: list[tuple[float, str]] = []

    def _event(self, what: str) -> None:
        self.events.append((time.monotonic(), what))

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def disconnect(self) -> None: ...

    @abstractmethod
    def describe(self) -> dict[str, str]:
        """Each device and a short answer from it ('ok: <name>' or 'error: <why>'), asking each one."""

    # Mount
    @abstractmethod
    def slew(self, ra_deg: float, dec_deg: float, *, timeout_sec: float) -> None: ...

    @abstractmethod
    def pointing(self) -> tuple[float, float] | None:
        """The mount's RA/Dec (degrees, J2000) now, if known."""

    @abstractmethod
    def park(self, *, timeout_sec: float) -> None: ...

    @abstractmethod
    def is_parked(self) -> bool: ...

    def unpark(self) -> None:  # noqa: B027 - mounts without a park state need nothing
        pass

    # Filters
    def filter_names(self) -> list[str]:
        return []

    def set_filter(self, name: str, *, timeout_sec: float = 60) -> None:
        if name not in self.filter_names():
            raise DriverError(f"no filter named {name!r} in the wheel ({', '.join(self.filter_names()) or 'none'})")

    # Camera
    @abstractmethod
    def start_exposure(self, exposure_sec: float, *, light: bool = True) -> None: ...

    @abstractmethod
    def image_ready(self) -> bool: ...

    @abstractmethod
    def abort_exposure(self) -> None: ...

    @abstractmethod
    def read_frame(self) -> Frame: ...

    # Enclosure (dome or roll-off roof)
    def has_enclosure(self) -> bool:
        return False

    def open_enclosure(self, *, timeout_sec: float) -> None:  # noqa: B027
        pass

    def close_enclosure(self, *, timeout_sec: float) -> None:  # noqa: B027
        pass

    def enclosure_closed(self) -> bool | None:
        return None

    # Sensors
    def is_safe(self) -> bool | None:
        """The safety monitor's verdict; None when there is no safety monitor."""
        return None

    def conditions(self) -> Conditions | None:
        """The weather sensors' readings; None when there are none."""
        return None

    def has_sensors(self) -> bool:
        return False

    def prepare_target(self, target: dict[str, Any]) -> None:  # noqa: B027
        """Told what is about to be observed (only the simulator needs it, to render the target)."""
