"""The built-in simulator: a mount that slews at once and a camera that renders the sky at the pointing.

Frames are realistic enough for the pipeline: a deterministic star field (the same stars every time the same
patch of sky is observed), sky background, Moffat PSFs of the configured seeing, Poisson and read noise, bias,
16-bit saturation, a TAN WCS in the header, and the target at its catalogue magnitude, optionally dimmed by an
injected transit light curve.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy import units as u
from astropy.time import Time
from astropy.wcs import WCS

from obsclient.config import SimulatorConfig, TransitConfig
from obsclient.drivers.base import Conditions, Driver, DriverError, Frame

CELL_DEG = 0.25
MOFFAT_BETA = 3.0
MAG_BRIGHT, MAG_FAINT = 7.0, 19.0
# Cumulative star counts N(<m) per square degree ≈ 2·10^(0.38(m−10)): a mid-galactic-latitude field.
COUNT_NORM_PER_DEG2, COUNT_SLOPE = 2.0, 0.38
TARGET_EXCLUSION_ARCSEC = 15.0


@dataclass(frozen=True)
class TargetLight:
    ra_deg: float
    dec_deg: float
    magnitude: float
    transit: TransitConfig | None = None


def default_zero_point_mag(aperture_mm: float | None) -> float:
    """Magnitude giving 1 e-/s: ~21 for a 200 mm aperture in a broad band, scaling with collecting area."""
    return 21.0 + 5.0 * math.log10((aperture_mm or 200.0) / 200.0)


def transit_factor(jd: float, transit: TransitConfig | None) -> float:
    """Relative flux of a trapezoidal transit (ingress and egress each a tenth of the duration)."""
    if transit is None:
        return 1.0
    phase_days = (jd - transit.epoch_jd + 0.5 * transit.period_days) % transit.period_days - 0.5 * transit.period_days
    half_hours = transit.duration_hours / 2.0
    edge_hours = transit.duration_hours / 10.0
    from_centre_hours = abs(phase_days) * 24.0
    if from_centre_hours >= half_hours:
        return 1.0
    if from_centre_hours <= half_hours - edge_hours:
        return 1.0 - transit.depth
    return 1.0 - transit.depth * (half_hours - from_centre_hours) / edge_hours


def catalogue_stars(ra_deg: float, dec_deg: float, radius_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stars (ra, dec, mag) within a box around a position, identical on every call for the same sky.

    The sky is cut into bands of declination and, in each band, cells of equal area; each cell's stars come from
    a random generator seeded by the cell's index, so overlapping fields agree.
    """
    ras: list[np.ndarray] = []
    decs: list[np.ndarray] = []
    mags: list[np.ndarray] = []
    n_bands = int(round(180 / CELL_DEG))
    band_lo = max(0, int((dec_deg - radius_deg + 90) / CELL_DEG))
    band_hi = min(n_bands - 1, int((dec_deg + radius_deg + 90) / CELL_DEG))
    expected_per_deg2 = COUNT_NORM_PER_DEG2 * 10 ** (COUNT_SLOPE * (MAG_FAINT - 10))
    for band in range(band_lo, band_hi + 1):
        dec_lo = -90 + band * CELL_DEG
        dec_hi = dec_lo + CELL_DEG
        cos_mid = max(math.cos(math.radians(dec_lo + CELL_DEG / 2)), 1e-3)
        n_cells = max(1, int(360 * cos_mid / CELL_DEG))
        cell_width = 360 / n_cells
        cos_here = max(math.cos(math.radians(dec_deg)), 1e-3)
        half_width = min(180.0, radius_deg / cos_here + cell_width)
        first = math.floor((ra_deg - half_width) / cell_width)
        last = math.floor((ra_deg + half_width) / cell_width)
        area = cell_width * CELL_DEG * cos_mid
        for index in range(first, last + 1):
            cell = index % n_cells
            rng = np.random.default_rng([band, cell, 20261123])
            count = rng.poisson(expected_per_deg2 * area)
            ras.append((cell * cell_width + rng.uniform(0, cell_width, count)) % 360)
            sin_lo, sin_hi = math.sin(math.radians(dec_lo)), math.sin(math.radians(dec_hi))
            decs.append(np.degrees(np.arcsin(rng.uniform(sin_lo, sin_hi, count))))
            # Inverse transform of N(<m) ∝ 10^(slope·m), truncated at the bright end.
            u = rng.uniform(10 ** (COUNT_SLOPE * (MAG_BRIGHT - MAG_FAINT)), 1.0, count)
            mags.append(MAG_FAINT + np.log10(u) / COUNT_SLOPE)
    if not ras:
        empty = np.empty(0)
        return empty, empty, empty
    return np.concatenate(ras), np.concatenate(decs), np.concatenate(mags)


