"""The dask side of :func:`geocluster.aggregate` and :func:`geocluster.location_quotient`.

The unit layer is small (a few thousand polygons) and the firms many: the units are sent
once to every worker (one ``dask.delayed`` object), each partition of firms is matched to
them by the same code as in memory (:func:`geocluster.areal.aggregate.locate_firms`: a
spatial join with the ``intersects`` predicate, a firm on a shared boundary going to the
first unit in the units' row order), and each partition returns a small tally, one row
per (unit, category), that the caller sums. The work runs on the active
``dask.distributed.Client`` when there is one (dask's default scheduler otherwise);
nothing is started here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from geocluster._base.engine import dask_progress, is_dask_frame, require_dask
from geocluster._base.optional import import_optional
from geocluster.errors import InputError

__all__ = ["map_partitions_with"]


def map_partitions_with(firms, units, func: Callable[..., Any], *, where: str,
                        **options) -> list:
    """``func(partition, units, where=where, **options)`` for every partition of firms.

    ``units`` is shipped once (one task holds it, every partition's task depends on it);
    ``func`` must be a module-level function. Returns the results in partition order.

    Examples
    --------
    >>> import dask_geopandas, geopandas as gpd
    >>> gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 1, 2], [0, 0, 0]), crs=3857)
    >>> frame = dask_geopandas.from_geopandas(gdf, npartitions=2)
    >>> map_partitions_with(frame, None, lambda part, units, where: len(part), where="example")
    [2, 1]
    """
    if not is_dask_frame(firms):
        raise InputError(f"{where}: expected a dask GeoDataFrame, got {type(firms).__name__}.")
    require_dask(where)
    dask = import_optional("dask", "dask", where)
    shared = dask.delayed(units)
    tasks = [dask.delayed(func)(part, shared, where=where, **options)
             for part in firms.to_delayed()]
    if not tasks:
        return []
    dask_progress(tasks, label=f"{where}: locating firms in units")
    return list(dask.compute(*tasks))
