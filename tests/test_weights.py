import geopandas as gpd
import numpy as np
import pytest
from libpysal.graph import Graph
from shapely.geometry import Point

import geocluster as gc
from geocluster.errors import CRSError, GeoclusterWarning, InputError, WeightsError
from geocluster.weights import check_spec


def test_columbus_queen_matches_reference(columbus, columbus_reference):
    g = gc.weights(columbus, "queen")
    assert g.n == 49
    assert int(g.cardinalities.sum()) == 236  # directed links in spdep's poly2nb(queen=TRUE)
    # Row-standardised: every row sums to one.
    np.testing.assert_allclose(np.asarray(g.sparse.sum(axis=1)).ravel(), 1.0)
    assert "row-standardised" in columbus_reference["weights"]


def test_columbus_queen_equals_libpysal_gal(columbus):
    """columbus.gal (shipped with libpysal) is the structure the R reference used."""
    from libpysal import examples
    from libpysal.weights import W

    path = examples.get_path("columbus.gal")
    gal_w = W.from_file(path) if hasattr(W, "from_file") else None
    if gal_w is None:  # pragma: no cover - older API
        from libpysal.io import open as ps_open

        gal_w = ps_open(path).read()
    # GAL ids are POLYID 1..49; ours are POLYID - 1.
    ours = gc.weights(columbus, "queen", transform="b")
    for polyid, neighbours in gal_w.neighbors.items():
        expected = sorted(int(n) - 1 for n in neighbours)
        assert sorted(ours[int(polyid) - 1].index.tolist()) == expected


def test_rook_is_subset_of_queen(columbus):
    queen = gc.weights(columbus, "queen", transform="b")
    rook = gc.weights(columbus, "rook", transform="b")
    assert rook.issubgraph(queen)
    assert rook.cardinalities.sum() <= queen.cardinalities.sum()


def test_knn_every_unit_has_k(columbus):
    g = gc.weights(columbus, "knn:5")
    assert (g.cardinalities == 5).all()
    np.testing.assert_allclose(np.asarray(g.sparse.sum(axis=1)).ravel(), 1.0)


def test_transform_options(columbus):
    b = gc.weights(columbus, "queen", transform="b")
    assert set(np.unique(b.sparse.data)) == {1.0}
    raw = gc.weights(columbus, "queen", transform=None)
    assert set(np.unique(raw.sparse.data)) == {1.0}
    with pytest.raises(WeightsError, match="transform='z' is not one of"):
        gc.weights(columbus, "queen", transform="z")


def test_distance_band_in_metres():
    # Points 1 km apart along a line at the equator (UTM chosen automatically).
    lon = np.arange(5) * (1000 / 111_320)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, np.zeros(5)), crs=4326)
    g = gc.weights(pts, "distance:1.5km", transform="b")
    assert g.cardinalities.tolist() == [1, 2, 2, 2, 1]
    g = gc.weights(pts, "distance:2500m", transform="b")
    assert g.cardinalities.tolist() == [2, 3, 4, 3, 2]


def test_kernel_weights_decay_with_distance():
    lon = np.arange(4) * (1000 / 111_320)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, np.zeros(4)), crs=4326)
    g = gc.weights(pts, "kernel:gaussian:5km", transform=None)
    row = g[0]
    assert row.is_monotonic_decreasing and (row > 0).all()


def test_ready_graph_is_used_and_checked(columbus):
    g = Graph.build_contiguity(columbus.geometry, rook=False)
    out = gc.weights(columbus, g)
    np.testing.assert_allclose(np.asarray(out.sparse.sum(axis=1)).ravel(), 1.0)
    # The user's Graph is not changed.
    assert set(np.unique(g.sparse.data)) == {1.0}
    with pytest.raises(WeightsError, match="does not match the frame"):
        gc.weights(columbus.iloc[:40], g)
    shuffled = columbus.iloc[::-1]
    with pytest.raises(WeightsError, match="different order"):
        gc.weights(shuffled, g)


@pytest.mark.parametrize(
    "spec", ["queens", "knn", "knn:x", "distance:", "distance:25 miles", "kernel:gauss:5km", 8]
)
def test_spec_typos_list_valid_forms(columbus, spec):
    with pytest.raises(WeightsError, match="knn:K"):
        gc.weights(columbus, spec)


def test_knn_k_out_of_range(columbus):
    with pytest.raises(WeightsError, match=r"'knn:49': K must be between 1 and n-1 = 48 for 49 "
                       r"units; use a smaller K \(e.g. 'knn:8'\) or more units"):
        gc.weights(columbus, "knn:49")
    with pytest.raises(WeightsError, match=r"'knn:0': K must be at least 1"):
        gc.weights(columbus, "knn:0")
    three = columbus.iloc[:3]
    with pytest.raises(WeightsError, match=r"n-1 = 2 for 3 units; use a smaller K \(e.g. 'knn:2'\)"):
        gc.weights(three, "knn:6")


