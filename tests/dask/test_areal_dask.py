"""aggregate and location_quotient on a dask GeoDataFrame of firms: the in-memory answer."""

from __future__ import annotations

import importlib
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geocluster as gc
from geocluster.errors import CRSError, GeoclusterWarning, InputError

dask = pytest.importorskip("dask")
pytest.importorskip("dask.dataframe")
dask_geopandas = pytest.importorskip("dask_geopandas")

UTM = "EPSG:32610"
# the module, not the function of the same name that geocluster.areal exports
aggregate_module = importlib.import_module("geocluster.areal.aggregate")


def partitioned(gdf: gpd.GeoDataFrame, sizes: list[int]):
    """A dask GeoDataFrame whose partitions hold ``sizes`` rows of ``gdf`` in order
    (a size of 0 is an empty partition)."""
    assert sum(sizes) == len(gdf)
    cuts = np.cumsum([0, *sizes])
    parts = [dask.delayed(gdf.iloc[a:b].copy()) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    frame = dask.dataframe.from_delayed(parts, meta=gdf.iloc[:0], verify_meta=False)
    assert frame.npartitions == len(sizes)
    return frame


@pytest.fixture(scope="module")
def cells():
    return gc.grid((0, 0, 5000, 4000), "1km", crs=UTM)


@pytest.fixture(scope="module")
def firms():
    rng = np.random.default_rng(7)
    n = 400
    x = rng.uniform(-500, 5500, n)  # some outside the grid on both sides
    y = rng.uniform(-300, 4300, n)
    # firms exactly on unit boundaries: a shared edge, a shared corner, the outer edge
    x[:4] = [1000.0, 2000.0, 0.0, 5000.0]
    y[:4] = [500.0, 3000.0, 1500.0, 4000.0]
    return gpd.GeoDataFrame(
        {
            "industry": rng.choice(["bio", "it", "auto"], n),
            "emp": rng.integers(1, 500, n).astype(float) + rng.random(n),
        },
        geometry=gpd.points_from_xy(x, y),
        crs=UTM,
        index=pd.Index(np.arange(1000, 1000 + n), name="firm_id"),
    )


# an empty partition, a one-point partition (holding a boundary firm) and ordinary ones
SIZES = [3, 0, 1, 150, 0, 246]


def quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoclusterWarning)
        return func(*args, **kwargs)


@pytest.mark.parametrize("by, weight", [(None, None), ("industry", None), ("industry", "emp"),
                                        (None, "emp")])
def test_aggregate_equals_in_memory(dask_client, firms, cells, by, weight):
    expected = quiet(gc.aggregate, firms, cells, by=by, weight=weight)
    got = quiet(gc.aggregate, partitioned(firms, SIZES), cells, by=by, weight=weight)
    assert isinstance(got, gpd.GeoDataFrame)
    # weight sums add the partitions' sums: equal to rounding of the summation order
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-13)
    assert got.attrs == expected.attrs
    assert expected.attrs["n_outside"] > 0
    assert got["n_firms"].dtype == expected["n_firms"].dtype == np.int64


def test_aggregate_counts_boundary_firms_once_in_the_first_unit(dask_client, firms, cells):
    head = firms.iloc[:4]
    got = gc.aggregate(partitioned(head, [1, 0, 1, 2]), cells)
    # (1000, 500): edge of cells 0 and 1 -> 0; (2000, 3000): corner of 11, 12, 16, 17 -> 11;
    # (0, 1500): outer edge of cell 5; (5000, 4000): the grid's last corner, cell 19
    assert got["n_firms"][got["n_firms"] > 0].to_dict() == {0: 1, 5: 1, 11: 1, 19: 1}
    pd.testing.assert_frame_equal(got, gc.aggregate(head, cells))


def test_aggregate_warns_about_firms_outside_with_counts(dask_client, firms, cells):
    with pytest.warns(GeoclusterWarning, match=r"of 400 firms fall outside every unit"):
        gc.aggregate(partitioned(firms, SIZES), cells)


@pytest.mark.slow
def test_location_quotient_equals_in_memory(dask_client, firms, cells):
    for weight in (None, "emp"):
        expected = quiet(gc.location_quotient, firms, units=cells, by="industry",
                         weight=weight, min_total=5)
        got = quiet(gc.location_quotient, partitioned(firms, SIZES), units=cells,
                    by="industry", weight=weight, min_total=5)
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-13)
        assert got.attrs == expected.attrs


@pytest.mark.slow
def test_dask_input_is_not_modified_and_bad_input_is_named(dask_client, firms, cells):
    frame = partitioned(firms, SIZES)
    before = frame.compute()
    quiet(gc.aggregate, frame, cells, by="industry")
    pd.testing.assert_frame_equal(frame.compute(), before)
    with pytest.raises(InputError, match=r"aggregate: firms have no column\(s\) \['sector'\]"):
        gc.aggregate(frame, cells, by="sector")
    with pytest.raises(InputError, match=r"aggregate: firms is empty"):
        gc.aggregate(partitioned(firms.iloc[:0], [0, 0]), cells)
    with pytest.raises(InputError, match=r"units is empty"):
        gc.aggregate(frame, cells.iloc[:0])
    bad = firms.assign(emp=firms["emp"].where(firms.index != 1300, -1.0))
    with pytest.raises(InputError, match=r"negative values \(e.g. rows \[1300\]\)"):
        gc.aggregate(partitioned(bad, SIZES), cells, weight="emp")
    with pytest.raises(CRSError, match=r"firms have no CRS"):
        gc.aggregate(partitioned(firms.set_crs(None, allow_override=True), SIZES), cells)


