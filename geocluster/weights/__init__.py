"""Spatial weights: one specification string -> a ``libpysal.graph.Graph``.

Specifications
--------------
``"queen"``, ``"rook"``
    Contiguity of polygons (shared vertex / shared edge).
``"knn:K"``
    The K nearest neighbours of each unit (polygon centroids for polygons),
    measured in a metric CRS.
``"distance:25km"``
    Every unit within the distance (``m`` or ``km``), binary before transform.
``"kernel:NAME:25km"``
    Kernel weights with a fixed bandwidth; NAME is one of ``gaussian``,
    ``triangular``, ``epanechnikov``, ``bisquare``, ``cosine``, ``boxcar``,
    ``exponential``.

The Graph's ids are the frame's index, so results align with the input rows.
Islands (units with no neighbour) and disconnected components are reported in a
:class:`~geocluster.errors.GeoclusterWarning` with counts; ``isolates="raise"``
turns that into an error.

How ``knn`` and ``distance`` weights are built
----------------------------------------------
One ``scipy.spatial.KDTree`` per call: ``query`` (K + 2 nearest, asked in the tree's
leaf order, ``workers`` threads) for ``knn``, ``query_pairs`` for a distance band.
The adjacency arrays go to the Graph already in libpysal's canonical order
(``is_sorted=True``: rows in frame order, neighbours ascending by position), so the
constructor's re-sorting is skipped; row standardisation, the first ``graph.sparse``
and the structure report come from the same arrays. The Graph equals what libpysal's
``Graph.build_knn`` / ``Graph.build_distance_band`` followed by ``transform`` give:
rows where the K-th and (K+1)-th nearest distances tie are answered by the tree query
libpysal itself uses, so the same tied unit wins; a band includes units at exactly
the distance and encodes an isolate as a zero-weight self-loop, as libpysal does.
1M points in no spatial order (``benchmarks/bench_weights.py``): ``knn:8`` 2.6 s against
4.7 s for a bare ``KDTree(xy).query(xy, k=9)`` and 22 s for ``Graph.build_knn``; a
band with 9 neighbours a unit 1.5 s against 1.4 s for a bare
``sparse_distance_matrix`` and 30 s for ``Graph.build_distance_band``.
"""

from __future__ import annotations

import re
import warnings
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from libpysal.graph import Graph
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import KDTree

from geocluster.errors import CRSError, GeoclusterWarning, InputError, WeightsError
from geocluster.units import parse_distance, to_metric

try:  # the tree query libpysal's build_knn uses (it decides which tied neighbour wins)
    from libpysal.graph._kernel import _prepare_tree_query
except ImportError:  # pragma: no cover - a libpysal without the helper: the same choice

    def _prepare_tree_query(coordinates, metric, p=2):
        try:
            from sklearn.neighbors import KDTree as SklearnKDTree
        except ImportError:
            tree = KDTree(coordinates)
            return lambda target, k: tree.query(target, k=k, p=2)
        return SklearnKDTree(coordinates, metric=metric).query

__all__ = ["weights", "check_spec", "check_graph_matches", "graph_summary", "VALID_SPECS"]

VALID_SPECS = (
    "'queen', 'rook', 'knn:K' (e.g. 'knn:8'), 'distance:D' (e.g. 'distance:25km'), "
    "'kernel:NAME:D' (e.g. 'kernel:gaussian:25km'), or a libpysal.graph.Graph"
)
KERNELS = ("gaussian", "triangular", "epanechnikov", "bisquare", "cosine", "boxcar", "exponential")
TRANSFORMS = ("r", "b", "v", "d")

_KNN_RE = re.compile(r"^knn:(\d+)$")
_DIST_RE = re.compile(r"^distance:(.+)$")
_KERNEL_RE = re.compile(r"^kernel:([a-z]+):(.+)$")