def test_contiguity_needs_polygons():
    pts = gpd.GeoDataFrame(geometry=[Point(0, 0), Point(1, 1), Point(2, 0)], crs=3857)
    with pytest.raises(WeightsError, match="needs polygons"):
        gc.weights(pts, "queen")


def test_distance_needs_crs(columbus):
    with pytest.raises(CRSError, match="no CRS"):
        gc.weights(columbus, "distance:1km")


def test_coincident_points_policy():
    pts = gpd.GeoDataFrame(
        geometry=[Point(0, 0), Point(0, 0), Point(1000, 0), Point(0, 1000), Point(900, 900)],
        crs=3857,
    )
    with pytest.raises(
        WeightsError, match=r"'knn:2': 2 of 5 units share a location .*1 distinct locations.*jitter"
    ):
        gc.weights(pts, "knn:2")
    band = gc.weights(pts, "distance:10m", transform="b", isolates="ignore")
    assert band[0].index.tolist() == [1]  # coincident units are neighbours in a band
    a = gc.weights(pts, "knn:2", coincident="jitter", seed=1)
    b = gc.weights(pts, "knn:2", coincident="jitter", seed=1)
    assert a.equals(b)
    assert (a.cardinalities == 2).all()


def test_islands_reported_with_counts(counties_conus):
    with pytest.warns(GeoclusterWarning, match=r"2 of 3107 units have no neighbours.*3 connected"):
        g = gc.weights(counties_conus, "queen")
    assert set(g.isolates) == {"25019", "53055"}  # Nantucket, San Juan (WA)
    with pytest.raises(WeightsError, match="2 of 3107 units have no neighbours"):
        gc.weights(counties_conus, "queen", isolates="raise")


def test_bad_frames(columbus):
    with pytest.raises(InputError, match="need a GeoDataFrame"):
        gc.weights(columbus.drop(columns="geometry").to_numpy(), "queen")
    with pytest.raises(WeightsError, match="at least 2 units"):
        gc.weights(columbus.iloc[:1], "queen")
    dup = columbus.copy()
    dup.index = [0] * 49
    with pytest.raises(InputError, match="duplicate labels"):
        gc.weights(dup, "queen")


@pytest.mark.parametrize(
    "spec, normalised",
    [("queen", "queen"), (" Rook ", "rook"), ("KNN:08", "knn:8"), ("knn:1", "knn:1"),
     ("distance:25km", "distance:25km"), ("Distance: 500 m", "distance:500 m"),
     ("kernel:Gaussian:25km", "kernel:gaussian:25km"), ("kernel:boxcar:1e3m", "kernel:boxcar:1e3m")],
)
def test_check_spec_normalises(spec, normalised):
    assert check_spec(spec) == normalised


@pytest.mark.parametrize(
    "spec, problem",
    [("queens", r"unknown weights spec 'queens'.*'queen', not 'queens'"),
     ("knn", r"unknown weights spec 'knn'"),
     ("knn:0", r"'knn:0': K must be at least 1; use e.g. 'knn:8'"),
     ("knn:-3", r"unknown weights spec 'knn:-3'"),
     ("distance:25 miles", r"'distance:25 miles'.*not a distance.*'25km'"),
     ("distance:0km", r"'distance:0km'.*must be a positive, finite distance"),
     ("kernel:gauss:5km", r"unknown kernel 'gauss'; choose one of gaussian, triangular"),
     ("kernel:gaussian", r"unknown weights spec 'kernel:gaussian'"),
     (8, r"spec=8 is not a weights specification \(a int\)"),
     (None, r"spec=None is not a weights specification")],
)
def test_check_spec_rejects_with_valid_forms(spec, problem):
    with pytest.raises(WeightsError, match=problem) as info:
        check_spec(spec)
    assert "'knn:K' (e.g. 'knn:8')" in str(info.value)  # the valid forms are listed


def test_isolates_warning_names_the_remedy():
    # Three points 1 km apart on a line and one 50 km away: a 2 km band leaves 1 isolate.
    pts = gpd.GeoDataFrame(geometry=[Point(0, 0), Point(1000, 0), Point(2000, 0),
                                     Point(50_000, 0)], crs=3857)
    with pytest.warns(GeoclusterWarning, match=r"'distance:2km': 1 of 4 units have no neighbours "
                      r"\(e.g. \[3\]\) and the graph has 2 connected components. A larger "
                      r"distance or a 'knn:K' spec"):
        gc.weights(pts, "distance:2km")
