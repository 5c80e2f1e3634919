"""exposure(method="count" | "kde") on a dask GeoDataFrame, by partition halos: every firm
gets the in-memory value of the computed frame, also at partition edges (a firm on a
partition boundary, an empty partition, a partition of one firm, a location shared across
partitions, a radius wider than a partition)."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from halo_layouts import LAYOUTS, MIXED, partitioned

import geocluster as gc
from geocluster._base.validate import read_points
from geocluster.clusters.kde import leave_one_out_density
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


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(LAYOUTS))
def test_kde_at_partition_edges_equals_in_memory(dask_client, case):
    make, radius = LAYOUTS[case]
    frame, sizes = make()
    ddf = partitioned(frame, sizes)
    assert_same(ddf, rtol=RTOL, method="kde", bandwidth=radius / 5)  # support = radius
    assert_same(ddf, rtol=RTOL, method="kde", bandwidth=radius, kernel="epanechnikov",
                weight="emp", by="ind")


@pytest.mark.slow
def test_count_on_a_spatially_shuffled_register(dask_client, firms_dask):
    assert_same(firms_dask, method="count", radius="10km")
    assert_same(firms_dask, method="count", radius="25km", by="industry")
    assert_same(firms_dask, rtol=RTOL, method="count", radius="25km", weight="employees",
                log="log1p", standardize=True, name="near")


@pytest.mark.slow
def test_kde_on_a_spatially_shuffled_register(dask_client, firms_dask):
    assert_same(firms_dask, rtol=RTOL, method="kde", bandwidth="10km", by="industry")


@pytest.mark.slow
@pytest.mark.parametrize(("kernel", "by"), [("gaussian", None), ("epanechnikov", "industry")])
def test_kde_beyond_the_exact_limit_is_the_in_memory_binned_estimate(
        dask_client, firms_dask, monkeypatch, kernel, by):
    # in memory, an industry with more than 20M pairs within the support gets the binned
    # estimate of leave_one_out_density; a limit of 0 makes every industry take that path
    # (the module, not the function the facade exports under the same name)
    monkeypatch.setattr(importlib.import_module("geocluster.exposure"), "EXACT_MAX_PAIRS", 0)
    got = gc.exposure(firms_dask, method="kde", bandwidth="100km", kernel=kernel, by=by,
                      weight="employees").compute()
    frame = firms_dask.compute()
    pts = read_points(frame, where="test", weight="employees")
    want = np.zeros(len(frame))
    groups = np.zeros(len(frame)) if by is None else frame[by].to_numpy()
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        dens, mode = leave_one_out_density(pts.x[rows], pts.y[rows], pts.w[rows], 100_000.0,
                                           kernel, max_pairs=0)
        assert mode == "binned"
        want[rows] = dens * 1e6
    # the partitions' bins are summed in another order: a few ulps of the peak
    np.testing.assert_allclose(got["exposure"], want, rtol=0, atol=1e-12 * want.max())


@pytest.fixture(scope="module")
def small():
    frame, sizes = LAYOUTS["radius_larger_than_partition"][0]()
    return frame, sizes


def test_the_input_is_not_modified_and_the_result_is_lazy(dask_client, small):
    ddf = partitioned(*small)
    before = list(ddf.columns)
    out = gc.exposure(ddf, method="count", radius="5km", name="near")
    assert list(ddf.columns) == before
    assert list(out.columns) == [*before, "near"]
    assert out.npartitions == ddf.npartitions


@pytest.mark.slow
def test_a_named_crs_for_a_geographic_register(dask_client, firms):
    geo = dask_geopandas.from_geopandas(firms.to_crs(4326), npartitions=3)
    got = gc.exposure(geo, method="count", radius="10km", crs="EPSG:5070").compute()
    want = gc.exposure(geo.compute(), method="count", radius="10km", crs="EPSG:5070")
    np.testing.assert_array_equal(got["exposure"], want["exposure"])
    assert got.crs.equals(want.crs)  # the firms keep their CRS
    with pytest.raises(CRSError, match="geographic CRS .* Pass crs='EPSG:5070'"):
        gc.exposure(geo, method="count", radius="10km")


@pytest.mark.parametrize("method", ["lq", "region"])
def test_other_methods_name_themselves(small, method):
    with pytest.raises(InputError, match=rf"method='{method}' does not run on a dask "
                                         r"GeoDataFrame; dask frames take method='count'"):
        gc.exposure(partitioned(*small), method=method)


def test_bad_options_on_a_dask_frame(dask_client, small):
    ddf = partitioned(*small)
    with pytest.raises(InputError, match="bandwidth= does not apply to method='count'"):
        gc.exposure(ddf, method="count", radius="5km", bandwidth="5km")
    with pytest.raises(InputError, match="needs radius="):
        gc.exposure(ddf, method="count")
    with pytest.raises(InputError, match="bandwidth='scott' is estimated from all firms"):
        gc.exposure(ddf, method="kde", bandwidth="scott")
    with pytest.raises(InputError, match="by='nope' is not a column"):
        gc.exposure(ddf, method="count", radius="5km", by="nope")
    with pytest.raises(InputError, match="weight='nope' is not a column"):
        gc.exposure(ddf, method="count", radius="5km", weight="nope")
    with pytest.raises(InputError, match="times the diagonal"):
        gc.exposure(ddf, method="count", radius="100000km")


def test_bad_weights_are_found_in_their_partition(dask_client, small):
    frame, sizes = small
    bad = frame.copy()
    bad.iloc[150, bad.columns.get_loc("emp")] = -1.0
    with pytest.raises(InputError, match="weight column 'emp' has 1 negative values "
                                         r"\(e.g. rows \['f150'\]\)"):
        gc.exposure(partitioned(bad, sizes), method="count", radius="5km", weight="emp")


@pytest.mark.parametrize("case", sorted(MIXED))
def test_registers_not_partitioned_in_space_equal_in_memory(dask_client, case):
    # every partition spans the whole extent: the points are re-blocked in tiles, the
    # values go back to the original partitions by position
    make, radius = MIXED[case]
    frame, sizes = make()
    ddf = partitioned(frame, sizes)
    assert_same(ddf, method="count", radius=radius)
    assert_same(ddf, method="count", radius=radius, by="ind")
    assert_same(ddf, rtol=RTOL, method="kde", bandwidth=radius / 4, weight="emp")

