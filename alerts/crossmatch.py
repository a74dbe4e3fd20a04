"""Crossmatch positions against the target catalogue without database extensions.

The sky is cut into *cells*: declination bands ``cell_deg`` high, each band cut in RA into cells about
``cell_deg`` wide (fewer towards the poles), numbered from the south pole. A cell number is a plain integer:

- store ``sky_cell(ra, dec)`` on each target (an indexed integer column);
- before a cone search, prefilter with ``cell_ranges(ra, dec, radius)``: a few inclusive ``(lo, hi)`` ranges,
  one per declination band (two where the cone crosses RA 0), i.e. ``WHERE sky_cell BETWEEN lo AND hi OR ...``
  — a B-tree range scan that SQLite and PostgreSQL both do well; then compute exact separations.

:class:`SkyIndex` is the same scheme in memory (targets sorted by cell, numpy over the few candidate slices),
for matching a burst of alerts against the whole catalogue. Changing ``cell_deg`` changes every cell number:
the stored column must then be recomputed (keep the default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

DEFAULT_CELL_DEG = 0.5


@dataclass(frozen=True, slots=True)
class CellGrid:
    """The band/cell layout for one cell size."""

    cell_deg: float
    n_bands: int
    n_ra: NDArray[np.int64]  # cells per band
    offset: NDArray[np.int64]  # first cell number of each band

    @property
    def n_cells(self) -> int:
        return int(self.offset[-1] + self.n_ra[-1])


_GRIDS: dict[float, CellGrid] = {}


def grid(cell_deg: float = DEFAULT_CELL_DEG) -> CellGrid:
    if not 0.001 <= cell_deg <= 30:
        raise ValueError("cell_deg must be between 0.001 and 30 degrees")
    g = _GRIDS.get(cell_deg)
    if g is None:
        n_bands = math.ceil(180.0 / cell_deg)
        edges = -90.0 + cell_deg * np.arange(n_bands + 1)
        edges[-1] = 90.0
        # A band's cells are as wide as its widest latitude (nearest the equator) needs.
        widest = np.where((edges[:-1] < 0) & (edges[1:] > 0), 0.0, np.minimum(np.abs(edges[:-1]), np.abs(edges[1:])))
        n_ra = np.maximum(1, np.floor(360.0 * np.cos(np.radians(widest)) / cell_deg)).astype(np.int64)
        offset = np.concatenate([[0], np.cumsum(n_ra)[:-1]]).astype(np.int64)
        g = CellGrid(cell_deg=cell_deg, n_bands=n_bands, n_ra=n_ra, offset=offset)
        _GRIDS[cell_deg] = g
    return g


def _band(dec: NDArray[np.float64], g: CellGrid) -> NDArray[np.int64]:
    return np.clip(np.floor((dec + 90.0) / g.cell_deg), 0, g.n_bands - 1).astype(np.int64)


def sky_cells(ra_deg: ArrayLike, dec_deg: ArrayLike, cell_deg: float = DEFAULT_CELL_DEG) -> NDArray[np.int64]:
    """Cell numbers of many positions (vectorised)."""
    g = grid(cell_deg)
    ra = np.mod(np.asarray(ra_deg, dtype=np.float64), 360.0)
    dec = np.asarray(dec_deg, dtype=np.float64)
    band = _band(dec, g)
    n = g.n_ra[band]
    ra_idx = np.minimum(np.floor(ra / 360.0 * n).astype(np.int64), n - 1)
    return g.offset[band] + ra_idx


def sky_cell(ra_deg: float, dec_deg: float, cell_deg: float = DEFAULT_CELL_DEG) -> int:
    """The integer cell of one position: the value to store in a target's ``sky_cell`` column."""
    if not (math.isfinite(ra_deg) and math.isfinite(dec_deg)) or not -90 <= dec_deg <= 90:
        raise ValueError("ra_deg/dec_deg must be finite, with -90 <= dec_deg <= 90")
    return int(sky_cells([ra_deg], [dec_deg], cell_deg)[0])


