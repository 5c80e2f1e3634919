"""Firm counts (and summed weights) per areal unit, optionally per category: :func:`aggregate`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geocluster._base.engine import is_dask_frame
from geocluster._base.validate import check_points, check_weight_column
from geocluster.areal import partitioned
from geocluster.errors import CRSError, GeoclusterWarning, InputError

__all__ = ["aggregate", "locate_firms", "locate_in", "locate_points", "warn_outside", "unit_layer", "UnitLayer",
           "unit_tally", "tally_meta", "dask_tally", "AGGREGATE_ATTR"]

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
        units' polygons (projected once, sent once to each worker), only its geometry,
        ``by`` and ``weight`` columns are selected before the partitions are read, and
        the partitions' small tallies are summed: the same frame as in memory (weight
        sums to rounding of the summation order).
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


@dataclass(frozen=True)
class UnitLayer:
    """What matching firms to units needs of the units: their polygons in the matching CRS.

    ``polygons`` are shapely polygons in the units' row order, copies of the units'
    geometries (so preparing them for fast predicates never touches the caller's objects);
    ``crs`` is the CRS the firms are projected to before matching. Made once per call by
    :func:`unit_layer` and, on dask, sent once to every worker.
    """

    polygons: np.ndarray
    crs: pyproj.CRS

    def __len__(self) -> int:
        return len(self.polygons)


def unit_layer(units: gpd.GeoDataFrame, crs: str | int | pyproj.CRS | None, *,
               where: str) -> UnitLayer:
    """The checked units as a :class:`UnitLayer` in ``crs`` (default: the units' CRS).

    Examples
    --------
    >>> import geocluster as gc
    >>> layer = unit_layer(gc.grid((0, 0, 2000, 1000), "1km", crs="EPSG:32610"), None,
    ...                    where="example")
    >>> len(layer), layer.crs.to_epsg()
    (2, 32610)
    """
    _check_units(units, where)
    target = units.crs if crs is None else _as_crs(crs)
    geoms = units.geometry if crs is None else units.geometry.to_crs(target)
    # copies: shapely.prepare attaches its index to the geometry objects themselves
    polygons = shapely.from_wkb(shapely.to_wkb(np.asarray(geoms.values)))
    return UnitLayer(polygons, pyproj.CRS.from_user_input(target))


def tally_meta(by: str | None, weight: str | None) -> pd.DataFrame:
    """The empty :func:`unit_tally`: its columns and their types."""
    data: dict[str, pd.Series] = {"position": pd.Series([], dtype=np.int32)}
    if by is not None:
        data["category"] = pd.Series([], dtype=object)
    data["n"] = pd.Series([], dtype=np.int64)
    if weight is not None:
        data["w"] = pd.Series([], dtype=float)
    return pd.DataFrame(data)


def unit_tally(part: gpd.GeoDataFrame, layer: UnitLayer, *, by: str | None,
               weight: str | None, where: str) -> pd.DataFrame:
    """Firms (and summed weight) of one frame (a partition) per (unit position, category).

    One row per (unit, category) that holds firms, in (position, category) order:
    ``position`` (int32; -1: outside every unit), ``category`` (with ``by``: a
    categorical, the partition's categories sorted), ``n`` and ``w`` (with ``weight``);
    the firms are checked and located by :func:`locate_in`. A few thousand rows however
    many firms: what a partition sends back.

    Examples
    --------
    >>> import geopandas as gpd
    >>> import geocluster as gc
    >>> cells = unit_layer(gc.grid((0, 0, 2000, 1000), "1km", crs="EPSG:32610"), None,
    ...                    where="example")
    >>> firms = gpd.GeoDataFrame({"k": ["b", "a", "a"]}, crs="EPSG:32610",
    ...     geometry=gpd.points_from_xy([100, 1500, 1800], [500, 500, 200]))
    >>> unit_tally(firms, cells, by="k", weight=None, where="example")
       position category  n
    0         0        b  1
    1         1        a  2
    """
    if len(part) == 0:
        return tally_meta(by, weight)
    position = locate_in(part, layer, by=by, weight=weight, where=where)
    if by is None:
        codes, uniques = np.zeros(len(part), dtype=np.int64), None
    else:
        codes, uniques = pd.factorize(part[by], sort=True)
    n_cat = 1 if uniques is None else len(uniques)
    flat = (position + 1) * n_cat + codes  # slot 0 of each category: outside every unit
    size = (len(layer) + 1) * n_cat
    if size <= 4 * len(flat) + 1_000_000:
        counts = np.bincount(flat, minlength=size)
        cells = np.flatnonzero(counts)
        counts, inverse = counts[cells], None
    else:  # many units x categories: only the cells that occur
        cells, inverse = np.unique(flat, return_inverse=True)
        counts = np.bincount(inverse, minlength=len(cells))
    data: dict[str, object] = {"position": (cells // n_cat - 1).astype(np.int32)}
    if uniques is not None:
        data["category"] = pd.Categorical.from_codes(cells % n_cat, categories=uniques)
    data["n"] = counts.astype(np.int64)
    if weight is not None:
        sizes = part[weight].to_numpy(dtype=float)
        data["w"] = (np.bincount(flat, weights=sizes, minlength=size)[cells] if inverse is None
                     else np.bincount(inverse, weights=sizes, minlength=len(cells)))
    return pd.DataFrame(data)


def dask_tally(firms, units: gpd.GeoDataFrame, *, by: str | None, weight: str | None,
               crs, where: str) -> pd.DataFrame:
    """:func:`unit_tally` of a dask frame of firms: per partition, then summed.

    The units are checked and made a :class:`UnitLayer` here once, sent once to every
    worker, and only the firms' geometry, ``by`` and ``weight`` columns are kept before
    the partitions are read (:func:`geocluster.areal.partitioned.map_partitions_with`).
    The sum has plain (object) categories, sorted with the positions.
    """
    layer = unit_layer(units, crs, where=where)
    _check_columns(list(firms.columns), by, weight, where)
    wanted = [c for c in (by, weight) if c is not None]
    tallies = partitioned.map_partitions_with(
        firms, layer, unit_tally, columns=wanted, meta=tally_meta(by, weight), where=where,
        by=by, weight=weight)
    tallies = [t for t in tallies if len(t)]
    if not tallies:
        raise InputError(f"{where}: firms is empty; there is nothing to analyse.")
    keys = ["position"] + (["category"] if by is not None else [])
    both = pd.concat(tallies, ignore_index=True)
    if by is not None:  # the partitions' categories differ: their values, not their codes
        both["category"] = both["category"].astype(object)
    both["position"] = both["position"].astype(np.int64)
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
    return locate_in(firms, unit_layer(units, crs, where=where), by=by, weight=weight,
                     where=where)


def locate_in(firms: gpd.GeoDataFrame, layer: UnitLayer, *, by: str | None = None,
              weight: str | None = None, where: str) -> np.ndarray:
    """:func:`locate_firms` against a prepared :class:`UnitLayer` (the firms checked here).

    Examples
    --------
    >>> import geopandas as gpd
    >>> import geocluster as gc
    >>> layer = unit_layer(gc.grid((0, 0, 2000, 1000), "1km", crs="EPSG:32610"), None,
    ...                    where="example")
    >>> firms = gpd.GeoDataFrame(geometry=gpd.points_from_xy([1000, 1500, 9000], [500, 0, 0]),
    ...                          crs="EPSG:32610")
    >>> locate_in(firms, layer, where="example").tolist()
    [0, 1, -1]
    """
    pts = _check_firms(firms, by, weight, where)
    if not pts.crs.equals(layer.crs):
        pts = pts.to_crs(layer.crs)
    return locate_points(np.asarray(pts.values), layer.polygons)


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
    _check_columns(list(firms.columns), by, weight, where)
    if by is not None and firms[by].isna().any():
        raise InputError(
            f"{where}: {int(firms[by].isna().sum())} firms have no {by!r}; fill them "
            f"(e.g. firms[{by!r}].fillna('unknown')) or drop them."
        )
    if weight is not None:
        check_weight_column(firms, weight, where=where, what="firms")
    return firms.geometry


def _check_columns(columns: list, by, weight, where: str) -> None:
    missing = [c for c in (by, weight) if c is not None and c not in columns]
    if missing:
        raise InputError(
            f"{where}: firms have no column(s) {missing}; columns are {columns[:20]}."
        )


def locate_points(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Position of the first polygon containing each point (boundary included), -1 if none.

    The candidates come from the polygons' bounding boxes (an STRtree), then one exact
    ``intersects`` per candidate pair with the polygons prepared (``polygons`` are
    prepared in place: pass copies, as :class:`UnitLayer` holds); a point in several
    polygons (on a shared boundary) gets the first of them in row order.

    Examples
    --------
    >>> import shapely
    >>> squares = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    >>> locate_points(shapely.points([0.5, 1.0, 1.5, 3.0], [0.5, 0.5, 0.5, 0.5]),
    ...               squares).tolist()
    [0, 0, 1, -1]
    """
    position = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0:
        return position
    pt_idx, poly_idx = shapely.STRtree(polygons).query(points)
    shapely.prepare(polygons)
    hit = shapely.intersects(polygons[poly_idx], points[pt_idx])
    pt_idx, poly_idx = pt_idx[hit], poly_idx[hit]
    if len(pt_idx) == 0:
        return position
    if not (pt_idx[1:] >= pt_idx[:-1]).all():  # shapely gives them by point; to be sure
        order = np.argsort(pt_idx, kind="stable")
        pt_idx, poly_idx = pt_idx[order], poly_idx[order]
    starts = np.flatnonzero(np.r_[True, pt_idx[1:] != pt_idx[:-1]])
    position[pt_idx[starts]] = np.minimum.reduceat(poly_idx, starts)
    return position
