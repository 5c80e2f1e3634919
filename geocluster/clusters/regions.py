"""LISA cluster regions: connected significant HH (LL) units, labelled and dissolved.

:func:`region_labels` gives the ``lisa_region`` ids :func:`geocluster.local_moran`
writes; :func:`cluster_regions` dissolves each region into one polygon with totals.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from libpysal.graph import Graph
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from geocluster.clusters._inference import full_length
from geocluster.errors import InputError

__all__ = ["cluster_regions", "region_labels"]


def region_labels(graph: Graph, cluster: np.ndarray, analysed: np.ndarray) -> np.ndarray:
    """Connected significant HH (LL) units -> ids 'HH-1', ... by size, over all rows.

    ``cluster`` holds the analysed units' clusters (in Graph order), ``analysed`` marks
    them among all rows; other rows get None.

    Examples
    --------
    >>> import geocluster as gc
    >>> g = gc.weights(gc.grid((0, 0, 4000, 1000), "1km", crs=32610), "rook")
    >>> region_labels(g, np.array(["HH", "HH", "ns", "HH"], dtype=object),
    ...               np.ones(4, dtype=bool)).tolist()
    ['HH-1', 'HH-1', None, 'HH-2']
    """
    labels = np.full(len(cluster), None, dtype=object)
    adjacency = sparse.csr_array(graph.sparse)
    for kind in ("HH", "LL"):
        members = np.nonzero(cluster == kind)[0]
        if len(members) == 0:
            continue
        sub = adjacency[members][:, members]
        _, comp = connected_components(sub, directed=True, connection="weak")
        sizes = np.bincount(comp)
        first = np.full(len(sizes), len(members))
        np.minimum.at(first, comp, np.arange(len(members)))
        order = np.lexsort((first, -sizes))  # largest first, then by first position
        rank = np.empty(len(sizes), dtype=int)
        rank[order] = np.arange(1, len(sizes) + 1)
        labels[members] = [f"{kind}-{r}" for r in rank[comp]]
    return full_length(labels, analysed, fill=None, dtype=object)



def cluster_regions(
    lisa_result: gpd.GeoDataFrame,
    *,
    column: str | None = None,
    sum_columns: list[str] | tuple[str, ...] | None = None,
    lq_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Dissolve each LISA region (connected significant HH or LL units) into one polygon.

    Parameters
    ----------
    lisa_result
        The frame returned by :func:`local_moran`.
    column
        A numeric column to average per region (e.g. the one :func:`local_moran`
        analysed) into ``mean_<column>``; default none.
    sum_columns
        Columns to total per region, e.g. ``["firms", "employment"]``. A missing
        value in a region's unit raises (the total would be wrong); fill it first.
    lq_column
        A location-quotient column to average (unweighted mean over the region's
        units that have a value, e.g. counties outside any metro area have none;
        ``n_<lq_column>`` counts them).

    Returns
    -------
    GeoDataFrame
        One row per region, indexed by region id (``"HH-1"``, ...), with ``cluster``
        (``HH``/``LL``), ``n_units``, ``units`` (the member ids), the totals of
        ``sum_columns``, ``mean_<lq_column>`` and ``n_<lq_column>``, ``mean_<column>`` and
        the dissolved geometry in the input CRS. Largest HH regions come first.

    Examples
    --------
    >>> import geocluster as gc
    >>> columbus = gc.datasets.load_columbus()
    >>> lisa = gc.local_moran(columbus, "CRIME", seed=7)
    >>> regions = gc.cluster_regions(lisa, column="CRIME", sum_columns=["AREA"])
    >>> regions.index.tolist()[:2], regions["cluster"].tolist()[:2]
    (['HH-1', 'LL-1'], ['HH', 'LL'])
    >>> int(regions.loc["HH-1", "n_units"]) == len(regions.loc["HH-1", "units"])
    True
    >>> "mean_CRIME" in regions.columns
    True
    """
    if not isinstance(lisa_result, gpd.GeoDataFrame) or "lisa_region" not in lisa_result:
        raise InputError(
            "cluster_regions needs the GeoDataFrame returned by gc.local_moran "
            "(it has no 'lisa_region' column)."
        )
    sum_columns = list(sum_columns or [])
    wanted = sum_columns + ([lq_column] if lq_column else []) + ([column] if column else [])
    for col in wanted:
        if col not in lisa_result.columns:
            raise InputError(f"column {col!r} is not in the LISA result; choose from its columns.")
        if lisa_result[col].dtype == bool or not pd.api.types.is_numeric_dtype(lisa_result[col]):
            raise InputError(f"column {col!r} is not numeric, so it cannot be summed or averaged.")
    analysed = column
    members = lisa_result[lisa_result["lisa_region"].notna()]
    for col in sum_columns:
        nan = members[col].isna()
        if nan.any():
            raise InputError(
                f"column {col!r} is missing for {int(nan.sum())} units in LISA regions (e.g. "
                f"{members.index[nan][:5].tolist()}), so their region totals would be wrong. "
                "Fill the values (e.g. 0 where a unit has no firms) or leave the column out."
            )
    geom = lisa_result.geometry.name
    columns = ["cluster", "n_units", "units", *sum_columns]
    if lq_column:
        columns += [f"mean_{lq_column}", f"n_{lq_column}"]
    if analysed is not None:
        columns.append(f"mean_{analysed}")
    if members.empty:
        return gpd.GeoDataFrame(
            {c: [] for c in columns}, geometry=gpd.GeoSeries([], crs=lisa_result.crs)
        )
    groups = members.groupby("lisa_region", sort=False)
    table = pd.DataFrame(
        {
            "cluster": groups["lisa_cluster"].first(),
            "n_units": groups.size(),
            "units": groups.apply(lambda g: list(g.index), include_groups=False),
        }
    )
    for col in sum_columns:
        table[col] = groups[col].sum()
    if lq_column:
        table[f"mean_{lq_column}"] = groups[lq_column].mean()  # over units with a value
        table[f"n_{lq_column}"] = groups[lq_column].count()
    if analysed is not None:
        table[f"mean_{analysed}"] = groups[analysed].mean()
    shapes = members[[geom, "lisa_region"]].dissolve(by="lisa_region")
    result = gpd.GeoDataFrame(table, geometry=shapes.geometry.reindex(table.index), crs=members.crs)
    key = [
        (c, -n, int(r.split("-")[1]))
        for r, c, n in zip(result.index, result["cluster"], result["n_units"], strict=True)
    ]
    order = sorted(range(len(key)), key=lambda i: key[i])
    result = result.iloc[order]
    result.index.name = "region"
    return result