def cell_ranges(
    ra_deg: float, dec_deg: float, radius_deg: float, cell_deg: float = DEFAULT_CELL_DEG
) -> list[tuple[int, int]]:
    """Inclusive ranges of cell numbers that together cover the cone; sorted, non-overlapping."""
    if not radius_deg >= 0:
        raise ValueError("radius_deg must be >= 0")
    g = grid(cell_deg)
    ra0 = ra_deg % 360.0
    pad = 1e-9  # float rounding at cell edges
    lo_dec, hi_dec = dec_deg - radius_deg - pad, dec_deg + radius_deg + pad
    b_lo = int(_band(np.array([max(lo_dec, -90.0)]), g)[0])
    b_hi = int(_band(np.array([min(hi_dec, 90.0)]), g)[0])
    if lo_dec <= -90 or hi_dec >= 90 or radius_deg >= 90:
        half_width = 180.0  # the cone holds a pole: every RA
    else:
        s = math.sin(math.radians(radius_deg)) / math.cos(math.radians(dec_deg))
        half_width = 180.0 if s >= 1 else math.degrees(math.asin(s)) + pad
    ranges: list[tuple[int, int]] = []
    for band in range(b_lo, b_hi + 1):
        n = int(g.n_ra[band])
        base = int(g.offset[band])
        if half_width >= 180.0 or n == 1:
            ranges.append((base, base + n - 1))
            continue
        width = 360.0 / n
        start = math.floor((ra0 - half_width) / width)
        stop = math.floor((ra0 + half_width) / width)
        if stop - start + 1 >= n:
            ranges.append((base, base + n - 1))
        elif start < 0:
            ranges.append((base, base + stop))
            ranges.append((base + n + start, base + n - 1))
        elif stop >= n:
            ranges.append((base, base + stop - n))
            ranges.append((base + start, base + n - 1))
        else:
            ranges.append((base + start, base + stop))
    ranges.sort()
    return ranges


def cells_within(ra_deg: float, dec_deg: float, radius_deg: float, cell_deg: float = DEFAULT_CELL_DEG) -> list[int]:
    """Every cell number covering the cone (for ``sky_cell IN (...)``; prefer :func:`cell_ranges`)."""
    return [c for lo, hi in cell_ranges(ra_deg, dec_deg, radius_deg, cell_deg) for c in range(lo, hi + 1)]


def _unit(ra_deg: NDArray[np.float64], dec_deg: NDArray[np.float64]) -> NDArray[np.float64]:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cos_dec = np.cos(dec)
    return np.stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)], axis=-1)


def _chord2_to_deg(chord2: NDArray[np.float64] | float) -> NDArray[np.float64]:
    # θ = 2·asin(c/2) keeps full precision at milliarcsecond separations, unlike acos of a dot product.
    return np.degrees(2.0 * np.arcsin(np.minimum(np.sqrt(chord2) / 2.0, 1.0)))


def angular_separation_deg(ra1: ArrayLike, dec1: ArrayLike, ra2: ArrayLike, dec2: ArrayLike) -> NDArray[np.float64]:
    a = _unit(np.asarray(ra1, dtype=np.float64), np.asarray(dec1, dtype=np.float64))
    b = _unit(np.asarray(ra2, dtype=np.float64), np.asarray(dec2, dtype=np.float64))
    return _chord2_to_deg(np.sum((a - b) ** 2, axis=-1))


