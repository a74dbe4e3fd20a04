"""Receiving FITS frames: stream to a temporary file, check it is a real FITS image, store it.

Pure of Django models; the storage is passed in. A frame is read from the request in chunks and never held
twice in memory, so a 60-megapixel 16-bit frame (~120 MB) goes through.
"""

import gzip
import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

CHUNK_BYTES = 1024 * 1024
FITS_MEDIA_TYPES = {"application/fits", "image/fits", "application/x-fits"}
GZIP_MAGIC = b"\x1f\x8b"

# A frame needs a time and an exposure; any one of these spellings will do.
TIME_KEYWORDS = ("DATE-OBS", "DATE-AVG", "DATE-BEG", "MJD-OBS", "MJD-AVG", "JD", "JD-OBS")
EXPOSURE_KEYWORDS = ("EXPTIME", "EXPOSURE", "EXP_TIME", "ITIME")
FILTER_KEYWORDS = ("FILTER", "FILTER1", "FILTNAME", "FILT")


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
    return ReceivedFrame(path=path, size_bytes=size, sha256=digest.hexdigest(), gzipped=first == GZIP_MAGIC)


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


def inspect_fits(frame: ReceivedFrame, *, filter_known: bool = False) -> ReceivedFrame:
    """Check the file is a FITS with 2-D image data and the keywords a frame needs; fill in its header.

    Raises NotAFitsImage naming what is wrong or missing.
    """
    with open(frame.path, "rb") as raw:
        head = raw.read(2)
    if head == GZIP_MAGIC:
        try:
            with gzip.open(frame.path, "rb") as gz:
                start = gz.read(30)
        except OSError as exc:
            raise NotAFitsImage(f"The gzip stream is corrupt: {exc}.") from exc
    else:
        with open(frame.path, "rb") as raw:
            start = raw.read(30)
    if not start.startswith(b"SIMPLE  =") or b"T" not in start[9:30]:
        raise NotAFitsImage("Not a FITS file: it does not start with a 'SIMPLE  = T' card.")
    try:
        with fits.open(frame.path, memmap=False, lazy_load_hdus=True) as hdul:
            image_hdu = None
            for hdu in hdul:
                if isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
                    naxis = hdu.header.get("ZNAXIS", hdu.header.get("NAXIS", 0))
                    if naxis >= 2:
                        image_hdu = hdu
                        break
            if image_hdu is None:
                raise NotAFitsImage("The FITS file has no HDU with 2-D image data.")
            header = image_hdu.header
            shape = tuple(image_hdu.shape)
            # Touch the data so a truncated file fails here, not in the pipeline.
            data = image_hdu.data
            if data is None or data.size == 0:
                raise NotAFitsImage("The image HDU holds no data.")
            merged = fits.Header(hdul[0].header) if image_hdu is not hdul[0] else fits.Header()
            merged.update(header)
    except NotAFitsImage:
        raise
    except (OSError, ValueError, TypeError, IndexError, EOFError) as exc:
        raise NotAFitsImage(f"The FITS file cannot be read: {exc}.") from exc

    missing = []
    if not any(k in merged for k in TIME_KEYWORDS):
        missing.append("DATE-OBS (or DATE-AVG, MJD-OBS, JD)")
    if not any(k in merged for k in EXPOSURE_KEYWORDS):
        missing.append("EXPTIME (or EXPOSURE)")
    if not filter_known and not any(k in merged for k in FILTER_KEYWORDS):
        missing.append("FILTER")
    if missing:
        raise NotAFitsImage("The frame lacks keywords it needs: " + ", ".join(missing) + ".")
    frame.header = _header_to_json(merged)
    frame.shape = shape
    return frame
