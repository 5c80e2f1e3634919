"""The dask side of :func:`geocluster.aggregate` and :func:`geocluster.location_quotient`.

The unit layer is small (a few thousand polygons) and the firms many. The units' polygons
(a :class:`geocluster.areal.aggregate.UnitLayer`, checked and projected once on the
client) go to every worker once: scattered with ``broadcast=True`` when a
``dask.distributed.Client`` is active, one ``dask.delayed`` object otherwise. Each
partition of firms keeps only the columns the tally needs (so a reader that honours column
selections reads only those), is matched to the polygons in the task that reads it (the
per-partition function is fused with the read: no partition is stored or moved between
workers) by the same code as in memory, and returns a small tally, one row per (unit,
category), that the caller sums. The work runs on the active client when there is one
(dask's default scheduler otherwise); nothing is started here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from geocluster._base.engine import active_client, dask_progress, is_dask_frame, require_dask
from geocluster._base.optional import import_optional
from geocluster.errors import InputError

__all__ = ["map_partitions_with", "selected_columns"]


def selected_columns(firms, columns: Sequence[str]):
    """``firms`` with only its geometry and those of ``columns`` it has (itself if that is all).

    Examples
    --------
    >>> import dask_geopandas, geopandas as gpd
    >>> gdf = gpd.GeoDataFrame({"a": [1], "b": [2]}, geometry=gpd.points_from_xy([0], [0]))
    >>> list(selected_columns(dask_geopandas.from_geopandas(gdf, npartitions=1), ["b"]).columns)
    ['geometry', 'b']
    """
    try:
        geometry = firms.geometry.name
    except (AttributeError, ValueError):  # no active geometry: the partitions' checks say so
        return firms
    keep = [geometry] + [c for c in dict.fromkeys(columns) if c in firms.columns and c != geometry]
    return firms if len(keep) == len(firms.columns) else firms[keep]


def map_partitions_with(firms, shared: Any, func: Callable[..., Any], *, where: str,
                        meta, columns: Sequence[str] = (), **options) -> list:
    """``func(partition, shared, where=where, **options)`` for every partition of firms.

    Only the geometry and ``columns`` of the firms are kept (:func:`selected_columns`);
    ``shared`` goes to each worker once; ``func`` (a module-level function returning a
    frame like ``meta``) runs in the task that reads the partition. Returns the results
    in partition order.

    Examples
    --------
    >>> import dask_geopandas, geopandas as gpd, pandas as pd
    >>> gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 1, 2], [0, 0, 0]), crs=3857)
    >>> frame = dask_geopandas.from_geopandas(gdf, npartitions=2)
    >>> def count(part, shared, where):
    ...     return pd.DataFrame({"n": [len(part) * shared]})
    >>> [t["n"].item() for t in map_partitions_with(frame, 10, count, where="example",
    ...                                              meta=pd.DataFrame({"n": [0]}).iloc[:0])]
    [20, 10]
    """
    if not is_dask_frame(firms):
        raise InputError(f"{where}: expected a dask GeoDataFrame, got {type(firms).__name__}.")
    require_dask(where)
    dask = import_optional("dask", "dask", where)
    client = active_client()
    # hash=False: a fresh key per call (re-scattering a key whose future is being released
    # can race with the release in distributed)
    payload = (client.scatter(shared, broadcast=True, hash=False) if client is not None
               else dask.delayed(shared))
    mapped = selected_columns(firms, columns).map_partitions(
        func, payload, meta=meta, enforce_metadata=False, align_dataframes=False, where=where,
        **options)
    tasks = mapped.to_delayed()
    dask_progress(tasks, label=f"{where}: locating firms in units")
    return list(dask.compute(*tasks))