class SkyIndex:
    """In-memory cone search over fixed positions (e.g. every active target).

    >>> idx = SkyIndex([10.0, 200.0], [-5.0, 40.0])
    >>> idx.nearest(10.0001, -5.0, radius_deg=0.01)[0]
    0
    """

    def __init__(self, ra_deg: ArrayLike, dec_deg: ArrayLike, cell_deg: float = DEFAULT_CELL_DEG) -> None:
        ra = np.mod(np.asarray(ra_deg, dtype=np.float64).ravel(), 360.0)
        dec = np.asarray(dec_deg, dtype=np.float64).ravel()
        if ra.shape != dec.shape:
            raise ValueError("ra_deg and dec_deg must have the same length")
        if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec)) and np.all(np.abs(dec) <= 90)):
            raise ValueError("positions must be finite, with -90 <= dec <= 90")
        self.cell_deg = cell_deg
        self._grid = grid(cell_deg)
        cells = sky_cells(ra, dec, cell_deg)
        order = np.argsort(cells, kind="stable")
        self._order = order  # sorted position → caller's index
        self._xyz = np.ascontiguousarray(_unit(ra[order], dec[order]))
        # _starts[c] = first sorted position of cell c; cells are contiguous after sorting
        self._starts = np.searchsorted(cells[order], np.arange(self._grid.n_cells + 1), side="left")
        self.size = int(ra.size)

    def __len__(self) -> int:
        return self.size

    def _candidates(self, ra: float, dec: float, radius: float) -> NDArray[np.int64]:
        parts = []
        for lo, hi in cell_ranges(ra, dec, radius, self.cell_deg):
            s, e = self._starts[lo], self._starts[hi + 1]
            if e > s:
                parts.append(np.arange(s, e))
        if not parts:
            return np.empty(0, dtype=np.int64)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def within(self, ra_deg: float, dec_deg: float, radius_deg: float) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """All indices within the radius and their separations (degrees), nearest first."""
        _check_query(ra_deg, dec_deg, radius_deg)
        cand = self._candidates(ra_deg, dec_deg, radius_deg)
        if cand.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        q = _unit(np.array(ra_deg), np.array(dec_deg))
        sep = _chord2_to_deg(np.sum((self._xyz[cand] - q) ** 2, axis=1))
        keep = sep <= radius_deg
        sep, cand = sep[keep], cand[keep]
        order = np.argsort(sep, kind="stable")
        return self._order[cand[order]], sep[order]

    def nearest(self, ra_deg: float, dec_deg: float, radius_deg: float) -> tuple[int, float] | None:
        """``(index, separation_deg)`` of the nearest position within ``radius_deg``, or None."""
        _check_query(ra_deg, dec_deg, radius_deg)
        cand = self._candidates(ra_deg, dec_deg, radius_deg)
        if cand.size == 0:
            return None
        q = _unit(np.array(ra_deg), np.array(dec_deg))
        d2 = np.sum((self._xyz[cand] - q) ** 2, axis=1)
        best = int(np.argmin(d2))
        sep = float(_chord2_to_deg(d2[best]))
        if sep > radius_deg:
            return None
        return int(self._order[cand[best]]), sep

    def nearest_many(
        self, ra_deg: ArrayLike, dec_deg: ArrayLike, radius_deg: float | ArrayLike
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Batch :meth:`nearest`: index per query (−1 where nothing is within the radius) and separation
        (NaN there)."""
        ras = np.asarray(ra_deg, dtype=np.float64).ravel()
        decs = np.asarray(dec_deg, dtype=np.float64).ravel()
        radii = np.broadcast_to(np.asarray(radius_deg, dtype=np.float64), ras.shape)
        out_idx = np.full(ras.shape, -1, dtype=np.int64)
        out_sep = np.full(ras.shape, np.nan)
        for i in range(ras.size):
            hit = self.nearest(float(ras[i]), float(decs[i]), float(radii[i]))
            if hit is not None:
                out_idx[i], out_sep[i] = hit
        return out_idx, out_sep


def _check_query(ra: float, dec: float, radius: float) -> None:
    if not (math.isfinite(ra) and math.isfinite(dec) and -90 <= dec <= 90):
        raise ValueError("query position must be finite, with -90 <= dec <= 90")
    if not (math.isfinite(radius) and 0 <= radius <= 180):
        raise ValueError("radius_deg must be between 0 and 180")


def brute_force_nearest(
    ra_deg: Sequence[float] | NDArray[np.float64],
    dec_deg: Sequence[float] | NDArray[np.float64],
    ra: float,
    dec: float,
    radius_deg: float,
) -> tuple[int, float] | None:
    """Reference implementation (a full numpy scan); used by tests and the benchmark."""
    xyz = _unit(np.asarray(ra_deg, dtype=np.float64), np.asarray(dec_deg, dtype=np.float64))
    q = _unit(np.array(ra), np.array(dec))
    d2 = np.sum((xyz - q) ** 2, axis=1)
    best = int(np.argmin(d2))
    sep = float(_chord2_to_deg(d2[best]))
    return (best, sep) if sep <= radius_deg else None
