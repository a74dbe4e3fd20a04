"""A site's horizon: azimuth → minimum altitude, interpolated linearly, wrapping at 360°."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


class HorizonMask:
    """The lowest usable altitude at each azimuth (deg, azimuth north through east).

    Built from ``[[az, alt], ...]`` points as the API takes them.  Between
    points the limit is linear in azimuth, and the segment from the last point
    to the first crosses north (360° → 0°).  No points means no mask (-90°).
    """

    def __init__(self, points: Sequence[Sequence[float]] | None = None) -> None:
        pts = np.asarray(points if points else [], dtype=np.float64).reshape(-1, 2)
        if pts.size and not (np.all(np.isfinite(pts)) and np.all(np.abs(pts[:, 1]) <= 90)):
            raise ValueError("horizon points must be finite [azimuth_deg, altitude_deg] with |altitude| <= 90")
        az = pts[:, 0] % 360.0
        order = np.argsort(az, kind="stable")
        self._az = az[order]
        self._alt = pts[order, 1]
        # The table once more on either side, so plain (fast) np.interp wraps through north.
        self._az_ext = np.concatenate([self._az - 360.0, self._az, self._az + 360.0])
        self._alt_ext = np.concatenate([self._alt, self._alt, self._alt])
        self.max_deg = float(self._alt.max()) if self._alt.size else -90.0
        self.min_deg = float(self._alt.min()) if self._alt.size else -90.0

    def __bool__(self) -> bool:
        return bool(self._az.size)

    def altitude_deg(self, azimuth_deg: ArrayLike) -> FloatArray:
        """The mask's altitude at each azimuth."""
        az = np.asarray(azimuth_deg, dtype=np.float64)
        if not self._az.size:
            return np.full(az.shape, -90.0)
        if self._az.size == 1:
            return np.full(az.shape, self._alt[0])
        return np.interp(az % 360.0, self._az_ext, self._alt_ext)

    def limit_deg(self, azimuth_deg: ArrayLike, min_altitude_deg: float | ArrayLike) -> FloatArray:
        """The effective limit: max(min_altitude_deg, mask(azimuth))."""
        return np.maximum(np.asarray(min_altitude_deg, dtype=np.float64), self.altitude_deg(azimuth_deg))
