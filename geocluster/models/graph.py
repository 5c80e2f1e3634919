"""Spatial weights on exactly the rows a model uses.

:func:`graph_for_rows` builds (from a spec) or restricts (a given Graph) the
row-standardised weights to the rows left after dropping missing values, in their order,
and applies the ``isolates`` policy; :func:`geocluster.regress` and
``RegressionResult.predict`` use it.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import pandas as pd
from libpysal.graph import Graph

from geocluster.errors import GeoclusterWarning, WeightsError
from geocluster.weights import build_graph, check_graph_matches

__all__ = ["graph_for_rows", "check_knn_rows"]


def graph_for_rows(
    rows: pd.DataFrame, spec, *, isolates: str = "raise", crs: str | int | None = None
) -> tuple[Graph, str]:
    """Row-standardised Graph on exactly ``rows`` (ids = its index, same order)."""
    if isinstance(spec, Graph):
        label = "the given Graph"
        graph = spec
        ids = pd.Index(graph.unique_ids)
        if not ids.equals(pd.Index(rows.index)):
            if not pd.Index(rows.index).isin(ids).all():
                check_graph_matches(graph, rows)  # raises with the details
            graph = graph.subgraph(rows.index.to_numpy())
            if not pd.Index(graph.unique_ids).equals(pd.Index(rows.index)):
                order = pd.Index(graph.unique_ids).get_indexer(rows.index)
                A = graph.sparse.tocsr()[order][:, order]
                graph = Graph.from_sparse(A, ids=rows.index.to_numpy())
            if len(ids) != len(rows):
                warnings.warn(
                    f"the given Graph ({len(ids)} ids) was restricted to the {len(rows)} rows "
                    "used and re-standardised; links to dropped rows are gone.",
                    GeoclusterWarning,
                    stacklevel=4,
                )
        graph = graph.transform("R")
    elif isinstance(spec, str):
        label = repr(spec)
        if not isinstance(rows, gpd.GeoDataFrame):
            raise WeightsError(
                f"weights={spec!r} needs geometries, but data is a "
                f"{type(rows).__name__}; pass a GeoDataFrame or a ready libpysal Graph "
                "built on the same rows (gc.weights(gdf, spec))."
            )
        check_knn_rows(spec, len(rows))
        try:
            # isolates are this function's to report (its isolates= policy), components
            # are not needed: the bare builder, no structure warnings
            graph = build_graph(rows, spec, transform="r", crs=crs,
                                count_components=False).graph
        except WeightsError as exc:
            raise WeightsError(
                f"{exc} (In gc.regress, build the Graph yourself with gc.weights(data, spec, "
                "...) on the rows to use and pass it as weights=.)"
            ) from None
    else:
        raise WeightsError(
            f"weights={spec!r} must be a spec string such as 'knn:8' or a libpysal Graph."
        )
    check_graph_matches(graph, rows)
    n_iso = len(graph.isolates)
    if n_iso and isolates != "keep":
        iso = list(graph.isolates[:5])
        if isolates == "raise":
            raise WeightsError(
                f"weights {label} leave {n_iso} of {graph.n} firms without neighbours "
                f"(e.g. ids {iso}); their spatial lag would be 0. Use 'knn:K' (every unit "
                "gets K neighbours) or a larger distance, or pass isolates='drop' (leave "
                "them out) or isolates='keep'."
            )
        keep = pd.Index(rows.index).difference(pd.Index(graph.isolates), sort=False)
        if len(keep) < 2:
            raise WeightsError(f"weights {label}: every unit is isolated; use 'knn:K'.")
        return graph_for_rows(rows.loc[keep], spec, isolates="raise", crs=crs)
    return graph, label


def check_knn_rows(spec: str, n: int) -> None:
    """``knn:K`` needs more than K rows (each firm's K neighbours are other firms)."""
    head, _, tail = spec.strip().partition(":")
    if head.strip().lower() != "knn":
        return
    try:
        k = int(tail.strip())
    except ValueError:
        return  # a malformed spec is reported by gc.weights
    if 0 < k and n <= k:
        raise WeightsError(
            f"weights={spec!r} gives every firm its {k} nearest neighbours, but the model "
            f"has only {n} rows (after dropping rows with missing values); use 'knn:K' with "
            f"K at most {max(n - 1, 1)}, or more rows."
        )
