"""The sky-cell index finds exactly what a full scan finds, at the poles and across RA 0 too."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.crossmatch import (
    SkyIndex,
    angular_separation_deg,
    brute_force_nearest,
    cell_ranges,
    cells_within,
    grid,
    sky_cell,
    sky_cells,
)

RNG = np.random.default_rng(20261125)
N = 20_000
RA = RNG.uniform(0, 360, N)
DEC = np.degrees(np.arcsin(RNG.uniform(-1, 1, N)))
# crowd the awkward places: both poles and both sides of RA 0
RA[:200], DEC[:200] = RNG.uniform(0, 360, 200), RNG.uniform(89.0, 90.0, 200)
RA[200:400], DEC[200:400] = RNG.uniform(0, 360, 200), RNG.uniform(-90.0, -89.0, 200)
RA[400:600], DEC[400:600] = np.mod(RNG.uniform(-0.5, 0.5, 200), 360), RNG.uniform(-1, 1, 200)
INDEX = SkyIndex(RA, DEC)


def test_nearest_finds_the_target_it_was_built_from():
    hit = INDEX.nearest(RA[1234] + 1e-6, DEC[1234], 1 / 3600)
    assert hit is not None
    assert hit[0] == 1234
    assert hit[1] == pytest.approx(1e-6 * np.cos(np.radians(DEC[1234])), rel=1e-4)


def test_nothing_within_radius_is_none():
    idx = SkyIndex([10.0], [10.0])
    assert idx.nearest(10.0, 10.02, 0.01) is None
    assert idx.nearest(10.0, 10.02, 0.03)[0] == 0


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(
    st.floats(0, 360, exclude_max=True),
    st.floats(-90, 90) | st.sampled_from([-90.0, 90.0, -89.99, 89.99, 0.0]),
    st.sampled_from([1 / 3600, 0.01, 0.1, 0.5, 1.0, 3.0, 10.0]),
)
def test_index_agrees_with_brute_force(ra, dec, radius):
    got = INDEX.nearest(ra, dec, radius)
    want = brute_force_nearest(RA, DEC, ra, dec, radius)
    if want is None:
        assert got is None
    else:
        assert got is not None
        assert got[1] == pytest.approx(want[1], abs=1e-12)


@settings(max_examples=100, deadline=None, database=None, derandomize=True)
@given(st.floats(0, 360, exclude_max=True), st.floats(-90, 90), st.sampled_from([0.05, 0.7, 2.5]))
def test_within_returns_every_target_in_the_cone(ra, dec, radius):
    found, seps = INDEX.within(ra, dec, radius)
    all_seps = angular_separation_deg(RA, DEC, ra, dec)
    assert set(found.tolist()) == set(np.flatnonzero(all_seps <= radius).tolist())
    assert np.all(np.diff(seps) >= 0)


def test_cell_ranges_cover_every_cell_of_points_in_the_cone():
    for ra, dec, radius in [
        (0.1, 0.0, 1.0),
        (359.9, 45.0, 2.0),
        (180.0, 89.7, 0.5),
        (10.0, -89.9, 0.2),
        (123.4, -33.3, 0.001),
        (50.0, 60.0, 15.0),
    ]:
        ranges = cell_ranges(ra, dec, radius)
        seps = angular_separation_deg(RA, DEC, ra, dec)
        inside = sky_cells(RA[seps <= radius], DEC[seps <= radius])
        covered = np.zeros(inside.size, dtype=bool)
        for lo, hi in ranges:
            covered |= (inside >= lo) & (inside <= hi)
        assert covered.all()
        assert all(lo <= hi for lo, hi in ranges)
        assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))


def test_cells_are_small_integers_and_stable():
    g = grid()
    assert g.n_cells < 2**31  # fits an ordinary INTEGER column
    assert sky_cell(0.0, -90.0) == 0
    assert sky_cell(359.999999, 90.0) == g.n_cells - 1
    assert sky_cell(97.6366, 29.6723) == int(sky_cells([97.6366], [29.6723])[0])
    assert sky_cell(360.0, 10.0) == sky_cell(0.0, 10.0)


def test_small_cone_needs_few_cells():
    assert len(cells_within(150.0, 2.0, 2 / 3600)) <= 4
    assert len(cell_ranges(150.0, 2.0, 0.1)) <= 2


def test_batch_query_matches_single_queries():
    q_ra, q_dec = RA[:50] + 1e-5, DEC[:50]
    idx, sep = INDEX.nearest_many(q_ra, q_dec, 0.001)
    for i in range(50):
        single = INDEX.nearest(float(q_ra[i]), float(q_dec[i]), 0.001)
        assert idx[i] == single[0] and sep[i] == pytest.approx(single[1])
    idx, sep = INDEX.nearest_many([1.0], [1.0], 0.0)
    assert idx[0] in (-1, *INDEX.within(1.0, 1.0, 0.0)[0].tolist())


def test_bad_positions_are_rejected():
    with pytest.raises(ValueError, match="dec"):
        SkyIndex([1.0], [91.0])
    with pytest.raises(ValueError, match="radius"):
        INDEX.nearest(1.0, 1.0, -1.0)
    with pytest.raises(ValueError, match="finite"):
        sky_cell(float("nan"), 0.0)


def test_empty_index():
    idx = SkyIndex([], [])
    assert len(idx) == 0
    assert idx.nearest(1.0, 2.0, 5.0) is None