def sky_wcs(ra_deg: float, dec_deg: float, width_px: int, height_px: int, scale_arcsec: float) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.crpix = [(width_px + 1) / 2, (height_px + 1) / 2]
    # North up, east left, as a sky image is conventionally shown.
    wcs.wcs.cd = [[-scale_arcsec / 3600, 0.0], [0.0, scale_arcsec / 3600]]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.equinox = 2000.0
    return wcs


def _add_moffat(image: np.ndarray, x: float, y: float, flux_e: float, fwhm_px: float) -> None:
    alpha = fwhm_px / (2 * math.sqrt(2 ** (1 / MOFFAT_BETA) - 1))
    radius = int(math.ceil(max(6.0, 5 * fwhm_px)))
    height, width = image.shape
    x0, x1 = max(0, int(x) - radius), min(width, int(x) + radius + 1)
    y0, y1 = max(0, int(y) - radius), min(height, int(y) + radius + 1)
    if x0 >= x1 or y0 >= y1:
        return
    # Sample on a 3×3 sub-grid per pixel so undersampled stars keep their flux.
    sub = (np.arange(3) - 1) / 3
    xs = (np.arange(x0, x1)[:, None] + sub[None, :]).ravel()
    ys = (np.arange(y0, y1)[:, None] + sub[None, :]).ravel()
    r2 = (xs[None, :] - x) ** 2 + (ys[:, None] - y) ** 2
    profile = (MOFFAT_BETA - 1) / (math.pi * alpha**2) * (1 + r2 / alpha**2) ** (-MOFFAT_BETA) / 9
    stamp = profile.reshape(y1 - y0, 3, x1 - x0, 3).sum(axis=(1, 3))
    image[y0:y1, x0:x1] += flux_e * stamp


def render_frame(
    *,
    ra_deg: float,
    dec_deg: float,
    exposure_sec: float,
    mid_time: Time,
    width_px: int,
    height_px: int,
    scale_arcsec: float,
    seeing_arcsec: float,
    sky_mag_per_arcsec2: float,
    zero_point_mag: float,
    gain_e_per_adu: float,
    read_noise_e: float,
    bias_adu: float,
    rng: np.random.Generator,
    target: TargetLight | None = None,
) -> tuple[np.ndarray, WCS]:
    """A 16-bit frame of the sky centred on (ra, dec), in ADU, and its WCS."""
    wcs = sky_wcs(ra_deg, dec_deg, width_px, height_px, scale_arcsec)
    fwhm_px = seeing_arcsec / scale_arcsec
    electrons = np.zeros((height_px, width_px))
    radius_deg = math.hypot(width_px, height_px) * scale_arcsec / 3600 / 2 + 0.01
    star_ra, star_dec, star_mag = catalogue_stars(ra_deg, dec_deg, radius_deg)
    if target is not None and star_ra.size:
        # The target replaces whatever the synthetic catalogue put at its position.
        separation = _separation_deg(star_ra, star_dec, target.ra_deg, target.dec_deg) * 3600
        keep = separation > TARGET_EXCLUSION_ARCSEC
        star_ra, star_dec, star_mag = star_ra[keep], star_dec[keep], star_mag[keep]
    if target is not None:
        factor = transit_factor(mid_time.jd, target.transit)
        star_ra = np.append(star_ra, target.ra_deg)
        star_dec = np.append(star_dec, target.dec_deg)
        star_mag = np.append(star_mag, target.magnitude - 2.5 * math.log10(max(factor, 1e-9)))
    if star_ra.size:
        xs, ys = wcs.all_world2pix(star_ra, star_dec, 0)
        margin = 5 * fwhm_px
        inside = (xs > -margin) & (xs < width_px + margin) & (ys > -margin) & (ys < height_px + margin)
        fluxes = 10 ** (-0.4 * (star_mag - zero_point_mag)) * exposure_sec
        for x, y, flux in zip(xs[inside], ys[inside], fluxes[inside], strict=True):
            _add_moffat(electrons, float(x), float(y), float(flux), fwhm_px)
    sky_e_per_px = 10 ** (-0.4 * (sky_mag_per_arcsec2 - zero_point_mag)) * scale_arcsec**2 * exposure_sec
    electrons += sky_e_per_px
    counts = rng.poisson(electrons).astype(float) + rng.normal(0.0, read_noise_e, electrons.shape)
    adu = counts / gain_e_per_adu + bias_adu
    return np.clip(np.round(adu), 0, 65535).astype(np.uint16), wcs


