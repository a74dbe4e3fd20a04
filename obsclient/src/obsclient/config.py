"""The agent's configuration: one YAML file, checked strictly.

Every problem is reported as one sentence naming the key (``site.latitude must be a number between -90 and 90,
got 'north'.``) so an observer can fix the file without reading a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

DRIVER_KINDS = ("simulator", "alpaca", "indi")
ALPACA_DEVICES = (
    "telescope",
    "camera",
    "filterwheel",
    "focuser",
    "dome",
    "safetymonitor",
    "observingconditions",
)


class ConfigError(ValueError):
    """A configuration problem, phrased as one sentence for the observer."""


@dataclass(frozen=True)
class ServerConfig:
    url: str
    api_key: str | None
    api_key_file: Path | None
    timeout_sec: float
    verify_tls: bool


@dataclass(frozen=True)
class SiteConfig:
    site_id: str | None
    name: str
    latitude: float
    longitude: float
    elevation_m: float
    timezone: str | None
    min_altitude_deg: float
    horizon: list[tuple[float, float]]
    telescope: str | None
    instrument: str | None
    aperture_mm: float | None
    focal_length_mm: float | None
    filters: list[str]
    fov_arcmin: float | None
    limiting_mag: float | None
    mount_type: str | None
    automation_level: str | None


@dataclass(frozen=True)
class AlpacaConfig:
    address: str
    devices: dict[str, int | None]


@dataclass(frozen=True)
class IndiConfig:
    host: str
    port: int
    telescope: str | None
    ccd: str | None
    filterwheel: str | None
    weather: str | None
    timeout_sec: float


@dataclass(frozen=True)
class TransitConfig:
    epoch_jd: float
    period_days: float
    duration_hours: float
    depth: float


@dataclass(frozen=True)
class SimulatorConfig:
    width_px: int
    height_px: int
    pixel_size_um: float
    gain_e_per_adu: float
    read_noise_e: float
    bias_adu: float
    seeing_arcsec: float
    sky_mag_per_arcsec2: float
    zero_point_mag: float | None
    seed: int | None
    safe: bool
    realtime: bool
    transit: TransitConfig | None


@dataclass(frozen=True)
class DriverConfig:
    kind: str
    alpaca: AlpacaConfig
    indi: IndiConfig
    simulator: SimulatorConfig


@dataclass(frozen=True)
class ObservingConfig:
    default_exposure_sec: float
    max_exposure_sec: float
    default_filter: str | None
    settle_sec: float
    slew_timeout_sec: float
    readout_timeout_sec: float
    target_count: int
    min_poll_sec: float
    max_poll_sec: float
    max_sun_altitude_deg: float


@dataclass(frozen=True)
class SafetyConfig:
    max_cloud_cover_pct: float
    max_humidity_pct: float
    max_wind_mps: float
    sensor_timeout_sec: float
    safe_for_sec: float
    allow_without_sensors: bool


@dataclass(frozen=True)
class UploadConfig:
    gzip: bool
    backoff_base_sec: float
    backoff_max_sec: float


@dataclass(frozen=True)
class Config:
    path: Path | None
    server: ServerConfig
    site: SiteConfig
    driver: DriverConfig
    observing: ObservingConfig
    safety: SafetyConfig
    upload: UploadConfig
    data_dir: Path
    log_level: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def api_key_value(self) -> str | None:
        """The site key: given inline, or read from the key file (which `register` writes)."""
        if self.server.api_key:
            return self.server.api_key
        if self.server.api_key_file and self.server.api_key_file.exists():
            key = self.server.api_key_file.read_text(encoding="utf-8").strip()
            return key or None
        return None


class _Section:
    """Reads one mapping of the YAML file, remembering which keys were used so unknown ones are reported."""

    def __init__(self, data: Any, prefix: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{prefix} must be a mapping of keys to values, got {_show(data)}.")
        self.data = data
        self.prefix = prefix
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.data.get(key, default)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def section(self, key: str) -> _Section:
        return _Section(self.get(key), self._key(key))

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.get(key, default)
        if value is None or value == "":
            if required:
                raise ConfigError(f"{self._key(key)} is required but missing.")
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(f"{self._key(key)} must be text, got {_show(value)}.")
        return str(value)

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        low: float | None = None,
        high: float | None = None,
        required: bool = False,
        above: float | None = None,
    ) -> float | None:
        value = self.get(key, default)
        if value is None:
            if required:
                raise ConfigError(f"{self._key(key)} is required but missing.")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self._key(key)} must be a number{_range(low, high, above)}, got {_show(value)}.")
        number = float(value)
        if (
            (low is not None and number < low)
            or (high is not None and number > high)
            or (above is not None and number <= above)
        ):
            raise ConfigError(f"{self._key(key)} must be a number{_range(low, high, above)}, got {_show(value)}.")
        return number

    def integer(self, key: str, default: int | None = None, *, low: int | None = None) -> int | None:
        value = self.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
            bound = f" of at least {low}" if low is not None else ""
            raise ConfigError(f"{self._key(key)} must be a whole number{bound}, got {_show(value)}.")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self._key(key)} must be true or false, got {_show(value)}.")
        return value

    def strings(self, key: str) -> list[str]:
        value = self.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{self._key(key)} must be a list of names, got {_show(value)}.")
        return list(value)

    def check_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self._key(str(unknown[0]))} is not a known setting (check its spelling).")


def _range(low: float | None, high: float | None, above: float | None) -> str:
    if above is not None:
        return f" greater than {above:g}"
    if low is not None and high is not None:
        return f" between {low:g} and {high:g}"
    if low is not None:
        return f" of at least {low:g}"
    if high is not None:
        return f" of at most {high:g}"
    return ""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _path(value: str | None, base: Path) -> Path | None:
    if value is None:
        return None
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else (base / path)


def default_config_path() -> Path:
    return Path(os.environ.get("OBSCLIENT_CONFIG", "~/.obsclient/obsclient.yaml")).expanduser()


def load_config(path: Path | str) -> Config:
    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"The configuration file {path} does not exist (create it with `obsclient init`).")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"The configuration file {path} is not valid YAML{where}.") from None
    return parse_config(data, path=path)


def parse_config(data: Any, *, path: Path | None = None) -> Config:
    base = path.parent if path is not None else Path.cwd()
    root = _Section(data, "")

    server_s = root.section("server")
    url = server_s.string("url", required=True)
    assert url is not None
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"server.url must be an http:// or https:// address, got {_show(url)}.")
    server = ServerConfig(
        url=url.rstrip("/"),
        api_key=server_s.string("api_key"),
        api_key_file=_path(server_s.string("api_key_file", "site.key"), base),
        timeout_sec=server_s.number("timeout_sec", 30, above=0) or 30,
        verify_tls=server_s.boolean("verify_tls", True),
    )
    server_s.check_unknown()

    site_s = root.section("site")
    horizon_raw = site_s.get("horizon", [])
    horizon: list[tuple[float, float]] = []
    if horizon_raw:
        ok = isinstance(horizon_raw, list) and all(
            isinstance(p, list | tuple)
            and len(p) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in p)
            and 0 <= p[0] <= 360
            and -90 <= p[1] <= 90
            for p in horizon_raw
        )
        if not ok:
            raise ConfigError(
                f"site.horizon must be a list of [azimuth_deg, min_altitude_deg] pairs, got {_show(horizon_raw)}."
            )
        horizon = sorted((float(a), float(h)) for a, h in horizon_raw)
    site = SiteConfig(
        site_id=site_s.string("site_id"),
        name=site_s.string("name", required=True) or "",
        latitude=site_s.number("latitude", low=-90, high=90, required=True) or 0.0,
        longitude=site_s.number("longitude", low=-180, high=180, required=True) or 0.0,
        elevation_m=site_s.number("elevation_m", 0.0, low=-500, high=9000) or 0.0,
        timezone=site_s.string("timezone"),
        min_altitude_deg=site_s.number("min_altitude_deg", 30, low=0, high=89) or 0.0,
        horizon=horizon,
        telescope=site_s.string("telescope"),
        instrument=site_s.string("instrument"),
        aperture_mm=site_s.number("aperture_mm", above=0),
        focal_length_mm=site_s.number("focal_length_mm", above=0),
        filters=site_s.strings("filters"),
        fov_arcmin=site_s.number("fov_arcmin", above=0),
        limiting_mag=site_s.number("limiting_mag", low=-30, high=35),
        mount_type=site_s.string("mount_type"),
        automation_level=site_s.string("automation_level"),
    )
    site_s.check_unknown()

    driver_s = root.section("driver")
    kind = driver_s.string("kind", "simulator")
    if kind not in DRIVER_KINDS:
        raise ConfigError(f"driver.kind must be one of {', '.join(DRIVER_KINDS)}, got {_show(kind)}.")

    alpaca_s = driver_s.section("alpaca")
    address = alpaca_s.string("address", "127.0.0.1:11111") or ""
    if "://" in address or not address.strip():
        raise ConfigError(f"driver.alpaca.address must be host:port (no http://), got {_show(address)}.")
    devices: dict[str, int | None] = {}
    for name in ALPACA_DEVICES:
        devices[name] = alpaca_s.integer(name, 0 if name in ("telescope", "camera") else None, low=0)
    alpaca = AlpacaConfig(address=address, devices=devices)
    alpaca_s.check_unknown()

    indi_s = driver_s.section("indi")
    indi = IndiConfig(
        host=indi_s.string("host", "127.0.0.1") or "",
        port=indi_s.integer("port", 7624, low=1) or 7624,
        telescope=indi_s.string("telescope", "Telescope Simulator"),
        ccd=indi_s.string("ccd", "CCD Simulator"),
        filterwheel=indi_s.string("filterwheel"),
        weather=indi_s.string("weather"),
        timeout_sec=indi_s.number("timeout_sec", 30, above=0) or 30,
    )
    indi_s.check_unknown()

    sim_s = driver_s.section("simulator")
    transit: TransitConfig | None = None
    if sim_s.has("transit"):
        tr = sim_s.section("transit")
        transit = TransitConfig(
            epoch_jd=tr.number("epoch_jd", required=True, above=0) or 0.0,
            period_days=tr.number("period_days", required=True, above=0) or 0.0,
            duration_hours=tr.number("duration_hours", required=True, above=0) or 0.0,
            depth=tr.number("depth", required=True, low=0, high=1) or 0.0,
        )
        tr.check_unknown()
    simulator = SimulatorConfig(
        width_px=sim_s.integer("width_px", 512, low=16) or 512,
        height_px=sim_s.integer("height_px", 512, low=16) or 512,
        pixel_size_um=sim_s.number("pixel_size_um", 3.76, above=0) or 3.76,
        gain_e_per_adu=sim_s.number("gain_e_per_adu", 1.0, above=0) or 1.0,
        read_noise_e=sim_s.number("read_noise_e", 3.0, low=0) or 0.0,
        bias_adu=sim_s.number("bias_adu", 500, low=0) or 0.0,
        seeing_arcsec=sim_s.number("seeing_arcsec", 2.5, above=0) or 2.5,
        sky_mag_per_arcsec2=sim_s.number("sky_mag_per_arcsec2", 20.5, low=10, high=25) or 20.5,
        zero_point_mag=sim_s.number("zero_point_mag", low=5, high=35),
        seed=sim_s.integer("seed"),
        safe=sim_s.boolean("safe", True),
        realtime=sim_s.boolean("realtime", True),
        transit=transit,
    )
    sim_s.check_unknown()
    driver = DriverConfig(kind=kind or "simulator", alpaca=alpaca, indi=indi, simulator=simulator)
    driver_s.check_unknown()

    obs_s = root.section("observing")
    max_exposure = obs_s.number("max_exposure_sec", 600, above=0) or 600
    observing = ObservingConfig(
        default_exposure_sec=obs_s.number("default_exposure_sec", 60, above=0, high=max_exposure) or 60,
        max_exposure_sec=max_exposure,
        default_filter=obs_s.string("default_filter"),
        settle_sec=obs_s.number("settle_sec", 2, low=0) or 0.0,
        slew_timeout_sec=obs_s.number("slew_timeout_sec", 300, above=0) or 300,
        readout_timeout_sec=obs_s.number("readout_timeout_sec", 120, above=0) or 120,
        target_count=obs_s.integer("target_count", 10, low=1) or 10,
        min_poll_sec=obs_s.number("min_poll_sec", 10, low=0) or 0.0,
        max_poll_sec=obs_s.number("max_poll_sec", 600, above=0) or 600,
        max_sun_altitude_deg=obs_s.number("max_sun_altitude_deg", -12, low=-90, high=90) or 0.0,
    )
    obs_s.check_unknown()

    safety_s = root.section("safety")
    safety = SafetyConfig(
        max_cloud_cover_pct=safety_s.number("max_cloud_cover_pct", 50, low=0, high=100) or 0.0,
        max_humidity_pct=safety_s.number("max_humidity_pct", 90, low=0, high=100) or 0.0,
        max_wind_mps=safety_s.number("max_wind_mps", 12, low=0) or 0.0,
        sensor_timeout_sec=safety_s.number("sensor_timeout_sec", 300, above=0) or 300,
        safe_for_sec=safety_s.number("safe_for_sec", 900, low=0) or 0.0,
        allow_without_sensors=safety_s.boolean("allow_without_sensors", False),
    )
    safety_s.check_unknown()

    upload_s = root.section("upload")
    upload = UploadConfig(
        gzip=upload_s.boolean("gzip", True),
        backoff_base_sec=upload_s.number("backoff_base_sec", 10, above=0) or 10,
        backoff_max_sec=upload_s.number("backoff_max_sec", 3600, above=0) or 3600,
    )
    upload_s.check_unknown()

    data_dir = _path(root.string("data_dir", "data"), base)
    assert data_dir is not None
    log_level = (root.string("log_level", "INFO") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"log_level must be one of DEBUG, INFO, WARNING, ERROR, got {_show(log_level)}.")
    root.check_unknown()

    return Config(
        path=path,
        server=server,
        site=site,
        driver=driver,
        observing=observing,
        safety=safety,
        upload=upload,
        data_dir=data_dir,
        log_level=log_level,
        raw=data if isinstance(data, dict) else {},
    )


CONFIG_TEMPLATE = """\
# obsclient configuration. Every key is described in obsclient/README.md.
# Relative paths are relative to this file's folder.

