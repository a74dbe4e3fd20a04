"""Preview PNGs of a frame: zscale stretch (IRAF's display limits), greyscale, north not rotated (pixel order).

Written with matplotlib's PNG writer (Agg, no display needed); a 2048x2048 frame is block-averaged to at most
`max_size_pix` on its long side first, so a preview costs tens of milliseconds.
"""

from __future__ import annotations

import io

import numpy as np
from astropy.visualization import ZScaleInterval

PREVIEW_MAX_PIX = 1024
THUMBNAIL_MAX_PIX = 256


def _block_reduce(data: np.ndarray, max_size_pix: int) -> np.ndarray:
    factor = int(np.ceil(max(data.shape) / max_size_pix))
    if factor <= 1:
        return data
    ny, nx = (data.shape[0] // factor) * factor, (data.shape[1] // factor) * factor
    return data[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor).mean(axis=(1, 3))


def render_png(data: np.ndarray, *, max_size_pix: int = PREVIEW_MAX_PIX) -> bytes:
    """An 8-bit greyscale PNG of the frame, zscale-stretched, row 0 at the bottom (FITS/astronomy convention)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import image as mpimg

    small = _block_reduce(np.nan_to_num(np.asarray(data, dtype=np.float32)), max_size_pix)
    vmin, vmax = ZScaleInterval().get_limits(small)
    if vmax <= vmin:
        vmax = vmin + 1.0
    scaled = np.clip((small - vmin) / (vmax - vmin), 0.0, 1.0)
    buf = io.BytesIO()
    mpimg.imsave(buf, scaled, cmap="gray", vmin=0.0, vmax=1.0, origin="lower", format="png")
    return buf.getvalue()


def render_previews(data: np.ndarray) -> tuple[bytes, bytes]:
    """(preview PNG, thumbnail PNG)."""
    return render_png(data, max_size_pix=PREVIEW_MAX_PIX), render_png(data, max_size_pix=THUMBNAIL_MAX_PIX)
