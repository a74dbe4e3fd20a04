"""Merging sites' points, solving site offsets, and the export formats."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table

from pipeline.lightcurve import (
    CSV_COLUMNS,
    LightCurvePoint,
    apply_site_offsets,
    merge_points,
    point_from_observation,
    solve_site_offsets,
    to_aavso_extended,
    to_csv,
    to_fits_bytes,
    to_votable_bytes,
    validate_aavso_extended,
)

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def _obs(i: int, site: str, mag: float, *, pipeline_mag: float | None = None, minutes: float = 0.0) -> dict:
    obs = {
        "observation_id": f"{site}-{i}",
        "site_id": site,
        "filter": "V",
        "airmass": 1.2,
        "observed_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "photometry": {"magnitude": mag, "error": 0.02, "comparison_stars": ["C1"]},
        "quality_flags": [],
    }
    if pipeline_mag is not None:
        obs["pipeline"] = {
            "state": "done",
            "photometry": {
                "magnitude": pipeline_mag,
                "error": 0.01,
                "calibrated": True,
                "comparison_stars": ["C1", "C2"],
            },
            "quality_flags": ["poor_seeing"],
            "metadata": {"bjd_tdb": 2461367.7},
        }
    return obs


def test_pipeline_photometry_is_preferred_over_the_clients_and_says_so():
    p = point_from_observation(_obs(1, "A", 12.30, pipeline_mag=12.25))
    assert (p.magnitude, p.source, p.quality_flags, p.bjd_tdb) == (12.25, "pipeline", ["poor_seeing"], 2461367.7)
    assert p.comparison_name == "ENSEMBLE"
    q = point_from_observation(_obs(2, "A", 12.30))
    assert (q.magnitude, q.source) == (12.30, "client")
    pending = _obs(3, "A", 12.31, pipeline_mag=12.2)
    pending["pipeline"]["state"] = "processing"
    assert point_from_observation(pending).source == "client"


def test_observations_without_photometry_are_left_out_and_points_are_time_ordered():
    none = _obs(1, "A", 12.0)
    none["photometry"] = None
    pts = merge_points([_obs(2, "B", 12.1, minutes=10), none, _obs(3, "A", 12.2, minutes=5)])
    assert [p.observation_id for p in pts] == ["A-3", "B-2"]


def test_naive_timestamps_are_refused():
    bad = _obs(1, "A", 12.0)
    bad["observed_at"] = "2026-11-23T04:00:00"
    with pytest.raises(ValueError, match="UTC offset"):
        point_from_observation(bad)


def _variable_star_points(offsets: dict[str, float], seed: int = 0, overlap: bool = True) -> list[LightCurvePoint]:
    """A sinusoidal variable observed by several sites, each with its own zero-point offset."""
    rng = np.random.default_rng(seed)
    pts = []
    for s_i, (site, off) in enumerate(offsets.items()):
        for k in range(40):
            minutes = k * 10.0 + (0 if overlap else 5000 * s_i)
            true = 12.0 + 0.3 * np.sin(minutes / 60.0)
            pts.append(
                LightCurvePoint(
                    observed_at=T0 + timedelta(minutes=minutes),
                    bjd_tdb=None,
                    magnitude=true + off + rng.normal(0, 0.005),
                    error=0.005,
                    filter="V",
                    site_id=site,
                    observation_id=f"{site}{k}",
                    source="pipeline",
                    calibrated=site == "A",
                )
            )
    return pts


def test_site_offsets_are_solved_on_overlapping_epochs_so_sites_line_up():
    pts = _variable_star_points({"A": 0.0, "B": 0.12, "C": -0.07})
    offsets = solve_site_offsets(pts)
    assert offsets[("A", "V")].method == "reference"  # the site with calibrated points keeps the scale
    assert offsets[("B", "V")].offset_mag == pytest.approx(0.12, abs=0.005)
    assert offsets[("C", "V")].offset_mag == pytest.approx(-0.07, abs=0.005)
    assert offsets[("B", "V")].method == "overlap"
    fixed = apply_site_offsets(pts, offsets)
    by_time: dict = {}
    for p in fixed:
        by_time.setdefault(p.observed_at, []).append(p.magnitude)
    spread = [max(v) - min(v) for v in by_time.values() if len(v) == 3]
    assert np.median(spread) < 0.02


def test_sites_that_never_overlap_fall_back_to_median_levels():
    offsets = solve_site_offsets(_variable_star_points({"A": 0.0, "B": 0.2}, overlap=False))
    assert offsets[("B", "V")].method == "median"
    assert offsets[("B", "V")].offset_mag == pytest.approx(0.2, abs=0.05)


def _points() -> list[LightCurvePoint]:
    return merge_points([_obs(1, "A", 12.3, pipeline_mag=12.25), _obs(2, "B", 12.4, minutes=3)])


def test_csv_has_the_api_point_columns():
    rows = list(csv.DictReader(io.StringIO(to_csv(_points()))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["observed_at"] == "2026-11-23T04:00:00.000Z"
    assert rows[0]["source"] == "pipeline" and rows[0]["quality_flags"] == "poor_seeing"


def test_aavso_extended_export_validates_against_the_specification():
    text = to_aavso_extended(_points(), star_name="SS Cyg", obscode="TST01")
    assert validate_aavso_extended(text) == []
    lines = text.splitlines()
    assert lines[:6] == [
        "#TYPE=EXTENDED",
        "#OBSCODE=TST01",
        "#SOFTWARE=telescope-network pipeline",
        "#DELIM=,",
        "#DATE=JD",
        "#OBSTYPE=CCD",
    ]
    first = lines[7].split(",")
    assert first[0] == "SS Cyg" and float(first[1]) == pytest.approx(2461367.6666667, abs=1e-6)
    assert first[4:7] == ["V", "NO", "STD"]
    assert first[7:9] == ["ENSEMBLE", "na"]
    assert len(first) == 15


def test_aavso_validator_catches_broken_files():
    broken = "#TYPE=EXTENDED\n#OBSCODE=\n#DELIM=,\n#DATE=JD\nSS Cyg,abc,12.1,na,V,MAYBE,STD,na,na,na,na,na,na,na\n"
    errors = validate_aavso_extended(broken)
    assert any("OBSCODE" in e for e in errors)
    assert any("SOFTWARE" in e for e in errors)
    assert any("14 fields" in e for e in errors)


def test_votable_and_fits_tables_round_trip():
    pts = _points()
    vt = parse_single_table(io.BytesIO(to_votable_bytes(pts, target_name="SS Cyg"))).to_table()
    assert list(vt["magnitude"]) == pytest.approx([12.25, 12.4])
    with fits.open(io.BytesIO(to_fits_bytes(pts, target_name="SS Cyg"))) as hdul:
        assert list(hdul[1].data["site_id"]) == ["A", "B"]
        assert hdul[1].header["OBJECT"] == "SS Cyg"
