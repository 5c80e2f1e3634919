"""Firm counts (and summed weights) per areal unit, optionally per category: :func:`aggregate`."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geocluster._base.engine import is_dask_frame
from geocluster._base.validate import check_points, check_weight_column
from geocluster.areal import partitioned
from geocluster.errors import CRSError, GeoclusterWarning, InputError

__all__ = ["aggregate", "locate_firms", "warn_outside", "unit_tally", "dask_tally",
           "AGGREGATE_ATTR"]

#: Key under which :func:`aggregate` records what it did in ``result.attrs`` (information
#: only: no geocluster function reads it back).
AGGREGATE_ATTR = "geocluster_aggregate"


def aggregate(
    firms: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    by: str | None = None,
    weight: str | None = None,
    crs: str | int | pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Count firms (and sum a weight) per unit, optionally per category.

    Parameters
    ----------
    firms
        Points with a CRS (reprojected to the units' CRS, or to ``crs``).
        A ``dask_geopandas.GeoDataFrame`` is located partition by partition against the
        units (sent once to each worker) and the partitions' tallies are summed: the
        same frame as in memory (weight sums to rounding of the summation order).
    units
        Polygons with a CRS and a unique index.
    by
        A column of ``firms`` with categories (e.g. industry). Adds one column per
        category: ``n_firms__<category>`` and, with ``weight``, ``<weight>__<category>``.
        Missing categories are an error (fill them, e.g. with ``"unknown"``).
    weight
        A numeric column of ``firms`` (e.g. employment) summed per unit into a
        column of the same name. Must be finite and non-negative.
    crs
        CRS in which points are matched to polygons; default the units' CRS.

    Returns
    -------
    GeoDataFrame
        A copy of ``units`` (same index, geometry and CRS) with ``n_firms``, the
        ``weight`` sum and the per-category columns, zero where no firm fell. A firm on
        a boundary shared by several units is counted once, in the first of them in
        the units' row order. Firms outside every unit are reported in a
        :class:`GeoclusterWarning` and counted in ``result.attrs["n_outside"]``;
        ``result.attrs["geocluster_aggregate"]`` records ``by``, ``weight`` and the
        categories (information only: no geocluster function reads ``attrs``; for
        location quotients from firms call
        ``gc.location_quotient(firms, units=units, by=...)``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> import geocluster as gc
    >>> cells = gc.grid((0, 0, 2000, 1000), "1km", crs="EPSG:32610")
    >>> firms = gpd.GeoDataFrame(
    ...     {"industry": ["a", "a", "b"], "emp": [10, 5, 2]},
    ...     geometry=gpd.points_from_xy([100, 1500, 1800], [500, 500, 200]),
    ...     crs="EPSG:32610",
    ... )
    >>> out = gc.aggregate(firms, cells, by="industry", weight="emp")
    >>> out[["n_firms", "emp", "n_firms__a", "n_firms__b", "emp__a"]]
       n_firms   emp  n_firms__a  n_firms__b  emp__a
    0        1  10.0           1           0    10.0
    1        2   7.0           1           1     5.0
    """
    if is_dask_frame(firms):
        tally = dask_tally(firms, units, by=by, weight=weight, crs=crs, where="aggregate")
        n_firms, n_outside, columns, categories = _tally_columns(tally, len(units), by, weight)
    else:
        position = locate_firms(firms, units, by=by, weight=weight, crs=crs, where="aggregate")
        n_firms, n_outside = len(firms), int((position < 0).sum())
        columns, categories = _count_columns(firms, position, len(units), by, weight)
    new_cols = list(columns)
    clash = sorted(set(new_cols) & set(map(str, units.columns)))
    if clash:
        raise InputError(
            f"aggregate: units already have column(s) {clash}, which the result would "
            "overwrite; rename or drop them first."
        )
    if len(set(new_cols)) != len(new_cols):
        raise InputError(
            f"aggregate: the categories of {by!r} give duplicate column names "
            f"(e.g. 1 and '1'); convert {by!r} to distinct strings first."
        )
    result = units.copy()
    added = pd.DataFrame(columns, index=units.index)
    result = pd.concat([result, added], axis=1)
    result = gpd.GeoDataFrame(result, geometry=units.geometry.name, crs=units.crs)
    result.attrs = {
        **units.attrs,
        "n_outside": n_outside,
        AGGREGATE_ATTR: {
            "by": by,
            "weight": weight,
            "categories": categories,
            "n_firms": int(n_firms),
            "n_outside": n_outside,
        },
    }
    warn_outside(n_outside, n_firms, "aggregate", " (see result.attrs['n_outside'])")
    return result


