"""exposure(method="count" | "kde") on a dask GeoDataFrame, by partition halos: every firm
gets the in-memory value of the computed frame, also at partition edges (a firm on a
partition boundary, an empty partition, a partition of one firm, a location shared across
partitions, a radius wider than a partition)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from halo_layouts import LAYOUTS, partitioned

import geocluster as gc
from geocluster.errors import CRSError, InputError

dask = pytest.importorskip("dask")
dask_geopandas = pytest.importorskip("dask_geopandas")

# Sums of floats (weights, kernel values) are added in another order than in memory (per
# partition, over core + halo, against pairs i < j): equal to a few ulps.
RTOL = 1e-12


@pytest.fixture(scope="module")
def firms():
    return gc.datasets.make_firms(2000, seed=7).to_crs("EPSG:5070")


@pytest.fixture(scope="module")
def firms_dask(dask_client, firms):
    # persisted: the shuffle runs once, not at every compute of the tests
    return dask_geopandas.from_geopandas(firms, npartitions=5).spatial_shuffle(
        npartitions=5).persist()


def in_memory(ddf, **kwargs):
    return gc.exposure(ddf.compute(), **kwargs)


def assert_same(ddf, rtol=0.0, **kwargs):
    got = gc.exposure(ddf, **kwargs)
    assert isinstance(got, dask_geopandas.GeoDataFrame)
    got = got.compute()
    want = in_memory(ddf, **kwargs)
    name = kwargs.get("name", "exposure")
    pd.testing.assert_index_equal(got.index, want.index)
    assert list(got.columns) == list(want.columns)
    if rtol:
        np.testing.assert_allclose(got[name], want[name], rtol=rtol, atol=0)
    else:
        np.testing.assert_array_equal(got[name].to_numpy(), want[name].to_numpy())
    return got


@pytest.mark.parametrize("case", sorted(LAYOUTS))
def test_count_at_partition_edges_equals_in_memory(dask_client, case):
    make, radius = LAYOUTS[case]
    frame, sizes = make()
    ddf = partitioned(frame, sizes)
    got = assert_same(ddf, method="count", radius=radius)
    assert got["exposure"].max() > 0
    assert_same(ddf, method="count", radius=radius, by="ind")
    assert_same(ddf, rtol=RTOL, method="count", radius=radius, weight="emp", by="ind")


@pytest.mark.parametrize("case", sorted(LAYOUTS))
def test_kde_at_partition_edges_equals_in_memory(dask_client, case):
    make, radius = LAYOUTS[case]
    frame, sizes = make()
    ddf = partitioned(frame, sizes)
    assert_same(ddf, rtol=RTOL, method="kde", bandwidth=radius / 5)  # support = radius
    assert_same(ddf, rtol=RTOL, method="kde", bandwidth=radius, kernel="epanechnikov",
                weight="emp", by="ind")


def test_count_on_a_spatially_shuffled_register(dask_client, firms_dask):
    assert_same(firms_dask, method="count", radius="10km")
    assert_same(firms_dask, method="count", radius="25km", by="industry")
    assert_same(firms_dask, rtol=RTOL, method="count", radius="25km", weight="employees",
                log="log1p", standardize=True, name="near")


def test_kde_on_a_spatially_shuffled_register(dask_client, firms_dask):
    assert_same(firms_dask, rtol=RTOL, method="kde", bandwidth="10km", by="industry")


def test_the_input_is_not_modified_and_the_result_is_lazy(dask_client, firms_dask):
    before = list(firms_dask.columns)
    out = gc.exposure(firms_dask, method="count", radius="5km", name="near")
    assert list(firms_dask.columns) == before
    assert list(out.columns) == [*before, "near"]
    assert out.npartitions == firms_dask.npartitions


def test_a_named_crs_for_a_geographic_register(dask_client, firms):
    geo = dask_geopandas.from_geopandas(firms.to_crs(4326), npartitions=3)
    got = gc.exposure(geo, method="count", radius="10km", crs="EPSG:5070").compute()
    want = gc.exposure(geo.compute(), method="count", radius="10km", crs="EPSG:5070")
    np.testing.assert_array_equal(got["exposure"], want["exposure"])
    assert got.crs.equals(want.crs)  # the firms keep their CRS
    with pytest.raises(CRSError, match="geographic CRS .* Pass crs='EPSG:5070'"):
        gc.exposure(geo, method="count", radius="10km")


@pytest.mark.parametrize("method", ["lq", "region"])
def test_other_methods_name_themselves(firms_dask, method):
    with pytest.raises(InputError, match=rf"method='{method}' does not run on a dask "
                                         r"GeoDataFrame; dask frames take method='count'"):
        gc.exposure(firms_dask, method=method)


def test_bad_options_on_a_dask_frame(dask_client, firms_dask):
    with pytest.raises(InputError, match="bandwidth= does not apply to method='count'"):
        gc.exposure(firms_dask, method="count", radius="5km", bandwidth="5km")
    with pytest.raises(InputError, match="needs radius="):
        gc.exposure(firms_dask, method="count")
    with pytest.raises(InputError, match="bandwidth='scott' is estimated from all firms"):
        gc.exposure(firms_dask, method="kde", bandwidth="scott")
    with pytest.raises(InputError, match="by='nope' is not a column"):
        gc.exposure(firms_dask, method="count", radius="5km", by="nope")
    with pytest.raises(InputError, match="weight='nope' is not a column"):
        gc.exposure(firms_dask, method="count", radius="5km", weight="nope")
    with pytest.raises(InputError, match="times the diagonal"):
        gc.exposure(firms_dask, method="count", radius="100000km")


def test_bad_weights_are_found_in_their_partition(dask_client, firms):
    bad = firms.assign(employees=firms["employees"].astype(float))
    bad.iloc[1500, bad.columns.get_loc("employees")] = -1.0
    ddf = dask_geopandas.from_geopandas(bad, npartitions=4)
    with pytest.raises(InputError, match="weight column 'employees' has 1 negative"):
        gc.exposure(ddf, method="count", radius="5km", weight="employees")
