import importlib
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from libpysal.graph import Graph
from scipy.spatial import KDTree
from shapely.geometry import Point

import geocluster as gc
from geocluster.errors import CRSError, GeoclusterWarning, InputError, WeightsError
from geocluster.weights import (
    BuiltGraph,
    WeightsSpec,
    build_graph,
    check_spec,
    graph_summary,
    parse_weights_spec,
)


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
    band = build_graph(pts, "distance:10m", transform="b").graph
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


# --- knn and distance weights from one KD-tree query (equal to libpysal's builders) -------

_points_module = importlib.import_module("geocluster.weights.points")


def _frame(xy, ids=None, crs=3857):
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), index=ids, crs=crs)


def _lattice(nx, ny, spacing=100.0, seed=0):
    """A square lattice in shuffled order: every unit has ties at most neighbour ranks."""
    xy = np.stack(np.meshgrid(np.arange(nx), np.arange(ny)), -1).reshape(-1, 2) * spacing
    return xy[np.random.default_rng(seed).permutation(len(xy))].astype(float)


def _hexagons(n, spacing=1000.0):
    i, j = np.divmod(np.arange(n * n), n)
    return np.column_stack([(j + 0.5 * (i % 2)) * spacing, i * np.sqrt(3) / 2 * spacing])


def _weights_as_libpysal_reports(frame, spec, ref, **kwargs):
    """gc.weights, checking its structure warning against libpysal's counts for ``ref``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = gc.weights(frame, spec, **kwargs)
    messages = [str(w.message) for w in caught if issubclass(w.category, GeoclusterWarning)]
    if ref.n_components == 1 and len(ref.isolates) == 0:
        assert messages == []
    else:
        assert len(messages) == 1
        assert f"{len(ref.isolates)} of {ref.n} units have no neighbours" in messages[0]
        assert f"the graph has {ref.n_components} connected components" in messages[0]
    return out


def _assert_same_graph(ours, ref):
    """Same ids, order, neighbours, weights (exactly) and transformation."""
    pd.testing.assert_series_equal(ours._adjacency, ref._adjacency, check_exact=True)
    assert ours.transformation == ref.transformation
    assert list(ours._adjacency.index.levels[0]) == list(ref._adjacency.index.levels[0])


_DATA = {
    "random": lambda: _frame(np.random.default_rng(1).uniform(0, 5_000, (700, 2))),
    "lattice": lambda: _frame(_lattice(70, 60)),
    "hexagons, string ids": lambda: _frame(
        _hexagons(40), ids=[f"u{i}" for i in np.random.default_rng(2).permutation(1600)]),
    "lattice, shuffled int ids": lambda: _frame(
        _lattice(30, 20, seed=3), ids=np.random.default_rng(4).permutation(600) * 7),
}


@pytest.mark.parametrize("data", list(_DATA))
@pytest.mark.parametrize("k", [1, 3, 4, 8])
def test_knn_equals_libpysal_build_knn(data, k):
    frame = _DATA[data]()
    ref = Graph.build_knn(frame.geometry, k=k)
    transforms = (None, "r", "b", "v", "d") if data == "random" else (None, "r", "b")
    for transform in transforms:
        ours = _weights_as_libpysal_reports(frame, f"knn:{k}", ref, transform=transform)
        _assert_same_graph(ours, ref if transform is None else ref.transform(transform.upper()))


def test_knn_ties_follow_libpysal_not_the_plain_scipy_query(monkeypatch):
    """On a lattice, scipy's tree and libpysal's (scikit-learn's) pick different tied
    neighbours; gc.weights keeps libpysal's choice, through the tie rows only."""
    frame = _frame(_lattice(70, 60))
    xy = np.column_stack([frame.geometry.x, frame.geometry.y])
    ref = Graph.build_knn(frame.geometry, k=1)
    _, idx = KDTree(xy).query(xy, k=2)
    plain = Graph.from_arrays(frame.index, frame.index[idx[:, 1]], np.ones(len(xy)))
    assert not plain.equals(ref)  # the data really have ties decided differently
    _assert_same_graph(build_graph(frame, "knn:1", transform=None).graph, ref)
    monkeypatch.setattr(_points_module, "TIE_RTOL", -1.0)  # no row counts as a tie
    assert not build_graph(frame, "knn:1", transform=None).graph.equals(ref)


@pytest.mark.parametrize(
    "data, threshold",
    [(data, t) for data in _DATA for t in (100.0, 150.0, 250.0)]
    + [("random", 1_000.0), ("hexagons, string ids", 1_000.0)],  # 1,000 m: hexagon sides
)
def test_distance_band_equals_libpysal(data, threshold):
    frame = _DATA[data]()
    ref = Graph.build_distance_band(frame.geometry, threshold)
    spec = f"distance:{threshold:g}m"
    transforms = (None, "r", "b", "v", "d") if data.startswith("hex") else (None, "r", "b")
    for transform in transforms:
        if transform in ("v", "d") and not ref.adjacency.any():  # no unit has a neighbour
            with pytest.raises(WeightsError, match=rf"transform='{transform}' divides by the "
                               r"sum of all weights, which is 0"):
                build_graph(frame, spec, transform=transform)
            continue
        ours = _weights_as_libpysal_reports(frame, spec, ref, transform=transform)
        _assert_same_graph(ours, ref if transform is None else ref.transform(transform.upper()))


def test_distance_band_is_inclusive_at_the_threshold():
    # 3 x 3 lattice, 100 m apart: at exactly 100 m corners have 2 neighbours, edges 3, the
    # centre 4; just below the diagonal (141.42 m) the same; at 142 m corners 3, edges 5,
    # the centre 8.
    xy = np.stack(np.meshgrid(np.arange(3), np.arange(3)), -1).reshape(-1, 2) * 100.0
    frame = _frame(xy)
    corner, edge, centre = [0, 2, 6, 8], [1, 3, 5, 7], [4]
    for spec, want in [("distance:100m", (2, 3, 4)), ("distance:141m", (2, 3, 4)),
                       ("distance:142m", (3, 5, 8))]:
        card = gc.weights(frame, spec, transform="b").cardinalities.to_numpy()
        assert card[corner].tolist() == [want[0]] * 4
        assert card[edge].tolist() == [want[1]] * 4
        assert card[centre].tolist() == [want[2]]
    assert build_graph(frame, "distance:99.9m", transform="b").graph.isolates.size == 9


def test_distance_band_isolates_are_zero_self_loops_like_libpysal():
    frame = _frame(np.array([[0, 0], [50, 0], [500, 0], [1_000, 0], [1_040, 0.0]]),
                   ids=["a", "b", "c", "d", "e"])
    with pytest.warns(GeoclusterWarning, match=r"1 of 5 units have no neighbours \(e.g. "
                      r"\['c'\]\) and the graph has 3 connected components"):
        g = gc.weights(frame, "distance:60m")
    assert g.adjacency.loc[("c", "c")] == 0.0
    assert g.adjacency.loc[("a", "b")] == 1.0 and g.adjacency.loc[("e", "d")] == 1.0
    assert list(g.isolates) == ["c"]
    with pytest.raises(WeightsError, match=r"transform='d' divides by the sum of all weights, "
                       r"which is 0 \(no unit of 5 has a neighbour\)\. Use a larger distance"):
        build_graph(frame, "distance:10m", transform="d")


def test_knn_components_are_counted_from_the_arrays():
    # Two groups of three, 10 km apart: knn:2 links each group to itself only.
    xy = np.array([[0, 0], [10, 0], [0, 10], [10_000, 0], [10_010, 0], [10_000, 10.0]])
    with pytest.warns(GeoclusterWarning, match=r"'knn:2': 0 of 6 units have no neighbours "
                      r"and the graph has 2 connected components\.$"):
        g = gc.weights(_frame(xy), "knn:2")
    assert g.n_components == 2 and (g.cardinalities == 2).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # build_graph reports nothing: the same Graph
        built = build_graph(_frame(xy), "knn:2")
        uncounted = build_graph(_frame(xy), "knn:2", count_components=False)
    _assert_same_graph(built.graph, g)
    _assert_same_graph(uncounted.graph, g)
    assert built.summary["components"] == 2 and uncounted.summary["components"] is None
    band = build_graph(_frame(xy), "distance:20m").graph
    assert band.n_components == 2 and band.cardinalities.tolist() == [2] * 6


def test_isolates_vocabulary_is_keep_or_raise():
    pts = gpd.GeoDataFrame(geometry=[Point(0, 0), Point(1000, 0), Point(50_000, 0)], crs=3857)
    with pytest.warns(GeoclusterWarning, match=r"1 of 3 units have no neighbours \(e.g. \[2\]\) "
                      r"and the graph has 2 connected components.*isolates='raise' makes this "
                      r"an error"):
        kept = gc.weights(pts, "distance:2km", isolates="keep")
    assert list(kept.isolates) == [2]
    with pytest.warns(GeoclusterWarning, match="1 of 3 units"):  # "keep" is the default
        _assert_same_graph(gc.weights(pts, "distance:2km"), kept)
    with pytest.raises(WeightsError, match=r"1 of 3 units have no neighbours.*pass "
                       r"isolates='keep'\.$"):
        gc.weights(pts, "distance:2km", isolates="raise")
    for old in ("warn", "ignore", "drop", None):
        with pytest.raises(WeightsError, match=rf"^isolates={old!r} is not an option; pass 'keep' "
                           r"\(keep them and warn with a count\) or 'raise'\.$"):
            gc.weights(pts, "distance:2km", isolates=old)


def test_build_graph_returns_the_graph_and_its_counts(columbus):
    built = build_graph(columbus, "queen")
    assert isinstance(built, BuiltGraph)
    assert built.summary == graph_summary(gc.weights(columbus, "queen"))
    assert built.isolate_ids == []
    _assert_same_graph(built.graph, gc.weights(columbus, "queen"))
    ready = build_graph(columbus, built.graph, transform=None)
    assert ready.graph is built.graph
    with pytest.raises(WeightsError, match="does not match the frame"):
        build_graph(columbus.iloc[::-1], built.graph)


@pytest.mark.parametrize("spec, parsed", [
    ("queen", WeightsSpec("queen", "queen")),
    (" ROOK", WeightsSpec("rook", "rook")),
    ("knn:08", WeightsSpec("knn:8", "knn", k=8)),
    ("distance:25km", WeightsSpec("distance:25km", "distance", distance=25_000.0)),
    ("distance: 500 m", WeightsSpec("distance:500 m", "distance", distance=500.0)),
    ("kernel:Triangular:2km", WeightsSpec("kernel:triangular:2km", "kernel", distance=2_000.0,
                                          kernel="triangular")),
])
def test_parse_weights_spec(spec, parsed):
    out = parse_weights_spec(spec)
    assert out == parsed and str(out) == parsed.text == check_spec(spec)
    assert out.needs_metres == (parsed.kind in ("distance", "kernel"))
    assert out.is_contiguity == (parsed.kind in ("queen", "rook"))
    with pytest.raises(AttributeError):
        out.k = 3  # frozen


def test_parse_weights_spec_rejects_like_check_spec():
    with pytest.raises(WeightsError, match=r"unknown weights spec 'queens'.*'queen', not 'queens'"):
        parse_weights_spec("queens")
    with pytest.raises(WeightsError, match=r"'knn:0': K must be at least 1"):
        parse_weights_spec("knn:0")


def test_cached_sparse_is_libpysals_and_independent_of_the_adjacency():
    frame = _DATA["hexagons, string ids"]()
    for spec, transform in [("knn:5", "r"), ("knn:5", None), ("distance:1000m", "b"),
                            ("distance:1000m", "r")]:
        g = build_graph(frame, spec, transform=transform).graph
        fresh = Graph(g._adjacency.copy(), transformation=g.transformation, is_sorted=True)
        ours, theirs = g.sparse, fresh.sparse
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours.indptr, theirs.indptr)
        np.testing.assert_array_equal(ours.indices, theirs.indices)
        np.testing.assert_array_equal(ours.data, theirs.data)
        before = g._adjacency.copy()
        ours.data[:] = 7.0
        ours.indices[:] = 0
        pd.testing.assert_series_equal(g._adjacency, before, check_exact=True)