def unit_tally(part: gpd.GeoDataFrame, units: gpd.GeoDataFrame, *, by: str | None,
               weight: str | None, crs, where: str) -> pd.DataFrame:
    """Firms (and summed weight) of one frame (a partition) per (unit position, category).

    Columns ``position`` (-1: outside every unit), ``category`` (with ``by``), ``n`` and
    ``w`` (with ``weight``); the firms are checked and located by :func:`locate_firms`.

    Examples
    --------
    >>> import geopandas as gpd
    >>> import geocluster as gc
    >>> cells = gc.grid((0, 0, 2000, 1000), "1km", crs="EPSG:32610")
    >>> firms = gpd.GeoDataFrame({"k": ["a", "b", "a"]}, crs="EPSG:32610",
    ...     geometry=gpd.points_from_xy([100, 1500, 1800], [500, 500, 200]))
    >>> unit_tally(firms, cells, by="k", weight=None, crs=None, where="example")
       position category  n
    0         0        a  1
    1         1        a  1
    2         1        b  1
    """
    keys = ["position"] + (["category"] if by is not None else [])
    if len(part) == 0:
        return pd.DataFrame(columns=[*keys, "n"] + (["w"] if weight is not None else []))
    position = locate_firms(part, units, by=by, weight=weight, crs=crs, where=where)
    data: dict[str, object] = {"position": position}
    if by is not None:
        data["category"] = part[by].array
    data["n"] = np.ones(len(part), dtype=np.int64)
    if weight is not None:
        data["w"] = part[weight].to_numpy(dtype=float)
    frame = pd.DataFrame(data)
    return frame.groupby(keys, sort=True, observed=True).sum().reset_index()


def dask_tally(firms, units: gpd.GeoDataFrame, *, by: str | None, weight: str | None,
               crs, where: str) -> pd.DataFrame:
    """:func:`unit_tally` of a dask frame of firms: per partition, then summed.

    The units are checked here once, then sent to every partition's task
    (:func:`geocluster.areal.partitioned.map_partitions_with`).
    """
    _check_units(units, where)
    if crs is not None:
        _as_crs(crs)
    tallies = partitioned.map_partitions_with(firms, units, unit_tally, where=where, by=by,
                                              weight=weight, crs=crs)
    tallies = [t for t in tallies if len(t)]
    if not tallies:
        raise InputError(f"{where}: firms is empty; there is nothing to analyse.")
    keys = ["position"] + (["category"] if by is not None else [])
    both = pd.concat(tallies, ignore_index=True)
    return both.groupby(keys, sort=True, observed=True).sum().reset_index()


def _tally_columns(tally: pd.DataFrame, n_units: int, by, weight):
    """``(n_firms, n_outside, columns, categories)`` from a summed :func:`unit_tally`,
    the same columns as :func:`_count_columns` makes from the firms."""
    n = tally["n"].to_numpy(dtype=np.int64)
    pos = tally["position"].to_numpy(dtype=np.int64)
    inside = pos >= 0
    n_firms = int(n.sum())
    n_outside = int(n[~inside].sum())
    sums = np.zeros(len(n)) if weight is None else tally["w"].to_numpy(dtype=float)
    columns: dict[str, np.ndarray] = {
        "n_firms": np.bincount(pos[inside], weights=n[inside], minlength=n_units)
        .astype(np.int64)}
    if weight is not None:
        columns[weight] = np.bincount(pos[inside], weights=sums[inside], minlength=n_units)
    if by is None:
        return n_firms, n_outside, columns, []
    codes, uniques = pd.factorize(tally["category"], sort=True)
    categories = list(uniques)
    n_cat = len(categories)
    flat = pos[inside] * n_cat + codes[inside]
    counts = np.bincount(flat, weights=n[inside], minlength=n_units * n_cat)
    counts = counts.astype(np.int64).reshape(n_units, n_cat)
    wsum = np.bincount(flat, weights=sums[inside], minlength=n_units * n_cat)
    wsum = wsum.reshape(n_units, n_cat)
    for j, cat in enumerate(categories):
        columns[f"n_firms__{cat}"] = counts[:, j]
        if weight is not None:
            columns[f"{weight}__{cat}"] = wsum[:, j]
    return n_firms, n_outside, columns, categories


def _count_columns(firms, position, n_units, by, weight) -> tuple[dict[str, np.ndarray], list]:
    """The count (and weight) columns per unit, and per category with ``by``."""
    inside = position >= 0
    pos_in = position[inside]
    sizes = None if weight is None else firms[weight].to_numpy(dtype=float)[inside]
    columns: dict[str, np.ndarray] = {"n_firms": np.bincount(pos_in, minlength=n_units)}
    if weight is not None:
        columns[weight] = np.bincount(pos_in, weights=sizes, minlength=n_units)
    if by is None:
        return columns, []
    codes, uniques = pd.factorize(firms[by], sort=True)
    categories = list(uniques)
    n_cat = len(categories)
    flat = pos_in * n_cat + codes[inside]
    counts = np.bincount(flat, minlength=n_units * n_cat).reshape(n_units, n_cat)
    sums = None
    if weight is not None:
        sums = np.bincount(flat, weights=sizes, minlength=n_units * n_cat)
        sums = sums.reshape(n_units, n_cat)
    for j, cat in enumerate(categories):
        columns[f"n_firms__{cat}"] = counts[:, j]
        if sums is not None:
            columns[f"{weight}__{cat}"] = sums[:, j]
    return columns, categories


