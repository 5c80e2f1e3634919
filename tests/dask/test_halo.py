"""Partition halos (geocluster.weights.halo) and spatial tiles (geocluster.weights.tiles):
every query of a radius sees, on core + halo, exactly the points it sees over all points,
in the edge cases of partitioning and of re-blocking in tiles.

The references are brute force over all points (scipy's KD-tree of every point, and the
in-memory knn answer of geocluster.weights.partitioned.tie_breaking_query).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from geocluster.weights import halo_sums
from geocluster.weights.halo import (
    Block,
    BlockSet,
    block_bounds,
    concat_blocks,
    halo_of,
    halo_sources,
    map_halo,
    near_box,
)
from geocluster.weights.halo_sums import strip_counts
from geocluster.weights.partitioned import (
    OK,
    SHARED,
    knn_block,
    knn_radius,
    pair_sums,
    tie_breaking_query,
)
from geocluster.weights.tiles import (
    assemble_tile,
    needs_tiles,
    split_block,
    tile_cuts,
    tile_of,
)


def blocks_of(xy: np.ndarray, cuts: list[int]) -> list[Block]:
    """Consecutive row ranges of ``xy`` as blocks (``cuts`` are the partition sizes)."""
    out, start = [], 0
    for size in cuts:
        rows = np.arange(start, start + size)
        out.append(Block(xy[rows, 0].copy(), xy[rows, 1].copy(), rows))
        start += size
    assert start == len(xy)
    return out


def brute_counts(xy: np.ndarray, radius: float) -> np.ndarray:
    return cKDTree(xy).query_ball_point(xy, radius, return_length=True) - 1


# The edge cases: each layout is (points, partition sizes), points sorted so that the
# partitions are spatial strips along x.
def layout_boundary():
    # two strips whose boxes share the line x = 1000; firms on it in both partitions,
    # and firms at exactly the radius (500 m) from it
    left = [(0, 0), (500, 0), (1000, 0), (1000, 300)]
    right = [(1000, 100), (1000, 600), (1500, 0), (2000, 0)]
    return np.array(left + right, dtype=float), [4, 4]


def layout_empty_and_single():
    # an empty partition between two, and a partition of one point
    a = [(0, 0), (100, 0), (200, 50)]
    single = [(900, 0)]
    c = [(1300, 0), (1350, 20), (1800, 0)]
    return np.array(a + single + c, dtype=float), [3, 0, 1, 3]


def layout_duplicates():
    # the same location in three partitions, and a duplicate inside one
    a = [(0, 0), (50, 50), (50, 50)]
    b = [(50, 50), (400, 0)]
    c = [(50, 50), (800, 0), (801, 0)]
    return np.array(a + b + c, dtype=float), [3, 2, 3]


def layout_narrow():
    # 12 strips 100 m wide, radius 450 m: the halo reaches four partitions each way
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(0, 1200, 240))
    y = rng.uniform(0, 300, 240)
    return np.column_stack([x, y]), [20] * 12


LAYOUTS = {
    "boundary": (layout_boundary, 500.0),
    "empty_and_single": (layout_empty_and_single, 400.0),
    "duplicates": (layout_duplicates, 350.0),
    "radius_larger_than_partition": (layout_narrow, 450.0),
}


@pytest.mark.parametrize("case", sorted(LAYOUTS))
def test_counts_within_radius_equal_brute_force(case):
    make, radius = LAYOUTS[case]
    xy, cuts = make()
    got = np.concatenate(map_halo(blocks_of(xy, cuts), radius,
                                  lambda b, n_core, r: pair_sums(b, n_core, r)))
    np.testing.assert_array_equal(got, brute_counts(xy, radius))


@pytest.mark.parametrize("case", sorted(LAYOUTS))
def test_weighted_sums_equal_brute_force(case):
    make, radius = LAYOUTS[case]
    xy, cuts = make()
    w = np.arange(1.0, len(xy) + 1)
    blocks = [Block(b.x, b.y, b.pos, {"w": w[b.pos]}) for b in blocks_of(xy, cuts)]
    got = np.concatenate(map_halo(blocks, radius,
                                  lambda b, n_core, r: pair_sums(b, n_core, r, "w")))
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    near = (d <= radius) & ~np.eye(len(xy), dtype=bool)
    np.testing.assert_allclose(got, near @ w, rtol=1e-12)


def test_a_firm_on_the_boundary_is_in_both_halos():
    xy, cuts = layout_boundary()
    left, right = blocks_of(xy, cuts)
    # (1000, 100) of the right partition is in the left's halo and vice versa
    assert 4 in halo_of(left, [right], 500.0).pos[len(left):]
    assert {2, 3} <= set(halo_of(right, [left], 500.0).pos[len(right):].tolist())
    # (500, 0) is exactly 500 m from the right partition's box: included
    assert 1 in halo_of(right, [left], 500.0).pos
    # (0, 0) is 1000 m away: not
    assert 0 not in halo_of(right, [left], 500.0).pos


def test_near_box_is_inclusive_and_exact_at_the_radius():
    b = Block(np.array([0.0, 300.0, 400.0, 500.000001]), np.array([0.0, 400.0, 0.0, 0.0]),
              np.arange(4))
    box = np.array([0.0, 0.0, 0.0, 0.0])
    assert near_box(b, box, 500.0).pos.tolist() == [0, 1, 2]  # (300, 400) at exactly 500


def test_empty_partition_gets_and_gives_no_halo():
    xy, cuts = layout_empty_and_single()
    blocks = blocks_of(xy, cuts)
    bounds = np.array([block_bounds(b) for b in blocks])
    sources = halo_sources(bounds, 400.0)
    assert sources[1] == []
    assert all(1 not in s for s in sources)
    # the single point (900, 0) sees (1300, 0) at exactly 400 m
    assert sources[2] == [3]
    assert pair_sums(halo_of(blocks[2], [blocks[3]], 400.0), 1, 400.0).tolist() == [1.0]


def test_halo_sources_with_a_radius_per_partition():
    bounds = np.array([[0, 0, 1, 1], [5, 0, 6, 1], [20, 0, 21, 1]], dtype=float)
    assert halo_sources(bounds, np.array([4.0, 14.0, 1.0])) == [[1], [0, 2], []]


def test_concat_keeps_order_and_columns():
    a = Block(np.array([1.0]), np.array([2.0]), np.array([0]), {"v": np.array(["a"])})
    b = Block(np.array([3.0]), np.array([4.0]), np.array([1]), {"v": np.array(["b"])})
    c = concat_blocks([a, b])
    assert c.pos.tolist() == [0, 1] and c.values["v"].tolist() == ["a", "b"]
    assert c.xy.tolist() == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize("case", sorted(LAYOUTS))
def test_knn_rows_the_halo_answers_are_the_in_memory_answers(case):
    make, _ = LAYOUTS[case]
    xy, cuts = make()
    k = 1 if case == "duplicates" else 3  # with K = 3 every row there ties at the 3rd
    blocks = blocks_of(xy, cuts)
    estimate = knn_radius(np.array(cuts), np.array([block_bounds(b) for b in blocks]), k)
    for radii in (estimate, np.full(len(blocks), 5000.0)):  # the estimate, then all seen
        parts = map_halo(blocks, radii, knn_block, k)
        neighbours = np.concatenate([p[0] for p in parts])
        status = np.concatenate([p[1] for p in parts])
        final = np.flatnonzero(status == OK)
        reference = tie_breaking_query(xy, final, k)
        np.testing.assert_array_equal(np.sort(neighbours[final], axis=1),
                                      np.sort(reference, axis=1))
    assert len(final) > 0
    if case == "duplicates":
        assert (status == SHARED).sum() == 4  # the four copies of (50, 50)


def test_knn_block_flags_a_halo_that_is_too_small():
    xy = np.column_stack([np.arange(10.0) * 100, np.zeros(10)])
    core, rest = blocks_of(xy, [2, 8])
    part = halo_of(core, [rest], 150.0)
    _, status = knn_block(part, 2, 150.0, 2)
    assert status.tolist() == [1, 1]  # the 3rd nearest is 300 m and 200 m away
    neighbours, status = knn_block(halo_of(core, [rest], 400.0), 2, 400.0, 2)
    assert status.tolist() == [0, 0]
    assert np.sort(neighbours, axis=1).tolist() == [[1, 2], [0, 2]]
    _, status = knn_block(halo_of(core, [rest], 400.0), 2, 400.0, 1)
    assert status.tolist() == [0, 2]  # (100, 0): the 1st and 2nd nearest tie at 100 m


# ----------------------------------------------------------------------------- tiles


def tiles_of(blocks: list[Block], xcuts, ycuts) -> list[Block]:
    """The tiles :func:`spatial_tiles` makes on dask, in memory."""
    pieces = [split_block(b, xcuts, ycuts) for b in blocks]
    return [assemble_tile(*[p[t] for p in pieces]) for t in range(len(pieces[0]))]


def by_position(parts_pos, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    for pos, values in parts_pos:
        out[pos] = values
    return out


def scrambled(case: str):
    """A layout's points in random order, in partitions that each span the extent."""
    make, radius = LAYOUTS[case]
    xy, cuts = make()
    xy = xy[np.random.default_rng(0).permutation(len(xy))]
    return xy, [len(xy) // 3, len(xy) // 3, len(xy) - 2 * (len(xy) // 3)], radius


@pytest.mark.parametrize("case", sorted(LAYOUTS))
@pytest.mark.parametrize("n_tiles", [1, 4, 9])
def test_counts_on_tiles_equal_brute_force(case, n_tiles):
    xy, cuts, radius = scrambled(case)
    blocks = blocks_of(xy, cuts)
    tiles = tiles_of(blocks, *tile_cuts(xy[::2], n_tiles))
    # every point in exactly one tile, each tile in ascending global position
    pos = np.concatenate([t.pos for t in tiles])
    assert sorted(pos.tolist()) == list(range(len(xy)))
    assert all((np.diff(t.pos) > 0).all() for t in tiles)
    parts = map_halo(tiles, radius, lambda b, n_core, r: (b.pos[:n_core],
                                                          pair_sums(b, n_core, r)))
    np.testing.assert_array_equal(by_position(parts, len(xy)), brute_counts(xy, radius))


def test_a_tile_cut_through_coincident_points_keeps_them_together():
    x = np.array([0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0])
    y = np.array([0.0, 5.0, 5.0, 5.0, 7.0, 1.0, 2.0])
    xcuts, ycuts = tile_cuts(np.column_stack([x, y]), 2)
    assert xcuts.tolist() == [1.0]  # the cut falls on the coincident points
    tiles = tile_of(x, y, xcuts, ycuts)
    assert len(set(tiles[1:4].tolist())) == 1  # the three copies of (1, 5) share a tile
    assert tiles[0] != tiles[1]
    blocks = blocks_of(np.column_stack([x, y]), [4, 3])
    got = map_halo(tiles_of(blocks, xcuts, ycuts), 1.5,
                   lambda b, n_core, r: (b.pos[:n_core], pair_sums(b, n_core, r)))
    np.testing.assert_array_equal(by_position(got, len(x)),
                                  brute_counts(np.column_stack([x, y]), 1.5))


def test_empty_tiles_and_a_tile_of_one_point():
    rng = np.random.default_rng(8)
    xy = np.column_stack([rng.uniform(0, 100, 60), rng.uniform(0, 100, 60)])
    xy[:30, 0] = 50.0  # half on one line: two column cuts fall together
    xy[59] = [99.0, 99.0]
    xcuts, ycuts = tile_cuts(xy, 9)
    assert xcuts[0] == xcuts[1] == 50.0
    ycuts[2, 1] = 98.5  # the top right tile holds (99, 99) alone
    tiles = tiles_of(blocks_of(xy, [20, 20, 20]), xcuts, ycuts)
    sizes = [len(t) for t in tiles]
    assert sizes[3:6] == [0, 0, 0] and sizes[8] == 1
    for radius in (5.0, 30.0):
        got = map_halo(tiles, radius, lambda b, n_core, r: (b.pos[:n_core],
                                                            pair_sums(b, n_core, r)))
        np.testing.assert_array_equal(by_position(got, len(xy)), brute_counts(xy, radius))
    k = 3
    radii = knn_radius(np.array(sizes), np.array([block_bounds(t) for t in tiles]), k)
    parts = map_halo(tiles, radii * 50, lambda b, n_core, r: (b.pos[:n_core],
                                                              knn_block(b, n_core, r, k)))
    pos = np.concatenate([p[0] for p in parts])
    neighbours = np.concatenate([p[1][0] for p in parts])
    status = np.concatenate([p[1][1] for p in parts])
    final = status == OK
    np.testing.assert_array_equal(np.sort(neighbours[final], axis=1),
                                  np.sort(tie_breaking_query(xy, pos[final], k), axis=1))
    assert final.sum() > 20


def test_tiles_pay_only_when_partition_boxes_overlap():
    xy, cuts, _ = scrambled("radius_larger_than_partition")
    mixed = blocks_of(xy, cuts)
    spatial = blocks_of(*LAYOUTS["radius_larger_than_partition"][0]())
    for blocks, want in ((mixed, True), (spatial, False)):
        bounds = np.array([block_bounds(b) for b in blocks])
        lengths = np.array([len(b) for b in blocks])
        assert needs_tiles(BlockSet(blocks, lengths, bounds, None)) is want


def lattice_at_the_radius():
    # a 1 m lattice with radius 5 m: many pairs at exactly the radius (3-4-5 triangles)
    gx, gy = np.meshgrid(np.arange(40.0), np.arange(30.0))
    return np.column_stack([gx.ravel(), gy.ravel()]) * 1000.0, 5000.0


@pytest.mark.parametrize("height_share", [0.013, 0.1, 0.37, 1.0])
def test_strip_counts_are_the_kd_tree_counts(height_share):
    rng = np.random.default_rng(9)
    clustered = np.vstack([rng.normal(0, 300, (3000, 2)), rng.uniform(-5000, 5000, (2000, 2))])
    clustered[:50] = clustered[0]  # a shared location
    for xy, radius in ((clustered, 800.0), lattice_at_the_radius()):
        want = cKDTree(xy).query_ball_point(xy[::3], radius, return_length=True)
        got = strip_counts(xy, xy[::3], radius, height=height_share * radius)
        np.testing.assert_array_equal(got, want)
    layout, radius = LAYOUTS["boundary"][0]()[0], LAYOUTS["boundary"][1]
    np.testing.assert_array_equal(strip_counts(layout, layout, radius,
                                               height=height_share * radius) - 1,
                                  brute_counts(layout, radius))


def test_strip_counts_in_pieces_of_their_own_density(monkeypatch):
    # the queries cut in compact pieces, each with its reference points and strip height
    monkeypatch.setattr(halo_sums, "PIECE_QUERIES", 300)
    monkeypatch.setattr(halo_sums, "MIN_STRIP_POINTS", 0)
    monkeypatch.setattr(halo_sums, "MAX_BAND_PAIRS", 5000)  # the band tests in pieces
    rng = np.random.default_rng(10)
    xy = np.vstack([rng.normal(0, 200, (2500, 2)), rng.uniform(-6000, 6000, (1500, 2)),
                    lattice_at_the_radius()[0][:600]])
    want = cKDTree(xy).query_ball_point(xy, 700.0, return_length=True)
    np.testing.assert_array_equal(strip_counts(xy, xy, 700.0), want)
