"""INDI devices through pyindi-client: telescope, CCD, filter wheel, weather station.

INDI speaks in named properties (EQUATORIAL_EOD_COORD, CCD_EXPOSURE, FILTER_SLOT, WEATHER_STATUS, …) whose
state is Idle/Ok/Busy/Alert; a command is sent by setting a property and is done when its state leaves Busy.
Images arrive as a BLOB (a FITS file) on the CCD's CCD1 property.
"""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
from astropy.io import fits

from obsclient.config import IndiConfig
from obsclient.drivers.base import Conditions, Driver, DriverError, Frame

POLL_SEC = 0.1
# INDI property states (IPState).
IDLE, OK, BUSY, ALERT = 0, 1, 2, 3


def _pyindi() -> Any:
    try:
        import PyIndi
    except ImportError as exc:
        raise DriverError("the indi driver needs pyindi-client: pip install 'obsclient[indi]'") from exc
    return PyIndi


class IndiDriver(Driver):
    kind = "indi"

    def __init__(self, config: IndiConfig) -> None:
        super().__init__()
        self.config = config
        self.PyIndi = _pyindi()
        self.client = _make_client(self.PyIndi)
        self.names = {
            role: name
            for role, name in (
                ("telescope", config.telescope),
                ("ccd", config.ccd),
                ("filterwheel", config.filterwheel),
                ("weather", config.weather),
            )
            if name
        }

    # Properties ----------------------------------------------------------------------------------------------

    def _device(self, role: str) -> Any:
        name = self.names.get(role)
        if name is None:
            raise DriverError(f"no INDI {role} is configured (driver.indi.{role})")
        device = self.client.getDevice(name)
        if not device:
            raise DriverError(f"the INDI server at {self.config.host}:{self.config.port} has no device {name!r}")
        return device

    def _property(self, role: str, name: str, kind: str, *, timeout_sec: float | None = None) -> Any:
        deadline = time.monotonic() + (timeout_sec if timeout_sec is not None else self.config.timeout_sec)
        while True:
            # Devices and properties are defined asynchronously after connecting: wait for them a while.
            try:
                device = self._device(role)
            except DriverError:
                if time.monotonic() > deadline:
                    raise
            else:
                prop = getattr(device, f"get{kind}")(name)
                if prop.isValid():
                    return prop
                if time.monotonic() > deadline:
                    raise DriverError(f"{self.names[role]} has no {kind.lower()} property {name}")
            time.sleep(POLL_SEC)

    def _optional_numbers(self, role: str, name: str) -> dict[str, float]:
        if role not in self.names:
            return {}
        prop = self._device(role).getNumber(name)
        if not prop.isValid():
            return {}
        return {widget.getName(): widget.getValue() for widget in prop}

    def _set_switch(self, role: str, name: str, on: str) -> Any:
        prop = self._property(role, name, "Switch")
        prop.reset()
        widget = prop.findWidgetByName(on)
        if widget is None:
            raise DriverError(f"{self.names[role]}.{name} has no element {on}")
        widget.setState(self.PyIndi.ISS_ON)
        self.client.sendNewSwitch(prop)
        return prop

    def _set_numbers(self, role: str, name: str, values: dict[str, float]) -> Any:
        prop = self._property(role, name, "Number")
        for element, value in values.items():
            widget = prop.findWidgetByName(element)
            if widget is None:
                raise DriverError(f"{self.names[role]}.{name} has no element {element}")
            widget.setValue(value)
        self.client.sendNewNumber(prop)
        return prop

    def _wait_idle(self, role: str, name: str, kind: str, what: str, timeout_sec: float) -> None:
        # The state goes Busy soon after a command; give it a moment, then wait for Ok (or fail on Alert).
        deadline = time.monotonic() + timeout_sec
        time.sleep(POLL_SEC)
        while True:
            state = self._property(role, name, kind).getState()
            if state == ALERT:
                raise DriverError(f"{what} failed ({self.names[role]}.{name} is in Alert)")
            if state != BUSY:
                return
            if time.monotonic() > deadline:
                raise DriverError(f"{what} did not finish within {timeout_sec:.0f} s")
            time.sleep(POLL_SEC)

    # Connection ----------------------------------------------------------------------------------------------

    def connect(self) -> None:
        self.client.setServer(self.config.host, self.config.port)
        if not self.client.connectServer():
            raise DriverError(f"no INDI server answers at {self.config.host}:{self.config.port}")
        for role in self.names:
            connection = self._property(role, "CONNECTION", "Switch")
            if connection.findWidgetByName("CONNECT").getState() != self.PyIndi.ISS_ON:
                self._set_switch(role, "CONNECTION", "CONNECT")
        # Wait for each device's working properties, defined only once it is connected.
        needed = {
            "telescope": ("EQUATORIAL_EOD_COORD", "Number"),
            "ccd": ("CCD_EXPOSURE", "Number"),
            "filterwheel": ("FILTER_SLOT", "Number"),
            "weather": ("WEATHER_STATUS", "Light"),
        }
        for role in self.names:
            self._property(role, *needed[role])
        if "ccd" in self.names:
            self.client.setBLOBMode(self.PyIndi.B_ALSO, self.names["ccd"], None)
        self._event("connect")

    def disconnect(self) -> None:
        if self.client.isServerConnected():
            self.client.disconnectServer()

    def describe(self) -> dict[str, str]:
        answers: dict[str, str] = {}
        for role, name in self.names.items():
            try:
                connection = self._property(role, "CONNECTION", "Switch", timeout_sec=2)
                connected = connection.findWidgetByName("CONNECT").getState() == self.PyIndi.ISS_ON
                answers[role] = f"ok: {name}" if connected else f"error: {name} is not connected"
            except DriverError as exc:
                answers[role] = f"error: {exc}"
        return answers

    # Mount ---------------------------------------------------------------------------------------------------

    def slew(self, ra_deg: float, dec_deg: float, *, timeout_sec: float) -> None:
        from astropy import units as u
        from astropy.coordinates import TETE, SkyCoord
        from astropy.time import Time

        self.unpark()
        # EQUATORIAL_EOD_COORD is "epoch of date": apparent coordinates, not J2000.
        apparent = SkyCoord(ra=ra_deg * u.deg, dec=dec_deg * u.deg).transform_to(TETE(obstime=Time(datetime.now(UTC))))
        self._set_switch("telescope", "ON_COORD_SET", "TRACK")
        self._event("slew")
        self._set_numbers(
            "telescope", "EQUATORIAL_EOD_COORD", {"RA": float(apparent.ra.hour), "DEC": float(apparent.dec.deg)}
        )
        self._wait_idle("telescope", "EQUATORIAL_EOD_COORD", "Number", "the slew", timeout_sec)

    def pointing(self) -> tuple[float, float] | None:
        from astropy import units as u
        from astropy.coordinates import ICRS, TETE, SkyCoord
        from astropy.time import Time

        values = self._optional_numbers("telescope", "EQUATORIAL_EOD_COORD")
        if not values:
            return None
        apparent = SkyCoord(
            ra=values["RA"] * u.hourangle, dec=values["DEC"] * u.deg, frame=TETE(obstime=Time(datetime.now(UTC)))
        )
        icrs = apparent.transform_to(ICRS())
        return float(icrs.ra.deg), float(icrs.dec.deg)

    def park(self, *, timeout_sec: float) -> None:
        self._event("park")
        if not self.is_parked():
            self._set_switch("telescope", "TELESCOPE_PARK", "PARK")
            deadline = time.monotonic() + timeout_sec
            while not self.is_parked():
                if self._property("telescope", "TELESCOPE_PARK", "Switch").getState() == ALERT:
                    raise DriverError("parking failed (TELESCOPE_PARK is in Alert)")
                if time.monotonic() > deadline:
                    raise DriverError(f"parking did not finish within {timeout_sec:.0f} s")
                time.sleep(POLL_SEC)
        self._event("parked")

    def unpark(self) -> None:
        if self.is_parked():
            self._set_switch("telescope", "TELESCOPE_PARK", "UNPARK")
            self._wait_idle("telescope", "TELESCOPE_PARK", "Switch", "unparking", self.config.timeout_sec)

    def is_parked(self) -> bool:
        prop = self._property("telescope", "TELESCOPE_PARK", "Switch")
        return prop.findWidgetByName("PARK").getState() == self.PyIndi.ISS_ON and prop.getState() != BUSY

    # Filters -------------------------------------------------------------------------------------------------

    def filter_names(self) -> list[str]:
        if "filterwheel" not in self.names:
            return []
        prop = self._property("filterwheel", "FILTER_NAME", "Text")
        return [widget.getText() for widget in prop]

    def set_filter(self, name: str, *, timeout_sec: float = 60) -> None:
        super().set_filter(name)
        slot = self.filter_names().index(name) + 1  # INDI filter slots count from 1
        self._set_numbers("filterwheel", "FILTER_SLOT", {"FILTER_SLOT_VALUE": slot})
        self._wait_idle("filterwheel", "FILTER_SLOT", "Number", "the filter change", timeout_sec)

    # Camera --------------------------------------------------------------------------------------------------

    def start_exposure(self, exposure_sec: float, *, light: bool = True) -> None:
        self.client.blob_ready.clear()
        self.client.blob = None
        if not light:
            raise DriverError("dark frames are not supported by the INDI driver yet")
        self._event("expose")
        self._set_numbers("ccd", "CCD_EXPOSURE", {"CCD_EXPOSURE_VALUE": exposure_sec})

    def image_ready(self) -> bool:
        if self._property("ccd", "CCD_EXPOSURE", "Number").getState() == ALERT:
            raise DriverError("the exposure failed (CCD_EXPOSURE is in Alert)")
        return self.client.blob_ready.is_set()

    def abort_exposure(self) -> None:
        if "ccd" not in self.names:
            return
        self._event("abort")
        self._set_switch("ccd", "CCD_ABORT_EXPOSURE", "ABORT")

    def read_frame(self) -> Frame:
        blob = self.client.blob
        if blob is None:
            raise DriverError("no image has arrived from the camera")
        with fits.open(io.BytesIO(blob)) as hdul:
            data = np.asarray(hdul[0].data)
        if data.ndim != 2:
            raise DriverError(f"the camera sent a {data.ndim}-dimensional image; only monochrome is supported")
        if np.issubdtype(data.dtype, np.integer) and data.min() >= 0 and data.max() <= 65535:
            data = data.astype(np.uint16)
        self._event("readout")
        return Frame(data=data, cards=self._camera_cards())

    def _camera_cards(self) -> dict[str, tuple[Any, str]]:
        cards: dict[str, tuple[Any, str]] = {"INSTRUME": (self.names["ccd"], "camera (INDI device)")}
        binning = self._optional_numbers("ccd", "CCD_BINNING")
        if binning:
            cards["XBINNING"] = (int(binning["HOR_BIN"]), "binning factor, x")
            cards["YBINNING"] = (int(binning["VER_BIN"]), "binning factor, y")
        info = self._optional_numbers("ccd", "CCD_INFO")
        if info:
            cards["XPIXSZ"] = (info.get("CCD_PIXEL_SIZE_X"), "[um] pixel size, x")
            cards["YPIXSZ"] = (info.get("CCD_PIXEL_SIZE_Y"), "[um] pixel size, y")
        temperature = self._optional_numbers("ccd", "CCD_TEMPERATURE")
        if temperature:
            cards["CCD-TEMP"] = (temperature["CCD_TEMPERATURE_VALUE"], "[degC] sensor temperature")
        gain = self._optional_numbers("ccd", "CCD_GAIN")
        if gain:
            cards["GAIN"] = (gain["GAIN"], "camera gain setting")
        return cards

    # Sensors -------------------------------------------------------------------------------------------------

    def has_sensors(self) -> bool:
        return "weather" in self.names

    def is_safe(self) -> bool | None:
        if "weather" not in self.names:
            return None
        status = self._property("weather", "WEATHER_STATUS", "Light", timeout_sec=2)
        return all(light.getState() != ALERT for light in status) and status.getState() != ALERT

    def conditions(self) -> Conditions | None:
        if "weather" not in self.names:
            return None
        values = self._optional_numbers("weather", "WEATHER_PARAMETERS")
        if not values:
            raise DriverError(f"{self.names['weather']} reports no WEATHER_PARAMETERS")
        wind_kph = values.get("WEATHER_WIND_SPEED")
        rain_mm_h = values.get("WEATHER_RAIN_HOUR")
        updated = self.client.updated_at.get((self.names["weather"], "WEATHER_PARAMETERS"))
        return Conditions(
            cloud_cover_pct=values.get("WEATHER_CLOUD_COVER"),
            rain=None if rain_mm_h is None else rain_mm_h > 0,
            humidity_pct=values.get("WEATHER_HUMIDITY"),
            wind_mps=None if wind_kph is None else wind_kph / 3.6,  # INDI reports wind in km/h
            sky_quality_mpsas=values.get("WEATHER_SQM"),
            age_sec=None if updated is None else time.monotonic() - updated,
        )


def _make_client(PyIndi: Any) -> Any:
    class Client(PyIndi.BaseClient):  # type: ignore[misc]
        """Keeps the newest image and when each property last changed; everything else is read live."""

        def __init__(self) -> None:
            super().__init__()
            self.blob: bytes | None = None
            self.blob_ready = threading.Event()
            self.updated_at: dict[tuple[str, str], float] = {}

        def newProperty(self, prop: Any) -> None:
            self.updated_at[(prop.getDeviceName(), prop.getName())] = time.monotonic()

        def updateProperty(self, prop: Any) -> None:
            self.updated_at[(prop.getDeviceName(), prop.getName())] = time.monotonic()
            if prop.getType() == PyIndi.INDI_BLOB:
                for element in PyIndi.PropertyBlob(prop):
                    if element.getSize() > 0:
                        self.blob = bytes(element.getblobdata())
                        self.blob_ready.set()

    return Client()
