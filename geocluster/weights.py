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
"""

from __future__ import annotations

import re
import warnings
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from libpysal.graph import Graph

from geocluster.errors import CRSError, GeoclusterWarning, InputError, WeightsError
from geocluster.units import parse_distance, to_metric

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

    Returns
    -------
    libpysal.graph.Graph

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

    if isinstance(spec, Graph):
        check_graph_matches(spec, gdf)
        graph = spec
        label = "the given Graph"
    else:
        check_spec(spec)
        graph = _build(gdf, spec, coincident=coincident, crs=crs, seed=seed)
        label = repr(spec)

    if transform is not None:
        graph = graph.transform(str(transform).upper())
    _report_structure(graph, label, isolates)
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
    if kind == "knn":
        (k,) = args
        n = len(gdf)
        if not 1 <= k < n:
            raise WeightsError(
                f"weights spec {spec!r}: K must be between 1 and n-1 = {n - 1} for {n} "
                f"units; use a smaller K (e.g. 'knn:{max(1, min(8, n - 1))}') or more units."
            )
        points = _points(gdf, crs, coincident, seed, spec, needs_metres=False)
        return Graph.build_knn(points, k=k)
    if kind == "distance":
        (threshold,) = args
        points = _points(gdf, crs, None, seed, spec, needs_metres=True)
        return Graph.build_distance_band(points, threshold=threshold, binary=True)
    name, bandwidth = args
    points = _points(gdf, crs, coincident, seed, spec, needs_metres=True)
    return Graph.build_kernel(points, kernel=name, bandwidth=bandwidth)


def _distance(text: str, spec: str) -> float:
    try:
        return parse_distance(text, name=f"the distance in '{spec}'")
    except InputError as exc:
        raise WeightsError(f"weights spec {spec!r}: {exc} Valid forms are {VALID_SPECS}.") from None


def _points(gdf, crs, coincident: str | None, seed, spec: str, *, needs_metres: bool) -> gpd.GeoSeries:
    # Nearest neighbours do not depend on the unit, so a frame without a CRS (or in a
    # projected CRS of any unit) is used as it is; geographic coordinates are always
    # projected, and distance-based specs always run in metres.
    frame = gdf[[gdf.geometry.name]]
    geographic = frame.crs is not None and frame.crs.is_geographic
    if needs_metres and frame.crs is None:
        raise CRSError(
            f"weights spec {spec!r} measures distances, but the frame has no CRS. Set it "
            "(gdf.set_crs(...)) or use a unit-free spec such as 'knn:8' or 'queen'."
        )
    metric = to_metric(frame, crs) if (needs_metres or geographic or crs is not None) else frame
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


def _report_structure(graph: Graph, label: str, isolates: str) -> None:
    info = graph_summary(graph)
    if info["isolates"] == 0 and info["components"] == 1:
        return
    iso_ids = list(graph.isolates[:5])
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
