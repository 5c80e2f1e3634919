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

The grammar is :mod:`geocluster.weights.spec` (:func:`parse_weights_spec`, also used by
the study configuration); ``knn`` and ``distance`` weights on points are built by
:mod:`geocluster.weights.points`; :mod:`geocluster.weights.structure` checks a Graph
against a frame and reports its structure.

The Graph's ids are the frame's index, so results align with the input rows.

A ``dask_geopandas.GeoDataFrame`` of points takes ``knn:K`` and ``distance:D``, built by
partition halos (:mod:`geocluster.weights.partitioned`): the same Graph as in memory on
the computed frame (neighbours, tie-breaking, weights, ids in partition order). Other
specs are an error; a geographic frame needs ``crs=``.
Islands (units with no neighbour) and disconnected components are kept and reported in a
:class:`~geocluster.errors.GeoclusterWarning` with counts (``isolates="keep"``, the
default); ``isolates="raise"`` turns isolates into an error. Callers that report the
structure themselves use :func:`build_graph`, which reports nothing.

1M points in no spatial order (``benchmarks/bench_weights.py``): ``knn:8`` 2.6 s against
4.7 s for a bare ``KDTree(xy).query(xy, k=9)`` and 22 s for ``Graph.build_knn``; a
band with 9 neighbours a unit 1.5 s against 1.4 s for a bare
``sparse_distance_matrix`` and 30 s for ``Graph.build_distance_band``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import geopandas as gpd
import numpy as np
import pyproj
from libpysal.graph import Graph

from geocluster._base.engine import is_dask_frame
from geocluster._base.validate import check_seed
from geocluster.errors import InputError, WeightsError
from geocluster.weights.partitioned import dask_tree_graph
from geocluster.weights.points import kernel_points, tree_graph
from geocluster.weights.spec import (
    KERNELS,
    TRANSFORMS,
    VALID_SPECS,
    WeightsSpec,
    check_spec,
    parse_weights_spec,
)
from geocluster.weights.structure import (
    ISOLATE_POLICIES,
    check_graph_matches,
    check_isolates_policy,
    graph_summary,
    report_structure,
    transform_graph,
)

__all__ = [
    "ISOLATE_POLICIES",
    "KERNELS",
    "TRANSFORMS",
    "VALID_SPECS",
    "BuiltGraph",
    "WeightsSpec",
    "build_graph",
    "check_graph_matches",
    "check_spec",
    "graph_summary",
    "parse_weights_spec",
    "weights",
]


class BuiltGraph(NamedTuple):
    """What :func:`build_graph` returns: the Graph and the counts that describe it."""

    graph: Graph
    #: :func:`graph_summary`'s counts (``components`` is None when not counted).
    summary: dict
    #: The first (up to 5) ids of units without neighbours.
    isolate_ids: list


