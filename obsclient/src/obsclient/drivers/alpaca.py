"""ASCOM Alpaca devices through alpyca, at a configured address (never broadcast discovery)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import numpy as np

from obsclient.config import AlpacaConfig, SiteConfig
from obsclient.drivers.base import Conditions, Driver, DriverError, Frame

T = TypeVar("T")
POLL_SEC = 0.25
TOPOCENTRIC = 1  # EquatorialCoordinateType.equTopocentric: the mount wants coordinates of date ("JNow")
SHUTTER_OPEN, SHUTTER_CLOSED = 0, 1


class AlpacaDriver(Driver):
    kind = "alpaca"

    def __init__(self, config: AlpacaConfig, *, site: SiteConfig) -> None:
        super().__init__()
        from alpaca.camera import Camera
        from alpaca.dome import Dome
        from alpaca.filterwheel import FilterWheel
        from alpaca.focuser import Focuser
        from alpaca.observingconditions import ObservingConditions
        from alpaca.safetymonitor import SafetyMonitor
        from alpaca.telescope import Telescope

        self.config = config
        self.site = site
        classes: dict[str, Callable[[str, int], Any]] = {
            "telescope": Telescope,
            "camera": Camera,
            "filterwheel": FilterWheel,
            "focuser": Focuser,
            "dome": Dome,
            "safetymonitor": SafetyMonitor,
            "observingconditions": ObservingConditions,
        }
        self.devices: dict[str, Any] = {
            name: classes[name](config.address, number) for name, number in config.devices.items() if number is not None
        }
        self._filters: list[str] | None = None

    def _device(self, name: str) -> Any:
        device = self.devices.get(name)
        if device is None:
            raise DriverError(f"no Alpaca {name} is configured (driver.alpaca.{name})")
        return device

    def _call(self, what: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except DriverError:
            raise
        except Exception as exc:  # alpyca raises requests errors and its own ASCOM exception classes
            raise DriverError(f"{what} failed at {self.config.address}: {exc.__class__.__name__}: {exc}") from exc

    def _wait(self, what: str, done: Callable[[], bool], timeout_sec: float) -> None:
        deadline = time.monotonic() + timeout_sec
        while not self._call(what, done):
            if time.monotonic() > deadline:
                raise DriverError(f"{what} did not finish within {timeout_sec:.0f} s")
            time.sleep(POLL_SEC)

    def connect(self) -> None:
        for name, device in self.devices.items():
            self._call(f"connecting the {name}", partial(setattr, device, "Connected", True))
        self._event("connect")

    def disconnect(self) -> None:
        for device in self.devices.values():
            try:
                device.Connected = False
            except Exception:
                continue

    def describe(self) -> dict[str, str]:
        answers = {}
        for name, device in self.devices.items():
            try:
                answers[name] = f"ok: {device.Name}" + self._detail(name, device)
            except Exception as exc:
                answers[name] = f"error: {exc.__class__.__name__}: {exc}"
        return answers

    def _detail(self, name: str, device: Any) -> str:
        if name == "telescope":
            return f", {'parked' if device.AtPark else 'unparked'}"
        if name == "camera":
            return f", {device.CameraXSize}x{device.CameraYSize}"
        if name == "filterwheel":
            return f", filters {', '.join(device.Names)}"
        if name == "safetymonitor":
            return f", {'safe' if device.IsSafe else 'UNSAFE'}"
        if name == "dome":
            return f", shutter {device.ShutterStatus.name if hasattr(device.ShutterStatus, 'name') else ''}"
        return ""

    # Mount

    def _mount_coordinates(self, ra_deg: float, dec_deg: float) -> tuple[float, float]:
        """ICRS → what the mount expects: apparent coordinates of date for a 'topocentric' mount."""
        telescope = self._device("telescope")
        if int(self._call("reading the mount's coordinate system", lambda: telescope.EquatorialSystem)) != TOPOCENTRIC:
            return ra_deg, dec_deg
        from astropy import units as u
        from astropy.coordinates import TETE, SkyCoord
        from astropy.time import Time

        apparent = SkyCoord(ra=ra_deg * u.deg, dec=dec_deg * u.deg).transform_to(TETE(obstime=Time(datetime.now(UTC))))
        return float(apparent.ra.deg), float(apparent.dec.deg)

    def slew(self, ra_deg: float, dec_deg: float, *, timeout_sec: float) -> None:
        telescope = self._device("telescope")
        self.unpark()
        if self._call("reading CanSetTracking", lambda: telescope.CanSetTracking):
            self._call("starting tracking", lambda: setattr(telescope, "Tracking", True))
        ra, dec = self._mount_coordinates(ra_deg, dec_deg)
        self._event("slew")
        self._call("starting the slew", lambda: telescope.SlewToCoordinatesAsync(ra / 15.0, dec))
        self._wait("the slew", lambda: not telescope.Slewing, timeout_sec)

    def pointing(self) -> tuple[float, float] | None:
        telescope = self._device("telescope")
        return self._call("reading the pointing", lambda: (telescope.RightAscension * 15.0, telescope.Declination))

    def park(self, *, timeout_sec: float) -> None:
        telescope = self._device("telescope")
        self._event("park")
        if not self._call("reading AtPark", lambda: telescope.AtPark):
            self._call("starting to park", telescope.Park)
            self._wait("parking", lambda: telescope.AtPark and not telescope.Slewing, timeout_sec)
        self._event("parked")

    def unpark(self) -> None:
        telescope = self._device("telescope")
        if self._call("reading AtPark", lambda: telescope.AtPark):
            self._call("unparking", telescope.Unpark)

    def is_parked(self) -> bool:
        telescope = self._device("telescope")
        return bool(self._call("reading AtPark", lambda: telescope.AtPark))

    # Filters

    def filter_names(self) -> list[str]:
        wheel = self.devices.get("filterwheel")
        if wheel is None:
            return []
        if self._filters is None:
            self._filters = list(self._call("reading the filter names", lambda: wheel.Names))
        return self._filters

    def set_filter(self, name: str, *, timeout_sec: float = 60) -> None:
        super().set_filter(name)
        wheel = self._device("filterwheel")
        position = self.filter_names().index(name)
        self._call("moving the filter wheel", lambda: setattr(wheel, "Position", position))
        # Position reads -1 while the wheel turns.
        self._wait("the filter change", lambda: wheel.Position == position, timeout_sec)

    # Camera

    def start_exposure(self, exposure_sec: float, *, light: bool = True) -> None:
        camera = self._device("camera")
        self._event("expose")
        self._call("starting the exposure", lambda: camera.StartExposure(exposure_sec, light))

    def image_ready(self) -> bool:
        camera = self._device("camera")
        return bool(self._call("reading ImageReady", lambda: camera.ImageReady))

    def abort_exposure(self) -> None:
        camera = self.devices.get("camera")
        if camera is None:
            return
        self._event("abort")
        if self._call("reading CanAbortExposure", lambda: camera.CanAbortExposure):
            self._call("aborting the exposure", camera.AbortExposure)

    def read_frame(self) -> Frame:
        camera = self._device("camera")
        # ASCOM image arrays are indexed [x][y]; FITS and numpy want [y][x].
        data = np.asarray(self._call("downloading the image", lambda: camera.ImageArray)).T
        if data.ndim != 2:
            raise DriverError(f"the camera returned a {data.ndim}-dimensional image; only monochrome is supported")
        if data.min() >= 0 and data.max() <= 65535:
            data = data.astype(np.uint16)
        self._event("readout")
        return Frame(data=data, cards=self._camera_cards(camera))

    def _camera_cards(self, camera: Any) -> dict[str, tuple[Any, str]]:
        cards: dict[str, tuple[Any, str]] = {}
        reads: list[tuple[str, Callable[[], Any], str]] = [
            ("INSTRUME", lambda: camera.Name, "camera"),
            ("XBINNING", lambda: camera.BinX, "binning factor, x"),
            ("YBINNING", lambda: camera.BinY, "binning factor, y"),
            ("XPIXSZ", lambda: camera.PixelSizeX * camera.BinX, "[um] binned pixel size, x"),
            ("YPIXSZ", lambda: camera.PixelSizeY * camera.BinY, "[um] binned pixel size, y"),
            ("GAIN", lambda: camera.Gain, "camera gain setting"),
            ("EGAIN", lambda: camera.ElectronsPerADU, "[e-/ADU] electrons per ADU"),
            ("CCD-TEMP", lambda: camera.CCDTemperature, "[degC] sensor temperature"),
            ("SET-TEMP", lambda: camera.SetCCDTemperature, "[degC] sensor set point"),
        ]
        for key, read, comment in reads:
            try:
                cards[key] = (read(), comment)
            except Exception:
                continue
        return cards

    # Enclosure

    def has_enclosure(self) -> bool:
        return "dome" in self.devices

    def open_enclosure(self, *, timeout_sec: float) -> None:
        dome = self._device("dome")
        self._event("open")
        self._call("opening the shutter", dome.OpenShutter)
        self._wait("opening the shutter", lambda: int(dome.ShutterStatus) == SHUTTER_OPEN, timeout_sec)

    def close_enclosure(self, *, timeout_sec: float) -> None:
        dome = self._device("dome")
        self._event("close")
        self._call("closing the shutter", dome.CloseShutter)
        self._wait("closing the shutter", lambda: int(dome.ShutterStatus) == SHUTTER_CLOSED, timeout_sec)
        self._event("closed")

    def enclosure_closed(self) -> bool | None:
        dome = self.devices.get("dome")
        if dome is None:
            return None
        return int(self._call("reading the shutter", lambda: dome.ShutterStatus)) != SHUTTER_OPEN

    # Sensors

    def has_sensors(self) -> bool:
        return "safetymonitor" in self.devices or "observingconditions" in self.devices

    def is_safe(self) -> bool | None:
        monitor = self.devices.get("safetymonitor")
        if monitor is None:
            return None
        return bool(self._call("reading the safety monitor", lambda: monitor.IsSafe))

    def conditions(self) -> Conditions | None:
        sensors = self.devices.get("observingconditions")
        if sensors is None:
            return None

        def optional(read: Callable[[], Any]) -> Any:
            # A station without a particular sensor answers NotImplemented for it; that is not silence.
            try:
                return read()
            except Exception as exc:
                if exc.__class__.__name__ in ("NotImplementedException", "PropertyNotImplementedException"):
                    return None
                raise

        def read_all() -> Conditions:
            rain_rate = optional(lambda: sensors.RainRate)
            return Conditions(
                cloud_cover_pct=optional(lambda: sensors.CloudCover),
                rain=None if rain_rate is None else rain_rate > 0,
                humidity_pct=optional(lambda: sensors.Humidity),
                wind_mps=optional(lambda: sensors.WindSpeed),
                sky_quality_mpsas=optional(lambda: sensors.SkyQuality),
                seeing_arcsec=optional(lambda: sensors.StarFWHM),
                age_sec=optional(lambda: sensors.TimeSinceLastUpdate("")),
            )

        return self._call("reading the weather sensors", read_all)
