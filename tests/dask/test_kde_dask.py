"""kde on a dask GeoDataFrame: one grid from the global extent, binned per partition, summed,
convolved once: the in-memory surface."""

from __future__ import annotations

import operator

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geocluster as gc
from geocluster.clusters import _kde
from geocluster.clusters.partitioned import (
    dense_bins,
    gather_weights,
    quartile_spread,
    sparse_bin,
    summarize,
    tree_sum,
)
from geocluster.errors import CRSError, InputError

dask = pytest.importorskip("dask")
pytest.importorskip("dask.dataframe")
dask_geopandas = pytest.importorskip("dask_geopandas")

# The partitions' binned grids are added after each partition has summed its own points,
# while np.bincount in memory adds all points of a node in one sequence: each node differs
# by rounding of the summation order (a few ulps of the largest sum into it), the surface
# by at most a few 1e-16 of its peak. 1e-13 of the peak holds with a wide margin.
PEAK_RTOL = 1e-13


def partitioned(gdf: gpd.GeoDataFrame, sizes: list[int]):
    cuts = np.cumsum([0, *sizes])
    parts = [dask.delayed(gdf.iloc[a:b].copy()) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return dask.dataframe.from_delayed(parts, meta=gdf.iloc[:0], verify_meta=False)


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(3)
    xy = np.vstack([rng.normal(0, 8000, (900, 2)), rng.normal(20_000, 1500, (300, 2))])
    return gpd.GeoDataFrame(
        {"emp": rng.integers(0, 300, len(xy)).astype(float) + rng.random(len(xy)),
         "kind": np.where(np.arange(len(xy)) < 900, "a", "b")},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:32633",
    )


SIZES = [1, 0, 500, 0, 699]


def assert_same_surface(got, expected, rtol=PEAK_RTOL, exact_grid=True):
    assert got.shape == expected.shape
    grid, grid_expected = (got.x0, got.y0, got.cell_size), (
        expected.x0, expected.y0, expected.cell_size)
    if exact_grid:
        assert grid == grid_expected
    else:  # a rule bandwidth: the cell is a quarter of it, equal to a few ulps
        np.testing.assert_allclose(grid, grid_expected, rtol=1e-14, atol=0)
    assert got.crs.equals(expected.crs)
    assert (got.kernel, got.bandwidth_method, got.n_points) == (
        expected.kernel, expected.bandwidth_method, expected.n_points)
    np.testing.assert_allclose(got.bandwidth, expected.bandwidth, rtol=1e-14, atol=0)
    np.testing.assert_allclose(got.total_weight, expected.total_weight, rtol=1e-14)
    np.testing.assert_allclose(got.values, expected.values, rtol=0,
                               atol=rtol * float(expected.values.max()))


@pytest.mark.parametrize("kernel", ["gaussian", "quartic"])
@pytest.mark.parametrize("weight", [None, "emp"])
def test_fixed_bandwidth_equals_in_memory(dask_client, points, kernel, weight):
    expected = gc.kde(points, bandwidth="2km", weight=weight, kernel=kernel)
    got = gc.kde(partitioned(points, SIZES), bandwidth="2km", weight=weight, kernel=kernel)
    assert got.bandwidth == expected.bandwidth  # a distance: the grid is exactly the same
    assert_same_surface(got, expected)


@pytest.mark.slow
def test_long_gaussian_takes_the_fft_path(dask_client, points):
    # 2 * half + 1 > SEPARABLE_MAX_TAPS: the 2-D FFT convolution, as in memory
    kw = {"bandwidth": "6km", "cell_size": 300}
    assert_same_surface(gc.kde(partitioned(points, SIZES), **kw), gc.kde(points, **kw))


@pytest.mark.parametrize("weight", [None, "emp"])
def test_scott_from_partition_moments_equals_in_memory(dask_client, points, weight):
    expected = gc.kde(points, bandwidth="scott", weight=weight)
    got = gc.kde(partitioned(points, SIZES), bandwidth="scott", weight=weight)
    # Chan's pairwise combination of the partitions' moments vs np.var: equal to 1e-15
    assert abs(got.bandwidth / expected.bandwidth - 1) < 1e-14
    # the grid (a quarter bandwidth) follows the bandwidth to a few ulps
    assert_same_surface(got, expected, rtol=1e-12, exact_grid=False)


@pytest.mark.slow
def test_extent_and_geographic_input_with_automatic_crs(dask_client, points):
    ll = points.to_crs(4326)
    expected = gc.kde(ll, bandwidth="3km", extent=(-20_000, -20_000, 30_000, 30_000))
    got = gc.kde(partitioned(ll, SIZES), bandwidth="3km",
                 extent=(-20_000, -20_000, 30_000, 30_000))
    assert got.crs.equals(expected.crs)
    assert_same_surface(got, expected)


def test_one_partition_is_bit_identical(dask_client, points):
    # one partition: the same bincount sequence as in memory, so exact equality
    expected = gc.kde(points, bandwidth="2km", weight="emp")
    got = gc.kde(partitioned(points, [len(points)]), bandwidth="2km", weight="emp")
    np.testing.assert_array_equal(got.values, expected.values)


@pytest.mark.slow
def test_silverman_from_exact_quartiles_equals_in_memory(dask_client, points):
    # ties at the quartiles and duplicated coordinates: rounded to 100 m
    rounded = points.set_geometry(gpd.points_from_xy(
        (points.geometry.x / 100).round() * 100, (points.geometry.y / 100).round() * 100),
        crs=points.crs)
    for pts in (points, rounded):
        expected = gc.kde(pts, bandwidth="silverman")
        got = gc.kde(partitioned(pts, SIZES), bandwidth="silverman")
        # the quartiles are exact; only the moments (sd) carry rounding of the order
        assert abs(got.bandwidth / expected.bandwidth - 1) < 1e-14
        assert_same_surface(got, expected, rtol=1e-12, exact_grid=False)


def test_rules_that_need_all_points_are_refused(dask_client, points):
    frame = partitioned(points, SIZES)
    with pytest.raises(InputError, match=r"kde: bandwidth='cv' is not available for a dask "
                                         r"GeoDataFrame.*bandwidth='scott'"):
        gc.kde(frame)  # the default is cv
    with pytest.raises(InputError, match=r"bandwidth='silverman' is not available.*weighted"):
        gc.kde(frame, bandwidth="silverman", weight="emp")


def test_bad_input_is_named(dask_client, points):
    plain = dask.dataframe.from_pandas(pd.DataFrame({"x": [0.0, 1.0]}), npartitions=1)
    with pytest.raises(InputError, match=r"kde: points must be a dask_geopandas.GeoDataFrame"):
        gc.kde(plain, bandwidth="1km")
    with pytest.raises(InputError, match=r"kde: points is empty"):
        gc.kde(partitioned(points.iloc[:0], [0, 0]), bandwidth="1km")
    with pytest.raises(CRSError, match=r"kde: points has no CRS"):
        gc.kde(partitioned(points.set_crs(None, allow_override=True), SIZES), bandwidth="1km")
    bad = points.assign(emp=points["emp"].where(points.index != 700, np.nan))
    with pytest.raises(InputError, match=r"missing \(NaN\) values \(e.g. rows \[700\]\)"):
        gc.kde(partitioned(bad, SIZES), bandwidth="1km", weight="emp")
    with pytest.raises(InputError, match=r"sums to zero"):
        gc.kde(partitioned(points.assign(emp=0.0), SIZES), bandwidth="1km", weight="emp")
    with pytest.raises(InputError, match=r"times the diagonal"):
        gc.kde(partitioned(points, SIZES), bandwidth="5000km")
    with pytest.raises(InputError, match=r"single point"):
        gc.kde(partitioned(points.iloc[:1], [1, 0]), bandwidth="scott")


@pytest.mark.slow
def test_input_frame_is_not_modified(dask_client, points):
    frame = partitioned(points, SIZES)
    gc.kde(frame, bandwidth="2km", weight="emp")
    pd.testing.assert_frame_equal(frame.compute(), points)


def test_quartile_spread_is_numpys_exactly(dask_client, points):
    rng = np.random.default_rng(5)
    for n, sizes in ((2, [1, 0, 1]), (7, [3, 4]), (1200, SIZES)):
        pts = points.iloc[:n]
        if n == 7:  # heavy ties
            pts = pts.set_geometry(gpd.points_from_xy(rng.integers(0, 3, n) * 1.0,
                                                      rng.integers(0, 2, n) * 1.0), crs=3857)
        frame = partitioned(pts, sizes)
        info = summarize(frame, where="test")
        x, y = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
        expected = 0.5 * (np.subtract(*np.percentile(x, [75, 25]))
                          + np.subtract(*np.percentile(y, [75, 25])))
        assert quartile_spread(frame, info, where="test") == expected


# -- one read of the register; the sparse sums and their pairwise reduction -------------------

def counted(gdf: gpd.GeoDataFrame, sizes: list[int], reads: list):
    """:func:`partitioned`, recording the first row of each partition every time it is read
    (on the in-process ``sync`` scheduler, where the list is shared)."""
    def read(a, b):
        reads.append(a)
        return gdf.iloc[a:b].copy()
    cuts = np.cumsum([0, *sizes])
    parts = [dask.delayed(read)(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return dask.dataframe.from_delayed(parts, meta=gdf.iloc[:0], verify_meta=False)


@pytest.mark.parametrize("crs", ["EPSG:32633", "EPSG:4326"])  # metric; automatic metric CRS
def test_the_register_is_read_once(points, crs):
    pts = points.to_crs(crs)
    reads: list = []
    with dask.config.set(scheduler="sync"):
        got = gc.kde(counted(pts, SIZES, reads), bandwidth="2km", weight="emp")
    assert sorted(reads) == np.cumsum([0, *SIZES])[:-1].tolist()  # each partition once
    assert_same_surface(got, gc.kde(pts, bandwidth="2km", weight="emp"))


def test_an_unprojectable_point_is_named_as_in_memory(points):
    ll = points.to_crs(4326)
    bad = ll.set_geometry(ll.geometry.where(ll.index != 600, shapely.Point(15.0, 95.0)))
    with pytest.raises(CRSError, match=r"kde: 1 points have no finite coordinates in (.*) "
                                       r"\(e.g. rows \[600\]\); check the CRS") as memory:
        gc.kde(bad, bandwidth="2km")
    with dask.config.set(scheduler="sync"), pytest.raises(CRSError) as on_dask:
        gc.kde(partitioned(bad, SIZES), bandwidth="2km")
    assert str(on_dask.value) == str(memory.value)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_tree_sum_merges_every_partition_once_in_order(n):
    tasks = [dask.delayed(list)([i]) for i in range(n)]
    assert tree_sum(tasks, operator.add).compute(scheduler="sync") == list(range(n))


def test_sparse_node_sums_are_linear_binning():
    rng = np.random.default_rng(8)
    x, y = rng.uniform(-5, 45, 4000), rng.uniform(-5, 35, 4000)  # some beyond the nodes
    w = rng.random(4000) * 10
    layout = (0.0, 0.0, 1.0, 40, 30)  # gx0, gy0, cell, nx, ny
    for weights in (None, w):
        dense = _kde.linear_bin(x, y, weights, *layout)
        one = sparse_bin(x, y, weights, *layout)
        # one partition: the same sums in the same order as in memory, bit for bit
        np.testing.assert_array_equal(_kde.combine_sparse_node_sums(*one, 40, 30), dense)
        # an empty, a one-point and two larger partitions, summed pairwise
        cuts = [0, 0, 1, 2500, 4000]
        parts = [sparse_bin(x[a:b], y[a:b], None if weights is None else weights[a:b],
                            *layout) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
        total = _kde.merge_node_sums(_kde.merge_node_sums(parts[0], parts[1]),
                                     _kde.merge_node_sums(parts[2], parts[3]))
        assert np.all(np.diff(total[0]) > 0)  # unique, sorted nodes
        tree = _kde.combine_sparse_node_sums(*total, 40, 30)
        # ((a + b) + (c + d)) against dense_bins' (((a + b) + c) + d): a rounding apart
        np.testing.assert_allclose(tree, dense, rtol=0, atol=1e-13 * dense.max())
        np.testing.assert_allclose(tree, dense_bins(parts, 40, 30), rtol=0,
                                   atol=1e-13 * dense.max())
        assert tree.sum() == pytest.approx(dense.sum(), rel=1e-14)


def test_points_the_summary_did_not_keep_are_read_again(points):
    frame = partitioned(points, SIZES)
    with dask.config.set(scheduler="sync"):
        info = summarize(frame, where="test")  # unweighted, no subset
        assert info.parts and info.weight_column is None
        np.testing.assert_array_equal(gather_weights(frame, info, where="test", weight="emp"),
                                      points["emp"].to_numpy())
        kind_b = gather_weights(frame, info, where="test", weight="emp", subset=("kind", "b"))
    np.testing.assert_array_equal(kind_b, points.loc[points["kind"] == "b", "emp"].to_numpy())
