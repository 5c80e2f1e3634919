"""aggregate and location_quotient on a dask GeoDataFrame of firms: the in-memory answer."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import geocluster as gc
from geocluster.errors import CRSError, GeoclusterWarning, InputError

dask = pytest.importorskip("dask")
pytest.importorskip("dask.dataframe")
dask_geopandas = pytest.importorskip("dask_geopandas")

UTM = "EPSG:32610"


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