def check_spec(spec: str) -> str:
    """Check a weights specification string and return it normalised.

    The check needs no data: it is what a configuration file or a command line can
    verify before anything is read. Whether ``K`` fits the number of units is checked
    by :func:`weights`.

    Parameters
    ----------
    spec
        ``"queen"``, ``"rook"``, ``"knn:K"``, ``"distance:D"`` or ``"kernel:NAME:D"``
        (case and surrounding spaces do not matter).

    Returns
    -------
    str
        The specification in lower case without spaces around it and with ``K`` as a
        plain integer, e.g. ``"knn:8"`` or ``"distance:25km"``.

    Raises
    ------
    WeightsError
        ``spec`` is not a string or not one of the valid forms; the message names
        the spec and lists the valid forms.

    Examples
    --------
    >>> check_spec(" KNN:08 ")
    'knn:8'
    >>> check_spec("kernel:Gaussian:25km")
    'kernel:gaussian:25km'
    >>> check_spec("queens")
    Traceback (most recent call last):
    ...
    geocluster.errors.WeightsError: unknown weights spec 'queens'; ...
    """
    return _parse_spec(spec)[0]


def _parse_spec(spec) -> tuple[str, str, tuple]:
    """``(normalised, kind, arguments)`` of a specification string, or WeightsError."""
    if not isinstance(spec, str):
        raise WeightsError(
            f"spec={spec!r} is not a weights specification (a {type(spec).__name__}); "
            f"use {VALID_SPECS}."
        )
    text = spec.strip().lower()
    if text in ("queen", "rook"):
        return text, text, ()
    if match := _KNN_RE.match(text):
        k = int(match.group(1))
        if k < 1:
            raise WeightsError(
                f"weights spec {spec!r}: K must be at least 1; use e.g. 'knn:8'. "
                f"Valid forms are {VALID_SPECS}."
            )
        return f"knn:{k}", "knn", (k,)
    if match := _DIST_RE.match(text):
        threshold = _distance(match.group(1), spec)
        return f"distance:{match.group(1).strip()}", "distance", (threshold,)
    if match := _KERNEL_RE.match(text):
        name = match.group(1)
        if name not in KERNELS:
            raise WeightsError(
                f"weights spec {spec!r}: unknown kernel {name!r}; choose one of "
                f"{', '.join(KERNELS)}, e.g. 'kernel:gaussian:25km'. "
                f"Valid forms are {VALID_SPECS}."
            )
        bandwidth = _distance(match.group(2), spec)
        return f"kernel:{name}:{match.group(2).strip()}", "kernel", (name, bandwidth)
    raise WeightsError(
        f"unknown weights spec {spec!r}; valid forms are {VALID_SPECS}. "
        "Check the spelling (e.g. 'queen', not 'queens') and the separator ':'."
    )