def test_boundary_firms_in_different_partitions_go_to_the_first_unit_in_row_order(
        dask_client, cells):
    # rows in a shuffled order: "first" is the units' row order, not the smallest label
    shuffled = cells.iloc[np.random.default_rng(3).permutation(len(cells))]
    # the same shared edge point (cells 0 | 1), a shared corner (cells 6, 7, 11, 12) and an
    # interior point, each once in each of three partitions (the middle one empty)
    x, y = np.tile([1000.0, 2000.0, 2500.0], 2), np.tile([500.0, 2000.0, 3500.0], 2)
    firms = gpd.GeoDataFrame({"industry": ["a", "b", "a", "b", "b", "a"]}, crs=UTM,
                             geometry=gpd.points_from_xy(x, y))
    got = gc.aggregate(partitioned(firms, [3, 0, 3]), shuffled, by="industry")
    order = list(shuffled.index)
    edge = min((0, 1), key=order.index)
    corner = min((6, 7, 11, 12), key=order.index)
    assert got["n_firms"][got["n_firms"] > 0].to_dict() == {edge: 2, corner: 2, 17: 2}
    pd.testing.assert_frame_equal(got, gc.aggregate(firms, shuffled, by="industry"))
    lq = gc.location_quotient(partitioned(firms, [3, 0, 3]), units=shuffled, by="industry",
                              min_total=0)
    pd.testing.assert_frame_equal(lq, gc.location_quotient(firms, units=shuffled,
                                                           by="industry", min_total=0))


def test_a_partition_of_firms_all_outside_and_an_empty_one(dask_client, firms, cells):
    outside = firms.assign(geometry=gpd.points_from_xy(
        np.where(np.arange(len(firms)) < 100, -1e5, firms.geometry.x), firms.geometry.y))
    frame = partitioned(outside, [100, 0, 300])  # the first partition: all outside
    for by, weight in ((None, None), ("industry", "emp")):
        expected = quiet(gc.aggregate, outside, cells, by=by, weight=weight)
        got = quiet(gc.aggregate, frame, cells, by=by, weight=weight)
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-13)
        assert got.attrs["n_outside"] == expected.attrs["n_outside"] >= 100
    gone = outside.assign(geometry=gpd.points_from_xy(np.full(len(firms), -1e5), outside.geometry.y))
    with pytest.raises(InputError, match=r"none of the 400 firms falls inside the units"):
        quiet(gc.location_quotient, partitioned(gone, [100, 0, 300]), units=cells, by="industry")


def test_matching_crs_units_unprepared_and_missing_columns_named(dask_client, firms, cells):
    lonlat = firms.to_crs("EPSG:4326")
    frame = partitioned(lonlat, SIZES)
    expected = quiet(gc.aggregate, lonlat, cells, by="industry", crs="EPSG:3857")
    got = quiet(gc.aggregate, frame, cells, by="industry", crs="EPSG:3857")
    pd.testing.assert_frame_equal(got, expected)
    # the units' own polygons were never prepared (the match prepares copies)
    assert not shapely.is_prepared(np.asarray(cells.geometry.values)).any()
    with pytest.raises(InputError, match=r"firms have no column\(s\) \['size'\]; columns are "
                                         r"\['industry', 'emp', 'geometry'\]"):
        gc.location_quotient(frame, units=cells, by="industry", weight="size")


def test_locate_points_is_the_first_intersecting_polygon_by_brute_force():
    rng = np.random.default_rng(11)
    # overlapping boxes, a multipolygon and a polygon with a hole, in no particular order
    polygons = np.array([
        shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3),
        shapely.MultiPolygon([shapely.box(3, 0, 4, 1), shapely.box(0, 3, 1, 4)]),
        shapely.box(0, 0, 4, 4).difference(shapely.box(1.5, 1.5, 2.5, 2.5)),
        shapely.box(2, 0, 3, 1)])
    xy = np.r_[rng.uniform(-0.5, 4.5, (300, 2)), rng.integers(0, 9, (200, 2)) / 2.0]
    points = shapely.points(xy)
    hits = shapely.intersects(polygons[None, :], points[:, None])
    expected = np.where(hits.any(axis=1), hits.argmax(axis=1), -1)
    got = aggregate_module.locate_points(points, shapely.from_wkb(shapely.to_wkb(polygons)))
    assert (got == expected).all()
    assert (expected == -1).any() and (hits.sum(axis=1) > 1).sum() > 50


@pytest.mark.parametrize("n_units_x", [5, 60])  # a dense and a sparse (np.unique) tally
def test_unit_tally_counts_every_unit_and_category(n_units_x):
    units = gc.grid((0, 0, n_units_x * 1000.0, 50_000), "1km", crs=UTM)
    rng = np.random.default_rng(5)
    n = 500
    part = gpd.GeoDataFrame(
        {"k": rng.permutation(n).astype(str), "w": rng.random(n)}, crs=UTM,
        geometry=gpd.points_from_xy(rng.uniform(-1000, n_units_x * 1000 + 1000, n),
                                    rng.uniform(0, 50_000, n)))
    layer = aggregate_module.unit_layer(units, None, where="test")
    got = aggregate_module.unit_tally(part, layer, by="k", weight="w", where="test")
    position = aggregate_module.locate_firms(part, units, where="test")
    expected = (pd.DataFrame({"position": position.astype(np.int32), "category": part["k"],
                              "n": 1, "w": part["w"]})
                .groupby(["position", "category"], sort=True).sum().reset_index())
    assert got["position"].dtype == np.int32 and isinstance(got["category"].dtype,
                                                            pd.CategoricalDtype)
    pd.testing.assert_frame_equal(got.astype({"category": object}),
                                  expected.astype({"category": object}), check_exact=False,
                                  rtol=1e-15)
