"""Weights on points: ``knn`` and ``distance`` from one KD-tree query, points for kernels.

``knn`` and ``distance`` weights (:func:`tree_graph`): one ``scipy.spatial.KDTree`` per
call, ``query`` (K + 2 nearest, asked in the tree's leaf order, ``workers`` threads) for
``knn``, ``query_pairs`` for a distance band. The adjacency arrays go to the Graph already
in libpysal's canonical order (``is_sorted=True``: rows in frame order, neighbours
ascending by position), so the constructor's re-sorting is skipped; row standardisation,
the first ``graph.sparse`` and the structure report come from the same arrays. The Graph
equals what libpysal's ``Graph.build_knn`` / ``Graph.build_distance_band`` followed by
``transform`` give: rows where the K-th and (K+1)-th nearest distances tie are answered by
the tree query libpysal itself uses, so the same tied unit wins; a band includes units at
exactly the distance and encodes an isolate as a zero-weight self-loop, as libpysal does.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from libpysal.graph import Graph
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import KDTree

from geocluster._base.validate import make_rng
from geocluster.errors import CRSError, InputError, WeightsError
from geocluster.units import to_metric
from geocluster.weights.spec import WeightsSpec
from geocluster.weights.structure import transform_graph

__all__ = ["TIE_RTOL", "kernel_points", "tree_graph"]


def _prepare_tree_query(coordinates: np.ndarray, metric: str = "euclidean"):
    """The nearest-neighbour query libpysal's ``Graph.build_knn`` uses (it decides which
    tied neighbour wins): scikit-learn's KDTree when installed, else scipy's.

    The same choice as libpysal 4.14's private ``graph._kernel._prepare_tree_query`` for
    the Euclidean metric, written here so as not to import another package's private
    module; ``tests/test_weights.py`` checks the Graphs stay equal to libpysal's.
    """
    try:
        from sklearn.neighbors import KDTree as SklearnKDTree
    except ImportError:
        tree = KDTree(coordinates)
        return lambda target, k: tree.query(target, k=k, p=2)
    return SklearnKDTree(coordinates, metric=metric).query


#: Relative gap between the K-th and the (K+1)-th nearest distance below which a row
#: counts as a tie at the K-th neighbour and is answered by libpysal's own tree query.
TIE_RTOL = 1e-9


def _check_knn_range(k: int, n: int, spec: str) -> None:
    if not 1 <= k < n:
        raise WeightsError(
            f"weights spec {spec!r}: K must be between 1 and n-1 = {n - 1} for {n} "
            f"units; use a smaller K (e.g. 'knn:{max(1, min(8, n - 1))}') or more units."
        )


def tree_graph(
    gdf, parsed: WeightsSpec, *, spec: str, transformation: str | None, coincident: str,
    crs, seed, workers: int, count_components: bool = True,
) -> tuple[Graph, dict, list]:
    """``knn`` / ``distance`` weights from one KD-tree query: (Graph, summary, isolate ids).

    The Graph equals libpysal's ``build_knn`` / ``build_distance_band`` followed by
    ``transform``; the summary equals :func:`graph_summary` of it (with
    ``components=None`` when ``count_components`` is false: nothing reports them).
    """
    n = len(gdf)
    kind = parsed.kind
    if kind == "knn":
        k = parsed.k
        assert k is not None  # a parsed knn spec always carries K
        _check_knn_range(k, n, spec)
        xy = _coordinates(gdf, crs, spec, needs_metres=False)
        indptr, indices, data, n_components = _knn_adjacency(
            xy, k, coincident=coincident, seed=seed, spec=spec, ids=gdf.index, workers=workers,
            count_components=count_components)
    else:
        xy = _coordinates(gdf, crs, spec, needs_metres=True)
        assert parsed.distance is not None  # a parsed band carries its distance
        indptr, indices, data = _band_adjacency(xy, parsed.distance)
        n_components = None  # counted below, on the float64 array
    counts = np.diff(indptr)
    rows = np.repeat(np.arange(n, dtype=indices.dtype), counts)  # focal position per entry
    # A unit whose only entry is a zero-weight self-loop is an isolate (libpysal's encoding).
    isolated = data[indptr[:-1]] == 0 if kind == "distance" else np.zeros(n, dtype=bool)
    cardinalities = np.where(isolated, 0, counts)

    if transformation in ("R", None, "B"):
        if transformation == "R":
            scale = np.divide(1.0, cardinalities, out=np.zeros(n), where=cardinalities > 0)
            weight = scale[rows]
        else:
            weight = data.astype(np.float64 if transformation is None else np.int64)
        graph = _graph(gdf.index, rows, indices, weight, "O" if transformation is None
                       else transformation)
        # The CSR array libpysal's Graph.sparse builds from this adjacency (tested), so
        # the first use of graph.sparse costs nothing. Own copies of the arrays: an
        # in-place change of graph.sparse must not reach the adjacency.
        matrix = sparse.csr_array((weight.astype(np.float64, copy=True), indices.copy(),
                                   indptr.copy()), shape=(n, n))
        graph.__dict__["sparse"] = matrix
    else:  # variance stabilising / doubly standardised: libpysal's own arithmetic
        graph = _graph(gdf.index, rows, indices, data.astype(np.float64), "O")
        graph = transform_graph(graph, transformation, repr(spec))
        matrix = None
    if kind == "distance" and count_components:
        # The band is symmetric, so its strong components are the weak ones (libpysal's
        # definition) and need no transpose; float64 data, so scipy makes no copy.
        if matrix is None:
            matrix = sparse.csr_array((np.ones(len(indices)), indices, indptr), shape=(n, n))
        n_components = int(connected_components(matrix, directed=True,
                                                connection="strong")[0])
    n_isolates = int(isolated.sum())
    info = {
        "n": n,
        "edges": int(cardinalities.sum()),
        "mean_neighbours": float(cardinalities.mean()),
        "components": n_components,
        "isolates": n_isolates,
    }
    iso_ids = gdf.index[isolated][:5].tolist() if n_isolates else []
    return graph, info, iso_ids


def _graph(ids: pd.Index, rows: np.ndarray, indices: np.ndarray, weight: np.ndarray,
           transformation: str) -> Graph:
    """A Graph from CSR-ordered adjacency, already in libpysal's canonical order.

    Rows follow ``ids`` and neighbours ascend by position within a row, which is the
    order ``Graph.__init__`` would sort into; the MultiIndex levels are the ids in
    frame order and the codes are positions, as after its ``reindex``.
    """
    level = pd.Index(np.asarray(ids))
    index = pd.MultiIndex(
        levels=[level, level],
        codes=[rows, indices],
        names=["focal", "neighbor"],
        verify_integrity=False,
    )
    adjacency = pd.Series(weight, index=index, name="weight", copy=False)
    return Graph(adjacency, transformation=transformation, is_sorted=True)


def _knn_adjacency(xy: np.ndarray, k: int, *, coincident: str, seed, spec: str, ids,
                   workers: int, count_components: bool = True
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None]:
    """CSR arrays (indptr, sorted neighbour positions, ones) of the K nearest neighbours
    and the number of (weakly) connected components."""
    n = len(xy)
    dup, neighbours, n_components = _nearest(xy, k, workers, count_components)
    if dup.any():
        if coincident == "raise":
            raise _coincident_error(spec, dup, xy, ids)
        rng = make_rng(seed, "weights")
        xy = xy.copy()
        xy[dup] += rng.uniform(-1e-3, 1e-3, size=(int(dup.sum()), 2))
        still, neighbours, n_components = _nearest(xy, k, workers, count_components)
        if still.any():  # pragma: no cover - needs a jitter draw landing on a point
            raise WeightsError(
                f"weights spec {spec!r}: {int(still.sum())} units still share a location "
                "after coincident='jitter'; pass another seed= or remove the duplicates."
            )
    assert neighbours is not None  # no shared location is left here
    indptr = np.arange(0, n * k + 1, k, dtype=neighbours.dtype)
    return indptr, neighbours.ravel(), np.ones(n * k, dtype=np.int8), n_components


def _nearest(xy: np.ndarray, k: int, workers: int, count_components: bool = True
             ) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """Units sharing a location, each unit's K nearest other units, components.

    Returns the shared-location mask and, when there is none, an ``(n, K)`` array of
    neighbour positions ascending within each row (both in ``xy``'s row order) and the
    number of weakly connected components of the K-nearest-neighbour graph.

    The queries are asked in the KD-tree's leaf order: consecutive queries then visit
    the same nodes, about twice as fast on data in no spatial order (a register sorted
    by firm id); a point's answer does not depend on the order. Rows where the K-th
    and (K+1)-th nearest distances tie are answered again by the query libpysal's
    ``build_knn`` uses (scikit-learn's KDTree when installed), because which tied unit
    wins depends on the tree's traversal. The components are counted on the graph
    relabelled in tree order, where the traversal touches nearby memory (the count does
    not depend on the labels).
    """
    n = len(xy)
    n_query = min(k + 2, n)  # self, K neighbours and one more to see ties at the K-th
    # Sliding-midpoint splits (balanced_tree=False): built in half the time and queried
    # as fast; which tree answers does not change the result (ties are settled below).
    tree = KDTree(xy, balanced_tree=False)
    order = tree.indices
    dist, idx = tree.query(xy[order], k=n_query, workers=workers)  # rows in tree order
    dup = np.empty(n, dtype=bool)
    dup[order] = dist[:, 1] == 0  # the nearest other unit at distance 0: a shared location
    if dup.any():
        return dup, None, 0
    # Without shared locations every unit is its own unique nearest point (column 0).
    neighbours = idx[:, 1:k + 1]
    if n_query == k + 2:
        tie = dist[:, k + 1] - dist[:, k] <= TIE_RTOL * dist[:, k + 1]
        if tie.any():
            query = _prepare_tree_query(xy, "euclidean")
            _, tied = query(xy[order[tie]], k=k + 1)
            neighbours[tie] = tied[:, 1:]
    dtype = _index_dtype(n * k)
    neighbours = np.sort(neighbours, axis=1).astype(dtype, copy=False)
    n_components = None
    if count_components:
        rank = np.empty(n, dtype=dtype)
        rank[order] = np.arange(n, dtype=dtype)
        indptr = np.arange(0, n * k + 1, k, dtype=dtype)
        in_tree_order = sparse.csr_array(
            (np.ones(n * k), rank[neighbours].ravel(), indptr), shape=(n, n))
        n_components = int(connected_components(in_tree_order, directed=False)[0])
        del in_tree_order
    out = np.empty((n, k), dtype=dtype)
    out[order] = neighbours
    return dup, out, n_components


def _band_adjacency(xy: np.ndarray, threshold: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays of every other unit within ``threshold`` (inclusive); isolates get a
    zero-weight self-loop, as libpysal encodes them."""
    n = len(xy)
    # i < j, each pair once; the set of pairs within the distance does not depend on the
    # tree, and sliding-midpoint splits build faster (1M points: 0.35 s against 0.6 s).
    pairs = KDTree(xy, balanced_tree=False).query_pairs(threshold, output_type="ndarray")
    dtype = _index_dtype(max(n, 2 * len(pairs) + n))
    heads = np.concatenate([pairs[:, 0], pairs[:, 1]], dtype=dtype, casting="same_kind")
    tails = np.concatenate([pairs[:, 1], pairs[:, 0]], dtype=dtype, casting="same_kind")
    data = np.ones(len(heads), dtype=np.int8)
    linked = np.zeros(n, dtype=bool)
    linked[pairs[:, 0]] = True
    linked[pairs[:, 1]] = True
    del pairs
    lonely = np.flatnonzero(~linked).astype(dtype)
    if len(lonely):
        heads = np.concatenate([heads, lonely])
        tails = np.concatenate([tails, lonely])
        data = np.concatenate([data, np.zeros(len(lonely), dtype=np.int8)])
    # coo -> csr groups by row and sorts each row's columns (no duplicates to sum).
    matrix = sparse.coo_array((data, (heads, tails)), shape=(n, n)).tocsr()
    matrix.sort_indices()
    return matrix.indptr, matrix.indices, matrix.data


def _index_dtype(size: int):
    """int32 positions while they fit (scipy's sparse arrays keep them), else int64."""
    return np.int32 if size < np.iinfo(np.int32).max else np.int64


def _metric_frame(gdf, crs, spec: str, *, needs_metres: bool) -> gpd.GeoDataFrame:
    """The geometry column, in metres where distances are measured, the frame is
    geographic or a ``crs`` is named (nearest neighbours need no unit otherwise)."""
    frame = gdf[[gdf.geometry.name]]
    geographic = frame.crs is not None and frame.crs.is_geographic
    if needs_metres and frame.crs is None:
        raise CRSError(
            f"weights spec {spec!r} measures distances, but the frame has no CRS. Set it "
            "(gdf.set_crs(...)) or use a unit-free spec such as 'knn:8' or 'queen'."
        )
    return to_metric(frame, crs) if (needs_metres or geographic or crs is not None) else frame


def _coordinates(gdf, crs, spec: str, *, needs_metres: bool) -> np.ndarray:
    """``(n, 2)`` coordinates of the points (centroids of other geometries), metric
    where distances are measured or the frame is geographic."""
    metric = _metric_frame(gdf, crs, spec, needs_metres=needs_metres)
    geoms = metric.geometry.to_numpy()
    if not (shapely.get_type_id(geoms) == 0).all():  # 0: Point
        geoms = shapely.centroid(geoms)
    xy = np.column_stack([shapely.get_x(geoms), shapely.get_y(geoms)])
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        shown = gdf.index[bad][:5].tolist()
        raise InputError(
            f"weights spec {spec!r}: {int(bad.sum())} of {len(gdf)} units have coordinates "
            f"that are not finite numbers (NaN or infinite; ids {shown}). Drop or fix those "
            "rows before building weights."
        )
    return xy


def kernel_points(gdf, crs, coincident: str | None, seed, spec: str, *,
                  needs_metres: bool) -> gpd.GeoSeries:
    """The units as points (centroids of other geometries) for a kernel Graph, with the
    coincident-points policy applied."""
    # Nearest neighbours do not depend on the unit, so a frame without a CRS (or in a
    # projected CRS of any unit) is used as it is; geographic coordinates are always
    # projected, and distance-based specs always run in metres.
    metric = _metric_frame(gdf, crs, spec, needs_metres=needs_metres)
    geom = metric.geometry
    if not (geom.geom_type == "Point").all():
        geom = geom.centroid
    xy = np.column_stack([geom.x.to_numpy(), geom.y.to_numpy()])
    if coincident is not None:
        dup = pd.DataFrame(xy).duplicated(keep=False).to_numpy()
        if dup.any() and coincident == "raise":
            raise _coincident_error(spec, dup, xy, gdf.index)
        if dup.any():
            rng = make_rng(seed, "weights")
            xy = xy.copy()
            xy[dup] += rng.uniform(-1e-3, 1e-3, size=(int(dup.sum()), 2))
    return gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), index=gdf.index, crs=metric.crs)


def _coincident_error(spec: str, dup: np.ndarray, xy: np.ndarray, ids: pd.Index) -> WeightsError:
    distinct = int(pd.DataFrame(xy[dup]).drop_duplicates().shape[0])
    return WeightsError(
        f"weights spec {spec!r}: {int(dup.sum())} of {len(xy)} units share a location "
        f"with another unit ({distinct} distinct locations; e.g. ids {ids[dup][:5].tolist()}), "
        "so nearest neighbours are ambiguous. Remove the duplicates, use a 'distance:D' "
        "spec, or pass coincident='jitter' (moves them by up to 1 mm, reproducible "
        "with seed=)."
    )