def weights(
    gdf: gpd.GeoDataFrame,
    spec: str | Graph = "queen",
    *,
    transform: str | None = "r",
    coincident: Literal["raise", "jitter"] = "raise",
    isolates: Literal["warn", "raise", "ignore"] = "warn",
    crs: str | int | pyproj.CRS | None = None,
    seed: int | np.random.Generator | None = None,
    workers: int = -1,
) -> Graph:
    """Build spatial weights for the rows of ``gdf``.

    Parameters
    ----------
    gdf
        Units (polygons) or points. The index becomes the Graph's ids; it must be
        unique.
    spec
        A specification string (see the module docstring) or a ready ``Graph``,
        whose ids must then equal ``gdf.index``.
    transform
        ``"r"`` row-standardised (default), ``"b"`` binary, ``"v"`` variance
        stabilising, ``"d"`` doubly standardised, or ``None`` to keep the weights
        as built (a ready Graph is then returned as given).
    coincident
        What to do when points share a location under ``knn`` or ``kernel``:
        ``"raise"`` (default) stops with the count; ``"jitter"`` moves each
        coincident point by up to 1 mm at random (reproducible with ``seed``).
        (libpysal's ``coplanar="clique"`` fails in libpysal 4.14 with duplicate-label
        errors, so it is not offered.) Distance bands need no policy.
    isolates
        ``"warn"`` (default) reports units without neighbours and components in a
        warning; ``"raise"`` stops; ``"ignore"`` says nothing.
    crs
        Metric CRS for distance-based specs; default: :func:`geocluster.to_metric`'s
        automatic choice.
    seed
        Random seed for ``coincident="jitter"``.
    workers
        Threads for the nearest-neighbour query of ``knn`` specs (scipy's
        ``KDTree.query``): ``-1`` (default) uses every core, ``1`` one thread. The
        result does not depend on it.

    Returns
    -------
    libpysal.graph.Graph

    Notes
    -----
    ``knn`` and ``distance`` weights come from one ``scipy.spatial.KDTree`` query
    and equal libpysal's ``Graph.build_knn`` / ``Graph.build_distance_band``
    (then ``transform``): the same neighbours, including which unit wins a tie at
    the K-th nearest distance, the same ids, order, weights and transformation (see
    the module docstring).

    Examples
    --------
    >>> import geocluster as gc
    >>> columbus = gc.datasets.load_columbus()
    >>> g = gc.weights(columbus, "queen")
    >>> g.n, int(g.cardinalities.sum())
    (49, 236)
    >>> gc.weights(columbus, "knn:4").cardinalities.unique().tolist()
    [4]
    """
    _check_frame(gdf)
    _check_seed(seed)
    if transform is not None and str(transform).lower() not in TRANSFORMS:
        raise WeightsError(
            f"transform={transform!r} is not one of {TRANSFORMS} or None; pass one of them "
            "(r: row-standardised, b: binary, v: variance stabilising, d: doubly standardised)."
        )
    if isolates not in ("warn", "raise", "ignore"):
        raise WeightsError(
            f"isolates={isolates!r} is not an option; pass 'warn', 'raise' or 'ignore'."
        )
    if coincident not in ("raise", "jitter"):
        raise WeightsError(
            f"coincident={coincident!r} is not an option; pass 'raise' or 'jitter'."
        )

    _check_workers(workers)
    transformation = None if transform is None else str(transform).upper()

    if isinstance(spec, Graph):
        check_graph_matches(spec, gdf)
        graph = spec
        if transformation is not None:
            graph = _transform(graph, transformation, "the given Graph")
        _report_structure(graph_summary(graph), list(graph.isolates[:5]), "the given Graph",
                          isolates)
        return graph

    check_spec(spec)
    _, kind, args = _parse_spec(spec)
    if kind in ("knn", "distance"):
        graph, info, iso_ids = _build_from_tree(
            gdf, spec, kind, args, transformation=transformation, coincident=coincident,
            crs=crs, seed=seed, workers=workers, count_components=isolates != "ignore",
        )
    else:
        graph = _build(gdf, spec, coincident=coincident, crs=crs, seed=seed)
        if transformation is not None:
            graph = _transform(graph, transformation, repr(spec))
        info, iso_ids = graph_summary(graph), list(graph.isolates[:5])
    if isolates != "ignore":
        _report_structure(info, iso_ids, repr(spec), isolates)
    return graph


def _check_frame(gdf) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(
            f"weights need a GeoDataFrame, got {type(gdf).__name__}; read firms with "
            "gc.read_firms(...) or build one with geopandas.GeoDataFrame(..., geometry=...)."
        )
    if len(gdf) < 2:
        raise WeightsError(
            f"weights need at least 2 units; the frame has {len(gdf)}. Pass a frame with "
            "two or more units (rows)."
        )
    if not gdf.index.is_unique:
        dup = gdf.index[gdf.index.duplicated()].unique()[:5].tolist()
        raise InputError(
            f"the frame's index has duplicate labels (e.g. {dup}); weights use the index "
            "as unit ids. Use reset_index() or set_index() on a unique id column."
        )
    missing = (gdf.geometry.isna() | gdf.geometry.is_empty).to_numpy()
    if missing.any():
        bad = gdf.index[missing][:5].tolist()
        raise InputError(
            f"{int(missing.sum())} of {len(gdf)} units have missing or empty geometries "
            f"(ids {bad}); weights need a location for every unit. Drop or fix them first, "
            "e.g. gdf[~gdf.geometry.is_empty & gdf.geometry.notna()]."
        )


