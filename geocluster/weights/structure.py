"""What a weights Graph looks like: ids against a frame, counts, the isolates report.

:func:`check_graph_matches` and :func:`graph_summary` are used by every statistic and
model that takes a ready Graph; :func:`report_structure` is the one report of isolates
and components (a warning with counts, or an error with ``isolates="raise"``).
"""

from __future__ import annotations

import warnings

import pandas as pd
from libpysal.graph import Graph

from geocluster.errors import GeoclusterWarning, WeightsError

__all__ = [
    "ISOLATE_POLICIES",
    "check_graph_matches",
    "check_isolates_policy",
    "graph_summary",
    "report_structure",
    "transform_graph",
]

#: ``isolates=`` of :func:`geocluster.weights`: keep them (and warn with a count) or raise.
ISOLATE_POLICIES = ("keep", "raise")


def check_isolates_policy(isolates) -> str:
    """``isolates`` if it is ``"keep"`` or ``"raise"``, else :class:`WeightsError`.

    Examples
    --------
    >>> check_isolates_policy("keep")
    'keep'
    >>> check_isolates_policy("warn")
    Traceback (most recent call last):
    ...
    geocluster.errors.WeightsError: isolates='warn' is not an option; pass 'keep' (keep them and warn with a count) or 'raise'.
    """
    if not isinstance(isolates, str) or isolates not in ISOLATE_POLICIES:
        raise WeightsError(
            f"isolates={isolates!r} is not an option; pass 'keep' (keep them and warn with a "
            "count) or 'raise'."
        )
    return isolates


def check_graph_matches(graph: Graph, gdf: pd.DataFrame) -> None:
    """Raise :class:`WeightsError` unless the Graph's ids equal ``gdf.index`` in order.

    Examples
    --------
    >>> import geocluster as gc
    >>> columbus = gc.datasets.load_columbus()
    >>> check_graph_matches(gc.weights(columbus, "queen"), columbus)
    >>> check_graph_matches(gc.weights(columbus, "queen"), columbus.iloc[::-1])
    Traceback (most recent call last):
    ...
    geocluster.errors.WeightsError: the weights Graph (49 ids) does not match the frame (49 rows): the same ids in a different order. ...
    """
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
    """Counts that describe a Graph: nodes, edges, mean neighbours, components, isolates.

    Examples
    --------
    >>> import geocluster as gc
    >>> graph_summary(gc.weights(gc.datasets.load_columbus(), "queen"))
    {'n': 49, 'edges': 236, 'mean_neighbours': 4.816326530612245, 'components': 1, 'isolates': 0}
    """
    card = graph.cardinalities
    return {
        "n": int(graph.n),
        "edges": int(card.sum()),
        "mean_neighbours": float(card.mean()),
        "components": int(graph.n_components),
        "isolates": int(len(graph.isolates)),
    }


def report_structure(info: dict, iso_ids: list, label: str, isolates: str, *,
                     stacklevel: int = 3) -> None:
    """Warn about (``"keep"``) or refuse (``"raise"``) isolates and components.

    ``info`` holds :func:`graph_summary`'s counts, ``iso_ids`` the first isolated ids and
    ``label`` names the weights in the message. A graph with isolates or more than one
    component gives one :class:`~geocluster.errors.GeoclusterWarning` with the counts;
    ``isolates="raise"`` makes isolates an error.
    """
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
            "drop the isolated units, or pass isolates='keep'."
        )
    hint = (
        " A larger distance or a 'knn:K' spec gives every unit neighbours "
        "(isolates='raise' makes this an error)."
        if info["isolates"]
        else ""
    )
    warnings.warn(message + hint, GeoclusterWarning, stacklevel=stacklevel)


def transform_graph(graph: Graph, transformation: str, label: str) -> Graph:
    """``graph.transform``, refusing to divide by a total weight of 0 ('d', 'v')."""
    if transformation in ("D", "V") and float(graph.adjacency.abs().sum()) == 0:
        raise WeightsError(
            f"weights {label}: transform={transformation.lower()!r} divides by the sum of "
            f"all weights, which is 0 (no unit of {graph.n} has a neighbour). Use a larger "
            "distance or a 'knn:K' spec, or another transform."
        )
    return graph.transform(transformation)
