"""weights("knn:K" | "distance:D") on a dask GeoDataFrame, by partition halos: the same
libpysal Graph as in memory on the computed frame (neighbours, ties, weights, ids, order,
structure report), also at partition edges."""

from __future__ import annotations

import pandas as pd
import pytest
from halo_layouts import LAYOUTS, MIXED, partitioned
from libpysal.graph import Graph

import geocluster as gc
from geocluster.errors import CRSError, WeightsError
from geocluster.weights import build_graph, tiles
from geocluster.weights.partitioned import dask_tree_graph
from geocluster.weights.spec import parse_weights_spec

dask = pytest.importorskip("dask")
dask_geopandas = pytest.importorskip("dask_geopandas")

# Small frames leave components and isolates, which weights() reports in a warning on
# both paths alike.
pytestmark = pytest.mark.filterwarnings("ignore::geocluster.errors.GeoclusterWarning")


def assert_same_graph(got: Graph, want: Graph) -> None:
    assert got.transformation == want.transformation
    pd.testing.assert_series_equal(got.adjacency, want.adjacency, check_exact=True)
    assert (got.sparse != want.sparse).nnz == 0
    # the dask path seeds libpysal's cached cardinalities: they must be libpysal's own
    pd.testing.assert_series_equal(got.cardinalities, want.cardinalities, check_exact=True)
    assert got.n_edges == want.n_edges and got.isolates.equals(want.isolates)


def assert_same(ddf, spec, **kwargs):
    got = gc.weights(ddf, spec, **kwargs)
    want = gc.weights(ddf.compute(), spec, **kwargs)
    assert_same_graph(got, want)
    return got


@pytest.fixture(scope="module")
def firms():
    return gc.datasets.make_firms(2000, seed=11).to_crs("EPSG:5070")


@pytest.fixture(scope="module")
def firms_dask(dask_client, firms):
    # persisted: the shuffle runs once, not at every compute of the tests
    return dask_geopandas.from_geopandas(firms, npartitions=6).spatial_shuffle(
        npartitions=6).persist()


@pytest.mark.parametrize("case", sorted(set(LAYOUTS) - {"duplicates"}))
@pytest.mark.parametrize("k", [1, 4, pytest.param(8, marks=pytest.mark.slow)])
def test_knn_at_partition_edges_equals_in_memory(dask_client, case, k):
    make, _ = LAYOUTS[case]
    frame, sizes = make()
    assert_same(partitioned(frame, sizes), f"knn:{k}")


def test_knn_ties_on_a_lattice_go_to_the_in_memory_unit(dask_client):
    frame, sizes = LAYOUTS["boundary"][0]()
    got = assert_same(partitioned(frame, sizes), "knn:3")  # every lattice row ties
    assert got.cardinalities.eq(3).all()


@pytest.mark.parametrize("case", sorted(LAYOUTS))
def test_distance_band_at_partition_edges_equals_in_memory(dask_client, case):
    make, radius = LAYOUTS[case]
    frame, sizes = make()
    assert_same(partitioned(frame, sizes), f"distance:{radius:g}m")
    assert_same(partitioned(frame, sizes), f"distance:{radius / 3:g}m", transform="b")


@pytest.mark.slow
def test_knn_and_band_on_a_spatially_shuffled_register(dask_client, firms_dask):
    assert_same(firms_dask, "knn:8")
    assert_same(firms_dask, "knn:5", transform=None)
    assert_same(firms_dask, "knn:6", transform="v")
    assert_same(firms_dask, "distance:8km")


@pytest.mark.slow
def test_structure_summary_equals_in_memory(dask_client, firms_dask):
    frame = firms_dask.compute()
    for spec in ("knn:4", "distance:3km"):
        _, info, iso = dask_tree_graph(firms_dask, parse_weights_spec(spec), spec=spec,
                                       transformation="R", coincident="raise", crs=None,
                                       seed=None, workers=1)
        built = build_graph(frame, spec)
        assert info == built.summary
        assert iso == built.isolate_ids


def test_shared_locations_raise_or_jitter_as_in_memory(dask_client):
    frame, sizes = LAYOUTS["duplicates"][0]()
    ddf = partitioned(frame, sizes)
    with pytest.raises(WeightsError, match="4 of 60 units share a location"):
        gc.weights(ddf, "knn:4")
    assert_same(ddf, "knn:4", coincident="jitter", seed=5)


def test_other_specs_and_geographic_bands_are_refused(dask_client, firms):
    ddf = dask_geopandas.from_geopandas(firms.to_crs(4326), npartitions=3)
    with pytest.raises(WeightsError, match="'queen' does not run on a dask GeoDataFrame"):
        gc.weights(ddf, "queen")
    with pytest.raises(WeightsError, match="'kernel:gaussian:5km' does not run"):
        gc.weights(ddf, "kernel:gaussian:5km")
    with pytest.raises(CRSError, match="geographic CRS"):
        gc.weights(ddf, "distance:5km")
    got = gc.weights(ddf, "knn:4", crs="EPSG:5070")
    assert_same_graph(got, gc.weights(ddf.compute(), "knn:4", crs="EPSG:5070"))


@pytest.mark.parametrize("case", sorted(MIXED))
def test_registers_not_partitioned_in_space_equal_in_memory(dask_client, case):
    # every partition spans the whole extent: the points are re-blocked in tiles
    make, radius = MIXED[case]
    frame, sizes = make()
    ddf = partitioned(frame, sizes)
    assert_same(ddf, "knn:4", coincident="jitter", seed=3)
    assert_same(ddf, f"distance:{radius:g}m")


@pytest.mark.parametrize("case", ["boundary", "empty_and_single"])
def test_tiles_forced_on_spatial_partitions_equal_in_memory(dask_client, monkeypatch, case):
    monkeypatch.setattr(tiles, "OVERLAP_LIMIT", 0.0)  # every block set is re-blocked
    frame, sizes = LAYOUTS[case][0]()
    assert_same(partitioned(frame, sizes), "knn:3")
    assert_same(partitioned(frame, sizes), f"distance:{LAYOUTS[case][1]:g}m")