def _build(gdf, spec: str, *, coincident: str, crs, seed) -> Graph:
    _, kind, args = _parse_spec(spec)
    if kind in ("queen", "rook"):
        kinds = set(gdf.geom_type.unique())
        if not kinds <= {"Polygon", "MultiPolygon"}:
            raise WeightsError(
                f"weights spec {spec!r}: contiguity needs polygons, but the geometries are "
                f"{sorted(kinds)}; for points use 'knn:K', 'distance:D' or 'kernel:NAME:D'."
            )
        return Graph.build_contiguity(gdf.geometry, rook=(kind == "rook"))
    name, bandwidth = args
    points = _points(gdf, crs, coincident, seed, spec, needs_metres=True)
    return Graph.build_kernel(points, kernel=name, bandwidth=bandwidth)


#: Relative gap between the K-th and the (K+1)-th nearest distance below which a row
#: counts as a tie at the K-th neighbour and is answered by libpysal's own tree query.
_TIE_RTOL = 1e-9


def _transform(graph: Graph, transformation: str, label: str) -> Graph:
    """``graph.transform``, refusing to divide by a total weight of 0 ('d', 'v')."""
    if transformation in ("D", "V") and float(graph._adjacency.abs().sum()) == 0:
        raise WeightsError(
            f"weights {label}: transform={transformation.lower()!r} divides by the sum of "
            f"all weights, which is 0 (no unit of {graph.n} has a neighbour). Use a larger "
            "distance or a 'knn:K' spec, or another transform."
        )
    return graph.transform(transformation)


def _check_knn_range(k: int, n: int, spec: str) -> None:
    if not 1 <= k < n:
        raise WeightsError(
            f"weights spec {spec!r}: K must be between 1 and n-1 = {n - 1} for {n} "
            f"units; use a smaller K (e.g. 'knn:{max(1, min(8, n - 1))}') or more units."
        )


def _build_from_tree(
    gdf, spec: str, kind: str, args: tuple, *, transformation: str | None, coincident: str,
    crs, seed, workers: int, count_components: bool = True,
) -> tuple[Graph, dict, list]:
    """``knn`` / ``distance`` weights from one KD-tree query: (Graph, summary, isolate ids).

    The Graph equals libpysal's ``build_knn`` / ``build_distance_band`` followed by
    ``transform``; the summary equals :func:`graph_summary` of it (with
    ``components=None`` when ``count_components`` is false: nothing reports them).
    """
    n = len(gdf)
    if kind == "knn":
        (k,) = args
        _check_knn_range(k, n, spec)
        xy = _coordinates(gdf, crs, spec, needs_metres=False)
        indptr, indices, data, n_components = _knn_adjacency(
            xy, k, coincident=coincident, seed=seed, spec=spec, ids=gdf.index, workers=workers,
            count_components=count_components)
    else:
        (threshold,) = args
        xy = _coordinates(gdf, crs, spec, needs_metres=True)
        indptr, indices, data = _band_adjacency(xy, threshold)
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
        graph = _transform(graph, transformation, repr(spec))
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
            shown = ids[dup][:5].tolist()
            distinct = int(pd.DataFrame(xy[dup]).drop_duplicates().shape[0])
            raise WeightsError(
                f"weights spec {spec!r}: {int(dup.sum())} of {n} units share a location "
                f"with another unit ({distinct} distinct locations; e.g. ids {shown}), so "
                "nearest neighbours are ambiguous. Remove the duplicates, use a 'distance:D' "
                "spec, or pass coincident='jitter' (moves them by up to 1 mm, reproducible "
                "with seed=)."
            )
        rng = np.random.default_rng(seed)
        xy = xy.copy()
        xy[dup] += rng.uniform(-1e-3, 1e-3, size=(int(dup.sum()), 2))
        still, neighbours, n_components = _nearest(xy, k, workers, count_components)
        if still.any():  # pragma: no cover - needs a jitter draw landing on a point
            raise WeightsError(
                f"weights spec {spec!r}: {int(still.sum())} units still share a location "
                "after coincident='jitter'; pass another seed= or remove the duplicates."
            )
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
        tie = dist[:, k + 1] - dist[:, k] <= _TIE_RTOL * dist[:, k + 1]
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