def locate_firms(
    firms: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    by: str | None = None,
    weight: str | None = None,
    crs: str | int | pyproj.CRS | None = None,
    where: str,
) -> np.ndarray:
    """Position of the unit each firm falls in (-1 outside every unit), after checks.

    Checks the units (polygons, CRS, unique index), the firms (points, CRS, the
    ``by`` and ``weight`` columns) and matches them in the units' CRS (or ``crs``);
    a firm on a shared boundary goes to the first unit in row order. ``where`` names
    the caller in the messages (:func:`aggregate`, :func:`location_quotient`).

    Examples
    --------
    >>> import geopandas as gpd
    >>> import geocluster as gc
    >>> cells = gc.grid((0, 0, 2000, 1000), "1km", crs="EPSG:32610")
    >>> firms = gpd.GeoDataFrame(geometry=gpd.points_from_xy([100, 1500, 9000], [500, 500, 0]),
    ...                          crs="EPSG:32610")
    >>> locate_firms(firms, cells, where="example").tolist()
    [0, 1, -1]
    """
    _check_units(units, where)
    pts = _check_firms(firms, by, weight, where)
    target = units.crs if crs is None else _as_crs(crs)
    unit_geoms = units.geometry if crs is None else units.geometry.to_crs(target)
    if not pts.crs.equals(target):
        pts = pts.to_crs(target)
    return _locate(pts.values, unit_geoms.values)


def warn_outside(n_outside: int, n_firms: int, where: str, see: str = "") -> None:
    """Warn (with counts) that ``n_outside`` of ``n_firms`` firms fall outside every unit."""
    if n_outside:
        warnings.warn(
            f"{where}: {n_outside:,} of {n_firms:,} firms fall outside every unit and "
            f"are not counted{see}.",
            GeoclusterWarning,
            stacklevel=3,
        )


def _as_crs(crs) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise CRSError(f"crs={crs!r} is not a CRS pyproj knows; give e.g. 'EPSG:5070'.") from None


def _check_units(units, where: str) -> None:
    if not isinstance(units, gpd.GeoDataFrame):
        raise InputError(
            f"{where}: units must be a GeoDataFrame of polygons, got {type(units).__name__}."
        )
    if len(units) == 0:
        raise InputError(f"{where}: units is empty; give at least one polygon.")
    if units.crs is None:
        raise CRSError(
            f"{where}: units have no CRS, so firms cannot be matched to them. Set it, "
            "e.g. units.set_crs('EPSG:4326')."
        )
    geoms = units.geometry
    if geoms.isna().any() or geoms.is_empty.any():
        bad = units.index[geoms.isna() | geoms.is_empty][:5].tolist()
        raise InputError(
            f"{where}: units {bad} have missing or empty geometries; drop or fix them."
        )
    kinds = set(geoms.geom_type.unique())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise InputError(
            f"{where}: units must be polygons, but their geometries are {sorted(kinds)}. "
            "Buffer points or use gc.grid(...) to make areal units."
        )
    if not units.index.is_unique:
        dup = units.index[units.index.duplicated()].unique()[:5].tolist()
        raise InputError(
            f"{where}: the units' index has duplicate labels (e.g. {dup}); use "
            "reset_index() or set_index() on a unique id column."
        )


def _check_firms(firms, by, weight, where: str) -> gpd.GeoSeries:
    check_points(firms, where=where, what="firms")
    if firms.crs is None:
        raise CRSError(
            f"{where}: firms have no CRS. Set it, e.g. firms.set_crs('EPSG:4326') for "
            "longitude/latitude."
        )
    missing = [c for c in (by, weight) if c is not None and c not in firms.columns]
    if missing:
        raise InputError(
            f"{where}: firms have no column(s) {missing}; columns are {list(firms.columns)[:20]}."
        )
    if by is not None and firms[by].isna().any():
        raise InputError(
            f"{where}: {int(firms[by].isna().sum())} firms have no {by!r}; fill them "
            f"(e.g. firms[{by!r}].fillna('unknown')) or drop them."
        )
    if weight is not None:
        check_weight_column(firms, weight, where=where, what="firms")
    return firms.geometry


def _locate(points, polygons) -> np.ndarray:
    """Position of the first polygon containing each point (boundary included), -1 if none."""
    tree = shapely.STRtree(np.asarray(polygons))
    pt_idx, poly_idx = tree.query(np.asarray(points), predicate="intersects")
    position = np.full(len(points), -1, dtype=np.int64)
    if len(pt_idx):
        order = np.lexsort((poly_idx, pt_idx))
        pt_sorted, poly_sorted = pt_idx[order], poly_idx[order]
        first = np.r_[True, pt_sorted[1:] != pt_sorted[:-1]]
        position[pt_sorted[first]] = poly_sorted[first]
    return position