def _separation_deg(ra1: np.ndarray, dec1: np.ndarray, ra2: float, dec2: float) -> np.ndarray:
    ra1r, dec1r = np.radians(ra1), np.radians(dec1)
    ra2r, dec2r = math.radians(ra2), math.radians(dec2)
    cos_sep = np.sin(dec1r) * np.sin(dec2r) + np.cos(dec1r) * np.cos(dec2r) * np.cos(ra1r - ra2r)
    return np.degrees(np.arccos(np.clip(cos_sep, -1, 1)))


class SimulatorDriver(Driver):
    kind = "simulator"

    def __init__(
        self, config: SimulatorConfig, *, focal_length_mm: float | None, aperture_mm: float | None, filters: list[str]
    ) -> None:
        super().__init__()
        self.config = config
        self.focal_length_mm = focal_length_mm or 1000.0
        self.scale_arcsec = 206.265 * config.pixel_size_um / self.focal_length_mm
        self.zero_point_mag = config.zero_point_mag or default_zero_point_mag(aperture_mm)
        self.filters = list(filters) or ["Clear"]
        self.realtime = config.realtime
        self.rng = np.random.default_rng(config.seed)
        self.connected = False
        self.ra_deg: float | None = None
        self.dec_deg: float | None = None
        self.parked = True
        self.closed = True
        self.safe = config.safe
        self.current_filter = self.filters[0]
        self.target: TargetLight | None = None
        self._exposure: tuple[float, float, Time] | None = None  # (monotonic start, exposure_sec, start time)
        self._frame: Frame | None = None

    def connect(self) -> None:
        self.connected = True
        self._event("connect")

    def disconnect(self) -> None:
        self.connected = False

    def describe(self) -> dict[str, str]:
        state = "ok" if self.connected else "error: not connected"
        return {
            "telescope": f"{state}: simulated mount",
            "camera": f"{state}: simulated {self.config.width_px}x{self.config.height_px} camera, "
            f'{self.scale_arcsec:.2f}"/px',
            "filterwheel": f"{state}: {', '.join(self.filters)}",
            "safetymonitor": f"{state}: {'safe' if self.safe else 'unsafe'}",
        }

    def _require(self) -> None:
        if not self.connected:
            raise DriverError("the simulator is not connected")

    def slew(self, ra_deg: float, dec_deg: float, *, timeout_sec: float) -> None:
        self._require()
        self.unpark()
        self._event("slew")
        self.ra_deg, self.dec_deg = ra_deg % 360, dec_deg

    def pointing(self) -> tuple[float, float] | None:
        if self.ra_deg is None or self.dec_deg is None:
            return None
        return self.ra_deg, self.dec_deg

    def park(self, *, timeout_sec: float) -> None:
        self._event("park")
        self.parked = True
        self._event("parked")

    def unpark(self) -> None:
        self.parked = False

    def is_parked(self) -> bool:
        return self.parked

    def filter_names(self) -> list[str]:
        return self.filters

    def set_filter(self, name: str, *, timeout_sec: float = 60) -> None:
        super().set_filter(name)
        self.current_filter = name

    def prepare_target(self, target: dict[str, Any]) -> None:
        magnitude = target.get("magnitude")
        if magnitude is None:
            self.target = None
            return
        self.target = TargetLight(
            ra_deg=float(target["ra_deg"]),
            dec_deg=float(target["dec_deg"]),
            magnitude=float(magnitude),
            transit=self.config.transit,
        )

    def start_exposure(self, exposure_sec: float, *, light: bool = True) -> None:
        self._require()
        if self.ra_deg is None or self.dec_deg is None:
            raise DriverError("the simulated mount has not been pointed anywhere yet")
        self._event("expose")
        self._exposure = (time.monotonic(), exposure_sec, Time.now())
        self._frame = None

    def image_ready(self) -> bool:
        if self._exposure is None:
            return False
        started, exposure_sec, _ = self._exposure
        return not self.realtime or time.monotonic() - started >= exposure_sec

    def abort_exposure(self) -> None:
        if self._exposure is not None:
            self._event("abort")
        self._exposure = None

    def read_frame(self) -> Frame:
        if self._exposure is None or not self.image_ready():
            raise DriverError("no image is ready")
        _, exposure_sec, start = self._exposure
        assert self.ra_deg is not None and self.dec_deg is not None
        data, wcs = render_frame(
            ra_deg=self.ra_deg,
            dec_deg=self.dec_deg,
            exposure_sec=exposure_sec,
            mid_time=start + exposure_sec / 2 * u.s,
            width_px=self.config.width_px,
            height_px=self.config.height_px,
            scale_arcsec=self.scale_arcsec,
            seeing_arcsec=self.config.seeing_arcsec,
            sky_mag_per_arcsec2=self.config.sky_mag_per_arcsec2,
            zero_point_mag=self.zero_point_mag,
            gain_e_per_adu=self.config.gain_e_per_adu,
            read_noise_e=self.config.read_noise_e,
            bias_adu=self.config.bias_adu,
            rng=self.rng,
            target=self.target,
        )
        self._exposure = None
        cards: dict[str, tuple[Any, str]] = {
            "GAIN": (self.config.gain_e_per_adu, "[e-/ADU] detector gain"),
            "EGAIN": (self.config.gain_e_per_adu, "[e-/ADU] electrons per ADU"),
            "RDNOISE": (self.config.read_noise_e, "[e-] read noise"),
            "XBINNING": (1, "binning factor, x"),
            "YBINNING": (1, "binning factor, y"),
            "XPIXSZ": (self.config.pixel_size_um, "[um] pixel size, x"),
            "YPIXSZ": (self.config.pixel_size_um, "[um] pixel size, y"),
            "CCD-TEMP": (-10.0, "[degC] sensor temperature"),
            "PEDESTAL": (self.config.bias_adu, "[ADU] bias level added to the data"),
            "SATURATE": (65535, "[ADU] saturation level"),
            "FOCALLEN": (self.focal_length_mm, "[mm] focal length"),
            "SIMULATD": (True, "frame rendered by the obsclient simulator"),
            "SIMZP": (self.zero_point_mag, "[mag] simulator zero point (1 e-/s)"),
        }
        for key, value in wcs.to_header().items():
            cards[key] = (value, "")
        self._event("readout")
        return Frame(data=data, cards=cards)

    def has_enclosure(self) -> bool:
        return True

    def open_enclosure(self, *, timeout_sec: float) -> None:
        self._event("open")
        self.closed = False

    def close_enclosure(self, *, timeout_sec: float) -> None:
        self._event("close")
        self.closed = True

    def enclosure_closed(self) -> bool | None:
        return self.closed

    def is_safe(self) -> bool | None:
        return self.safe

    def has_sensors(self) -> bool:
        return True

    def conditions(self) -> Conditions | None:
        return Conditions(
            cloud_cover_pct=0.0 if self.safe else 100.0,
            rain=not self.safe,
            humidity_pct=55.0,
            wind_mps=2.0,
            sky_quality_mpsas=self.config.sky_mag_per_arcsec2,
            seeing_arcsec=self.config.seeing_arcsec,
            age_sec=0.0,
        )