server:
  url: {url}                   # the network's server
  # api_key: ...                          # the site key inline, or (better) in the key file below
  api_key_file: site.key                  # `obsclient register` writes the key here (mode 0600)
  timeout_sec: 30
  verify_tls: true

site:
  # site_id: ...                          # filled in by `obsclient register`
  name: {name}
  latitude: {latitude}                        # degrees, north positive
  longitude: {longitude}                      # degrees, east positive (-180..180)
  elevation_m: {elevation_m}
  timezone: {timezone}
  min_altitude_deg: 30                    # never point lower than this
  horizon: []                             # optional [[azimuth_deg, min_altitude_deg], ...] mask
  telescope: "{telescope}"             # TELESCOP in the FITS header
  instrument: "{instrument}"            # INSTRUME in the FITS header
  aperture_mm: 200
  focal_length_mm: 1000
  filters: [V, R, Clear]                  # the filters in your wheel, by the names the network uses
  fov_arcmin: 40.0
  limiting_mag: 17.5
  mount_type: equatorial
  automation_level: robotic

driver:
  kind: {driver}                      # simulator | alpaca | indi
  alpaca:
    address: 127.0.0.1:11111              # host:port of the Alpaca device server (no discovery)
    telescope: 0                          # device numbers; leave a device out (or null) if you have none
    camera: 0
    filterwheel: null
    focuser: null
    dome: null                            # dome or roll-off roof: closed when unsafe, after parking
    safetymonitor: null
    observingconditions: null
  indi:
    host: 127.0.0.1
    port: 7624
    telescope: Telescope Simulator        # INDI device names
    ccd: CCD Simulator
    filterwheel: null
    weather: null
    timeout_sec: 30
  simulator:
    width_px: 512
    height_px: 512
    pixel_size_um: 3.76
    gain_e_per_adu: 1.0
    read_noise_e: 3.0
    bias_adu: 500
    seeing_arcsec: 2.5
    sky_mag_per_arcsec2: 20.5
    # zero_point_mag: 21.0                # magnitude giving 1 e-/s; default from aperture_mm
    # seed: 1
    safe: true                            # false: the simulated safety monitor says unsafe
    realtime: true                        # false: exposures finish at once (tests, demos)
    # transit: {{epoch_jd: 2461000.5, period_days: 1.09, duration_hours: 3.0, depth: 0.014}}