def test_knn_polygons_use_centroids_and_geographic_points_are_projected(columbus):
    _assert_same_graph(gc.weights(columbus, "knn:4", transform=None),
                       Graph.build_knn(columbus.centroid, k=4))
    rng = np.random.default_rng(5)
    lonlat = _frame(np.column_stack([rng.uniform(-74, -73, 300), rng.uniform(40, 41, 300)]),
                    crs=4326)
    _assert_same_graph(gc.weights(lonlat, "knn:6", transform="r"),
                       Graph.build_knn(gc.to_metric(lonlat).geometry, k=6).transform("R"))


def test_knn_jitter_is_the_documented_move_then_libpysal_neighbours():
    xy = np.array([[0, 0], [0, 0], [1000, 0], [0, 1000], [900, 900], [900, 900.0]])
    frame = _frame(xy, ids=[10, 11, 12, 13, 14, 15])
    before = frame.copy()
    ours = gc.weights(frame, "knn:2", coincident="jitter", seed=7, transform=None)
    moved = xy.copy()
    dup = np.array([True, True, False, False, True, True])
    moved[dup] += np.random.default_rng(7).uniform(-1e-3, 1e-3, size=(4, 2))
    _assert_same_graph(ours, Graph.build_knn(_frame(moved, ids=frame.index).geometry, k=2))
    assert 11 in ours[10].index and 15 in ours[14].index  # twins ~1 mm apart stay nearest
    assert_geodataframe_equal(frame, before)  # the input is not moved


