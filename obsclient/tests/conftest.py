"""Shared fixtures. The tests run against the working tree (src/ first on the path), installed or not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for path in (HERE.parent / "src", HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from fakeserver import FakeServer  # noqa: E402


@pytest.fixture
def fake_server():
    server = FakeServer()
    server.start()
    yield server
    server.stop()


def write_config(tmp_path: Path, url: str, **overrides: object) -> Path:
    """A valid configuration for a simulated site at La Palma, with overrides by dotted key."""
    import yaml

    data: dict = {
        "server": {"url": url, "api_key": "k" * 43},
        "site": {
            "site_id": "11111111-1111-1111-1111-111111111111",
            "name": "Test site",
            "latitude": 28.76,
            "longitude": -17.88,
            "elevation_m": 2326,
            "telescope": "Test 200mm",
            "instrument": "Test CMOS",
            "aperture_mm": 200,
            "focal_length_mm": 1000,
            "filters": ["V", "R"],
            "min_altitude_deg": 20,
        },
        "driver": {"kind": "simulator", "simulator": {"realtime": False, "seed": 1, "width_px": 256, "height_px": 256}},
        "observing": {"settle_sec": 0, "max_sun_altitude_deg": 90},
        "safety": {"safe_for_sec": 0},
        "upload": {"backoff_base_sec": 1, "backoff_max_sec": 8},
        "data_dir": str(tmp_path / "data"),
    }
    for dotted, value in overrides.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    path = tmp_path / "obsclient.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path