observing:
  default_exposure_sec: 60                # used when the server names none
  max_exposure_sec: 600
  # default_filter: Clear
  settle_sec: 2                           # wait after a slew
  slew_timeout_sec: 300
  readout_timeout_sec: 120
  target_count: 10
  min_poll_sec: 10
  max_poll_sec: 600
  max_sun_altitude_deg: -12               # never open the shutter with the Sun higher than this

safety:
  max_cloud_cover_pct: 50
  max_humidity_pct: 90
  max_wind_mps: 12
  sensor_timeout_sec: 300                 # a sensor silent this long counts as unsafe
  safe_for_sec: 900                       # after an unsafe spell, reopen only when safe this long
  allow_without_sensors: false            # true only if a human watches the sky

upload:
  gzip: true
  backoff_base_sec: 10
  backoff_max_sec: 3600

data_dir: data                            # frames and the outbox (SQLite) live here
log_level: INFO
"""


def render_template(
    *,
    url: str = "http://127.0.0.1:8000",
    name: str = "My observatory",
    latitude: float = 0.0,
    longitude: float = 0.0,
    elevation_m: float = 0.0,
    timezone: str = "UTC",
    driver: str = "simulator",
    telescope: str = "8-inch reflector",
    instrument: str = "CMOS camera",
) -> str:
    return CONFIG_TEMPLATE.format(
        url=url,
        name=name,
        latitude=latitude,
        longitude=longitude,
        elevation_m=elevation_m,
        timezone=timezone,
        driver=driver,
        telescope=telescope,
        instrument=instrument,
    )