def test_workers_do_not_change_the_result_and_are_checked():
    frame = _DATA["lattice"]()
    _assert_same_graph(gc.weights(frame, "knn:4", workers=1), gc.weights(frame, "knn:4"))
    for bad in (0, -2, 1.5, "2", True):
        with pytest.raises(WeightsError, match=rf"workers={bad!r} is not a number of threads; "
                           r"pass -1 \(every core\) or a positive int"):
            gc.weights(frame, "knn:4", workers=bad)


@pytest.mark.parametrize("spec", ["knn:1", "distance:5km"])
def test_non_finite_coordinates_are_refused(spec):
    frame = gpd.GeoDataFrame(geometry=[Point(0, 0), Point(1, 0), Point(np.nan, np.nan),
                                       Point(np.inf, 2)], index=list("abcd"), crs=3857)
    with pytest.raises(InputError, match=rf"'{spec}': 2 of 4 units have coordinates that are "
                       r"not finite numbers \(NaN or infinite; ids \['c', 'd'\]\)\. Drop or fix"):
        gc.weights(frame, spec)


@pytest.mark.slow
def test_large_lattice_knn_and_band_equal_libpysal():
    """120k units on a shuffled lattice with holes: ties everywhere, some isolates."""
    rng = np.random.default_rng(8)
    xy = _lattice(400, 400, seed=9)
    xy = xy[rng.random(len(xy)) < 0.75]
    frame = _frame(xy)
    _assert_same_graph(gc.weights(frame, "knn:8"), Graph.build_knn(frame.geometry, k=8)
                       .transform("R"))
    ref = Graph.build_distance_band(frame.geometry, 100.0)
    with pytest.warns(GeoclusterWarning, match="units have no neighbours"):
        ours = gc.weights(frame, "distance:100m")
    _assert_same_graph(ours, ref.transform("R"))