def weights(
    gdf: gpd.GeoDataFrame,
    spec: str | Graph = "queen",
    *,
    transform: str | None = "r",
    coincident: Literal["raise", "jitter"] = "raise",
    isolates: Literal["keep", "raise"] = "keep",
    crs: str | int | pyproj.CRS | None = None,
    seed: int | np.random.Generator | None = None,
    workers: int = -1,
) -> Graph:
    """Build spatial weights for the rows of ``gdf``.

    Parameters
    ----------
    gdf
        Units (polygons) or points. The index becomes the Graph's ids; it must be
        unique. A dask GeoDataFrame of points takes ``knn`` and ``distance`` specs.
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
        ``"keep"`` (default) keeps units without neighbours and reports them and the
        number of components in a warning with counts; ``"raise"`` stops when a unit
        has no neighbour.
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
    :mod:`geocluster.weights.points`).

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
    policy = check_isolates_policy(isolates)
    if is_dask_frame(gdf):
        built = _dask_graph(gdf, spec, transform, coincident, crs, seed, workers)
    else:
        built = build_graph(gdf, spec, transform=transform, coincident=coincident, crs=crs,
                            seed=seed, workers=workers)
    label = "the given Graph" if isinstance(spec, Graph) else repr(spec)
    report_structure(built.summary, built.isolate_ids, label, policy)
    return built.graph


def build_graph(
    gdf: gpd.GeoDataFrame,
    spec: str | Graph = "queen",
    *,
    transform: str | None = "r",
    coincident: Literal["raise", "jitter"] = "raise",
    crs: str | int | pyproj.CRS | None = None,
    seed: int | np.random.Generator | None = None,
    workers: int = -1,
    count_components: bool = True,
) -> BuiltGraph:
    """:func:`weights` without the structure report: the Graph and its counts.

    For callers that report isolates and components themselves (a model, a statistic
    with its own ``isolates=`` policy). With ``count_components=False`` the number of
    components of ``knn`` and ``distance`` weights is not counted (``None`` in the
    summary), which saves a graph traversal on large data.

    Examples
    --------
    >>> import geocluster as gc
    >>> built = build_graph(gc.datasets.load_columbus(), "knn:4")
    >>> built.graph.n, built.summary["isolates"], built.isolate_ids
    (49, 0, [])
    """
    _check_frame(gdf)
    check_seed(seed, "weights")
    transformation = _check_options(transform, coincident, workers)
    if isinstance(spec, Graph):
        check_graph_matches(spec, gdf)
        graph = spec
        if transformation is not None:
            graph = transform_graph(graph, transformation, "the given Graph")
        return BuiltGraph(graph, graph_summary(graph), list(graph.isolates[:5]))
    parsed = parse_weights_spec(spec)
    if parsed.kind in ("knn", "distance"):
        return BuiltGraph(*tree_graph(
            gdf, parsed, spec=spec, transformation=transformation, coincident=coincident,
            crs=crs, seed=seed, workers=workers, count_components=count_components,
        ))
    graph = _contiguity_or_kernel(gdf, parsed, spec, coincident=coincident, crs=crs, seed=seed)
    if transformation is not None:
        graph = transform_graph(graph, transformation, repr(spec))
    return BuiltGraph(graph, graph_summary(graph), list(graph.isolates[:5]))


def _dask_graph(ddf, spec, transform, coincident, crs, seed, workers) -> BuiltGraph:
    """``knn`` / ``distance`` weights of a dask GeoDataFrame, by partition halos
    (:mod:`geocluster.weights.partitioned`): the in-memory Graph of the computed frame."""
    check_seed(seed, "weights")
    transformation = _check_options(transform, coincident, workers)
    parsed = None if isinstance(spec, Graph) else parse_weights_spec(spec)
    if parsed is None or parsed.kind not in ("knn", "distance"):
        what = "a ready Graph" if parsed is None else f"weights spec {spec!r}"
        raise WeightsError(
            f"{what} does not run on a dask GeoDataFrame; dask frames take 'knn:K' or "
            "'distance:D' (built by partition halos). Compute the frame first "
            "(ddf.compute()) for the other specs."
        )
    return BuiltGraph(*dask_tree_graph(
        ddf, parsed, spec=spec, transformation=transformation, coincident=coincident,
        crs=crs, seed=seed, workers=workers))


def _check_options(transform, coincident, workers) -> str | None:
    """Validate the build options; return libpysal's transformation code (or None)."""
    if transform is not None and str(transform).lower() not in TRANSFORMS:
        raise WeightsError(
            f"transform={transform!r} is not one of {TRANSFORMS} or None; pass one of them "
            "(r: row-standardised, b: binary, v: variance stabilising, d: doubly standardised)."
        )
    if coincident not in ("raise", "jitter"):
        raise WeightsError(
            f"coincident={coincident!r} is not an option; pass 'raise' or 'jitter'."
        )
    ok = isinstance(workers, int | np.integer) and not isinstance(workers, bool) and (
        workers == -1 or workers >= 1
    )
    if not ok:
        raise WeightsError(
            f"workers={workers!r} is not a number of threads; pass -1 (every core) or a "
            "positive int such as 1."
        )
    return None if transform is None else str(transform).upper()


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


def _contiguity_or_kernel(gdf, parsed: WeightsSpec, spec: str, *, coincident: str, crs,
                          seed) -> Graph:
    if parsed.is_contiguity:
        kinds = set(gdf.geom_type.unique())
        if not kinds <= {"Polygon", "MultiPolygon"}:
            raise WeightsError(
                f"weights spec {spec!r}: contiguity needs polygons, but the geometries are "
                f"{sorted(kinds)}; for points use 'knn:K', 'distance:D' or 'kernel:NAME:D'."
            )
        return Graph.build_contiguity(gdf.geometry, rook=(parsed.kind == "rook"))
    points = kernel_points(gdf, crs, coincident, seed, spec, needs_metres=True)
    return Graph.build_kernel(points, kernel=parsed.kernel, bandwidth=parsed.distance)
