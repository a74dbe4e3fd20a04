"""Pipeline tests run offline and without Django: astropy must never try to download IERS tables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from astropy.utils import iers

iers.conf.auto_download = False
iers.conf.auto_max_age = None

SHARED_DATA = Path(os.environ.get("PIPELINE_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
FIXTURES = Path(__file__).resolve().parent / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data (files without a licence that allows copying them here); skip cleanly when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not present at {SHARED_DATA}")
    return SHARED_DATA