def _check_workers(workers) -> None:
    ok = isinstance(workers, int | np.integer) and not isinstance(workers, bool) and (
        workers == -1 or workers >= 1
    )
    if not ok:
        raise WeightsError(
            f"workers={workers!r} is not a number of threads; pass -1 (every core) or a "
            "positive int such as 1."
        )


def _distance(text: str, spec: str) -> float:
    try:
        return parse_distance(text, name=f"the distance in '{spec}'")
    except InputError as exc:
        raise WeightsError(f"weights spec {spec!r}: {exc} Valid forms are {VALID_SPECS}.") from None


def _points(gdf, crs, coincident: str | None, seed, spec: str, *, needs_metres: bool) -> gpd.GeoSeries:
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
            ids = gdf.index[dup][:5].tolist()
            raise WeightsError(
                f"weights spec {spec!r}: {int(dup.sum())} of {len(gdf)} units share a location "
                f"with another unit ({int(pd.DataFrame(xy[dup]).drop_duplicates().shape[0])} "
                f"distinct locations; e.g. ids {ids}), so nearest neighbours are ambiguous. Remove the "
                "duplicates, use a 'distance:D' spec, or pass coincident='jitter' (moves "
                "them by up to 1 mm, reproducible with seed=)."
            )
        if dup.any():
            rng = np.random.default_rng(seed)
            xy = xy.copy()
            xy[dup] += rng.uniform(-1e-3, 1e-3, size=(int(dup.sum()), 2))
    return gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), index=gdf.index, crs=metric.crs)


def check_graph_matches(graph: Graph, gdf: pd.DataFrame) -> None:
    """Raise :class:`WeightsError` unless the Graph's ids equal ``gdf.index`` in order."""
    ids = graph.unique_ids
    if len(ids) != len(gdf) or not pd.Index(ids).equals(pd.Index(gdf.index)):
        have = pd.Index(ids)
        missing = pd.Index(gdf.index).difference(have)[:5].tolist()
        extra = have.difference(pd.Index(gdf.index))[:5].tolist()
        detail = []
        if missing:
            detail.append(f"frame rows not in the Graph: {missing}")
        if extra:
            detail.append(f"Graph ids not in the frame: {extra}")
        if not detail:
            detail.append("the same ids in a different order")
        raise WeightsError(
            f"the weights Graph ({len(ids)} ids) does not match the frame ({len(gdf)} rows): "
            + "; ".join(detail)
            + ". Build the weights from this frame with gc.weights(gdf, spec)."
        )


def graph_summary(graph: Graph) -> dict:
    """Counts that describe a Graph: nodes, edges, mean neighbours, components, isolates."""
    card = graph.cardinalities
    return {
        "n": int(graph.n),
        "edges": int(card.sum()),
        "mean_neighbours": float(card.mean()),
        "components": int(graph.n_components),
        "isolates": int(len(graph.isolates)),
    }


def _report_structure(info: dict, iso_ids: list, label: str, isolates: str) -> None:
    """Warn about (or refuse) isolates and components given :func:`graph_summary` counts."""
    if info["isolates"] == 0 and info["components"] == 1:
        return
    message = (
        f"weights {label}: {info['isolates']} of {info['n']} units have no neighbours"
        + (f" (e.g. {iso_ids})" if iso_ids else "")
        + f" and the graph has {info['components']} connected components."
    )
    if isolates == "raise" and info["isolates"]:
        raise WeightsError(
            message + " Use a 'knn:K' spec (every unit gets K neighbours), a larger distance, "
            "drop the isolated units, or pass isolates='warn'."
        )
    if isolates != "ignore":
        hint = (
            " A larger distance or a 'knn:K' spec gives every unit neighbours "
            "(isolates='ignore' silences this)."
            if info["isolates"]
            else ""
        )
        warnings.warn(message + hint, GeoclusterWarning, stacklevel=3)


def _check_seed(seed) -> None:
    """Refuse a seed ``np.random.default_rng`` would reject, with a geocluster error."""
    ok = seed is None or isinstance(seed, np.random.Generator) or (
        isinstance(seed, int | np.integer) and not isinstance(seed, bool) and seed >= 0
    )
    if not ok:
        raise InputError(
            f"seed={seed!r} is not a seed; pass None, a non-negative int or a numpy Generator."
        )
