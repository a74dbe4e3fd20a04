"""Receiving FITS frames: stream to a temporary file, check it is a real FITS image (pipeline.frames).

No Django here. A frame is read from the request in chunks and never held
twice in memory, so a 60-megapixel 16-bit frame (~120 MB) goes through.
"""

import gzip
import hashlib
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from pipeline.frames import FrameError, check_fits

CHUNK_BYTES = 1024 * 1024
FITS_MEDIA_TYPES = {"application/fits", "image/fits", "application/x-fits"}
GZIP_MAGIC = b"\x1f\x8b"


class FrameTooLarge(Exception):
    pass


class NotAFitsImage(ValueError):
    pass


@dataclass
class ReceivedFrame:
    path: Path
    size_bytes: int
    sha256: str
    gzipped: bool
    header: dict = field(default_factory=dict)
    shape: tuple[int, ...] = ()


def stream_to_tempfile(stream, *, max_bytes: int, directory: str | None = None) -> ReceivedFrame:
    """Copy a request body to a temporary file, hashing it on the way; raise FrameTooLarge past `max_bytes`."""
    digest = hashlib.sha256()
    size = 0
    handle = tempfile.NamedTemporaryFile(prefix="frame-", suffix=".fits", dir=directory, delete=False)  # noqa: SIM115 (kept after return)
    path = Path(handle.name)
    first = b""
    try:
        with handle:
            while True:
                chunk = stream.read(CHUNK_BYTES)
                if not chunk:
                    break
                if not first:
                    first = chunk[:2]
                size += len(chunk)
                if size > max_bytes:
                    raise FrameTooLarge(f"The frame is over the limit of {max_bytes} bytes.")
                digest.update(chunk)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    gzipped = first == GZIP_MAGIC
    # Identity is the FITS content: the same frame gzipped twice (other timestamps, levels) is the same frame.
    sha256 = _gunzipped_sha256(path) if gzipped else digest.hexdigest()
    return ReceivedFrame(path=path, size_bytes=size, sha256=sha256, gzipped=gzipped)


def _gunzipped_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
                digest.update(chunk)
    except (OSError, EOFError):
        # A broken gzip stream: inspect_fits will refuse it; any stable identity will do until then.
        with open(path, "rb") as raw:
            return hashlib.file_digest(raw, "sha256").hexdigest()
    return digest.hexdigest()


def _header_to_json(header: fits.Header) -> dict:
    out: dict = {}
    for card in header.cards:
        key = card.keyword
        if not key or key in ("COMMENT", "HISTORY", "") or key in out:
            continue
        value = card.value
        if isinstance(value, bool | int | str):
            out[key] = value
        elif isinstance(value, float):
            out[key] = value if np.isfinite(value) else None
        elif value is None or isinstance(value, fits.card.Undefined):
            out[key] = None
        else:
            out[key] = str(value)
    return out


def inspect_fits(frame: ReceivedFrame, *, filter_known: bool = False, require_keywords: bool = True) -> ReceivedFrame:
    """Check the file is a FITS with complete image data and the keywords a frame needs; fill in its header.

    Raises NotAFitsImage naming what is wrong or missing. FILTER may be absent when the observation says it.
    """
    try:
        check = check_fits(frame.path, require_keywords=False)
    except FrameError as exc:
        raise NotAFitsImage(f"Not a valid FITS image: {exc}.") from exc
    missing = [k for k in check.missing_keywords if not (filter_known and k == "FILTER")]
    if require_keywords and missing:
        raise NotAFitsImage("The frame lacks keywords it needs: " + ", ".join(missing) + ".")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        header = fits.getheader(frame.path, ext=check.hdu_index)
        if check.hdu_index:
            merged = fits.getheader(frame.path, ext=0)
            merged.update(header)
            header = merged
    frame.header = _header_to_json(header)
    frame.shape = check.shape
    return frame
