"""The target catalogue as numpy arrays, built once and kept in memory.

A :class:`TargetArrays` holds every active target as column arrays, plus the
per-target constants the geometry needs on every request (ICRS unit vectors).
It is built from plain Python values or arrays (the Django layer reads the
``Target`` table once and rebuilds it when targets change) and never touches
the database itself.

Rows are stored **sorted by declination**: the targets that can rise above an
altitude limit at a given latitude are then one contiguous slice, found with a
binary search, so a site never pays for the part of the sky it cannot see.
Because of that, per-request arrays (last observation times, campaign boosts,
...) must be aligned with :attr:`TargetArrays.ids`; :meth:`TargetArrays.align`
does that from a ``{target_id: value}`` mapping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

TARGET_TYPES: tuple[str, ...] = (
    "exoplanet",
    "variable",
    "occultation",
    "transient",
    "asteroid",
    "comet",
    "other",
)
CAMPAIGN_KINDS: tuple[str, ...] = ("none", "monitoring", "occultation", "transit", "transient")

FloatArray = NDArray[np.float64]


def to_unix_s(value: dt.datetime | float | None) -> float:
    """An aware datetime (or Unix seconds, or None → NaN) as Unix seconds."""
    if value is None:
        return float("nan")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: times must carry an explicit UTC offset")
        return value.timestamp()
    return float(value)


def _float_column(values: ArrayLike | None, n: int, default: float) -> FloatArray:
    if values is None:
        return np.full(n, default, dtype=np.float64)
    out = np.array(
        [default if v is None else v for v in values] if not isinstance(values, np.ndarray) else values,
        dtype=np.float64,
    )
    if out.shape != (n,):
        raise ValueError(f"expected {n} values, got shape {out.shape}")
    return out


def _time_column(values: Iterable[Any] | None, n: int) -> FloatArray:
    if values is None:
        return np.full(n, np.nan)
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return values.astype(np.float64)
    out = np.array([to_unix_s(v) for v in values], dtype=np.float64)
    if out.shape != (n,):
        raise ValueError(f"expected {n} times, got shape {out.shape}")
    return out


def filter_mask(names: Iterable[str], vocabulary: Sequence[str]) -> int:
    """The bitmask of ``names`` against ``vocabulary`` (unknown names are ignored)."""
    mask = 0
    for name in names:
        if name in vocabulary:
            mask |= 1 << vocabulary.index(name)
    return mask


@dataclass(frozen=True, eq=False)
class TargetArrays:
    """Column arrays of the active catalogue, sorted by declination.

    Units are in the names; times are Unix seconds (UTC), NaN when unset.
    Construct with :meth:`build`, not directly.
    """

    ids: NDArray[Any]
    ra_deg: FloatArray
    dec_deg: FloatArray
    magnitude: FloatArray  # NaN = unknown (treated as bright enough)
    priority: FloatArray
    filters: NDArray[np.uint64]  # bitmask over filter_names; 0 = any filter will do
    filter_names: tuple[str, ...]
    min_altitude_deg: FloatArray  # the target's own limit; NaN = none
    min_fov_arcmin: FloatArray  # smallest field that holds the target and its comparison stars; NaN = any
    target_type: NDArray[np.int8]  # index into TARGET_TYPES
    cadence_hours: FloatArray  # NaN = no cadence
    min_observations: FloatArray  # 0 = no goal
    exposure_sec: FloatArray
    expires_at_s: FloatArray
    transit_epoch_bjd: FloatArray  # ephemeris of a transiting planet; NaN = none
    transit_period_days: FloatArray
    transit_duration_hours: FloatArray
    # Time-critical windows, flattened: window k belongs to row window_row[k].
    window_row: NDArray[np.intp]
    window_start_s: FloatArray
    window_end_s: FloatArray
    window_boost: FloatArray
    # Precomputed once: ICRS unit vectors (3, n), C-contiguous rows for fast dot products.
    unit_xyz: FloatArray
    # The input position of each row, so callers can map back to their own order.
    input_order: NDArray[np.intp]
    _row_of_id: dict[Any, int] = field(repr=False, default_factory=dict)

    @classmethod
    def build(
        cls,
        ids: Sequence[Any],
        ra_deg: ArrayLike,
        dec_deg: ArrayLike,
        *,
        magnitude: ArrayLike | None = None,
        priority: ArrayLike | None = None,
        filters: Sequence[Iterable[str]] | NDArray[np.uint64] | None = None,
        filter_names: Sequence[str] = (),
        min_altitude_deg: ArrayLike | None = None,
        min_fov_arcmin: ArrayLike | None = None,
        target_type: Sequence[str] | NDArray[np.int8] | None = None,
        cadence_hours: ArrayLike | None = None,
        min_observations: ArrayLike | None = None,
        exposure_sec: ArrayLike | None = None,
        expires_at: Iterable[Any] | None = None,
        transit_epoch_bjd: ArrayLike | None = None,
        transit_period_days: ArrayLike | None = None,
        transit_duration_hours: ArrayLike | None = None,
        windows: Sequence[Sequence[tuple[Any, Any, float]]] | None = None,
    ) -> TargetArrays:
        """Build the arrays from per-target values given in any order.

        ``filters`` is either one iterable of filter names per target (then
        ``filter_names`` is extended with any name it has not seen) or a
        ready-made ``uint64`` bitmask against ``filter_names``.  ``windows`` is,
        per target, a list of ``(start, end, priority_boost)`` with aware
        datetimes or Unix seconds.  ``None`` inside a column means unset.
        """
        n = len(ids)
        ra = _float_column(ra_deg, n, np.nan)
        dec = _float_column(dec_deg, n, np.nan)
        if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
            raise ValueError("ra_deg and dec_deg must be finite")
        if np.any(np.abs(dec) > 90):
            raise ValueError("dec_deg must lie in [-90, 90]")

        names = list(filter_names)
        if filters is None:
            fmask = np.zeros(n, dtype=np.uint64)
        elif isinstance(filters, np.ndarray):
            fmask = filters.astype(np.uint64)
        else:
            for per_target in filters:
                for name in per_target:
                    if name not in names:
                        names.append(name)
            if len(names) > 64:
                raise ValueError("at most 64 distinct filter names fit the bitmask")
            bit = {name: 1 << i for i, name in enumerate(names)}
            fmask = np.array([sum(bit[f] for f in set(per_target)) for per_target in filters], dtype=np.uint64)

        if target_type is None:
            ttype = np.full(n, TARGET_TYPES.index("other"), dtype=np.int8)
        elif isinstance(target_type, np.ndarray) and target_type.dtype.kind in "iu":
            ttype = target_type.astype(np.int8)
        else:
            ttype = np.array([TARGET_TYPES.index(t or "other") for t in target_type], dtype=np.int8)

        order = np.argsort(dec, kind="stable")
        ra_s, dec_s = ra[order], dec[order]
        ra_r, dec_r = np.radians(ra_s), np.radians(dec_s)
        cos_dec = np.cos(dec_r)
        unit = np.ascontiguousarray(np.stack([cos_dec * np.cos(ra_r), cos_dec * np.sin(ra_r), np.sin(dec_r)]))

        ids_arr = np.asarray(list(ids), dtype=object)[order]
        rank_of_input = np.empty(n, dtype=np.intp)
        rank_of_input[order] = np.arange(n)

        w_row: list[int] = []
        w_start: list[float] = []
        w_end: list[float] = []
        w_boost: list[float] = []
        if windows is not None:
            for i, per_target in enumerate(windows):
                for start, end, boost in per_target or ():
                    w_row.append(int(rank_of_input[i]))
                    w_start.append(to_unix_s(start))
                    w_end.append(to_unix_s(end))
                    w_boost.append(float(boost if boost is not None else 0.0))

        def col(values: ArrayLike | None, default: float) -> FloatArray:
            return _float_column(values, n, default)[order]

        return cls(
            ids=ids_arr,
            ra_deg=ra_s,
            dec_deg=dec_s,
            magnitude=col(magnitude, np.nan),
            priority=col(priority, 1.0),
            filters=fmask[order],
            filter_names=tuple(names),
            min_altitude_deg=col(min_altitude_deg, np.nan),
            min_fov_arcmin=col(min_fov_arcmin, np.nan),
            target_type=ttype[order],
            cadence_hours=col(cadence_hours, np.nan),
            min_observations=col(min_observations, 0.0),
            exposure_sec=col(exposure_sec, np.nan),
            expires_at_s=_time_column(expires_at, n)[order],
            transit_epoch_bjd=col(transit_epoch_bjd, np.nan),
            transit_period_days=col(transit_period_days, np.nan),
            transit_duration_hours=col(transit_duration_hours, np.nan),
            window_row=np.array(w_row, dtype=np.intp),
            window_start_s=np.array(w_start, dtype=np.float64),
            window_end_s=np.array(w_end, dtype=np.float64),
            window_boost=np.array(w_boost, dtype=np.float64),
            unit_xyz=unit,
            input_order=order,
            _row_of_id={key: row for row, key in enumerate(ids_arr.tolist())},
        )

    def __len__(self) -> int:
        return int(self.ra_deg.shape[0])

    @property
    def has_transit_ephemeris(self) -> NDArray[np.bool_]:
        return np.isfinite(self.transit_epoch_bjd) & (self.transit_period_days > 0)

    def row_of(self, target_id: Any) -> int:
        """The row of one target id (KeyError if absent)."""
        return self._row_of_id[target_id]

    def rows_of(self, target_ids: Iterable[Any]) -> NDArray[np.intp]:
        """Rows of the given ids; ids not in the catalogue are skipped."""
        rows = [self._row_of_id.get(k) for k in target_ids]
        return np.array([r for r in rows if r is not None], dtype=np.intp)

    def align(self, values: Mapping[Any, Any], fill: float = np.nan) -> FloatArray:
        """A float array aligned with :attr:`ids` from ``{target_id: value}``.

        Datetimes become Unix seconds, so ``align({id: last_observed_at})``
        gives the array :class:`~targets.sky.ranking.RankContext` expects.
        """
        out = np.full(len(self), fill, dtype=np.float64)
        if not values:
            return out
        get = self._row_of_id.get
        rows = np.fromiter((get(k, -1) for k in values), dtype=np.intp, count=len(values))
        vals = np.fromiter(
            (
                np.nan if v is None else (v.timestamp() if isinstance(v, dt.datetime) else float(v))
                for v in values.values()
            ),
            dtype=np.float64,
            count=len(values),
        )
        if any(isinstance(v, dt.datetime) and v.tzinfo is None for v in values.values()):
            raise ValueError("naive datetime: times must carry an explicit UTC offset")
        keep = (rows >= 0) & ~np.isnan(vals)
        out[rows[keep]] = vals[keep]
        return out

    def dec_slice(self, latitude_deg: float, min_altitude_deg: float, margin_deg: float = 1.0) -> slice:
        """Rows that can ever reach ``min_altitude_deg`` at ``latitude_deg``.

        A star culminates at 90° - |φ - δ|, so it can reach altitude h only if
        |φ - δ| ≤ 90° - h.  The margin covers precession since J2000 and the
        difference between geodetic and astronomical latitude.
        """
        reach = 90.0 - min_altitude_deg + margin_deg
        lo = int(np.searchsorted(self.dec_deg, latitude_deg - reach, side="left"))
        hi = int(np.searchsorted(self.dec_deg, latitude_deg + reach, side="right"))
        return slice(lo, hi)
