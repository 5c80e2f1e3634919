"""Areal units: regular grids, firm counts per unit, location quotients.

Three steps of the areal route from firms to clusters:

* :func:`grid` builds square or hexagonal cells over an extent. All vertex
  coordinates come from one shared array, so neighbouring cells share bit-identical
  vertices and contiguity weights (queen, rook) see every neighbour.
* :func:`aggregate` counts firms (and sums a value such as employment) per unit,
  optionally per category (industry), and reports firms that fall outside every unit.
* :func:`location_quotient` computes ``LQ_ir = (E_ir / E_r) / (E_iN / E_N)`` for
  units x industries from a long table (e.g. County Business Patterns) or from the
  output of :func:`aggregate`, with a minimum-size rule and a specialisation flag.
  :func:`lq_table` turns its result into a wide units x industries table.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geocluster._base.validate import check_points
from geocluster.errors import CRSError, GeoclusterWarning, InputError
from geocluster.units import metric_crs, parse_distance, to_metric

__all__ = ["grid", "aggregate", "location_quotient", "lq_table"]

#: Largest grid :func:`grid` builds by default (about 1 GB of polygons).
MAX_CELLS = 5_000_000

#: Key under which :func:`aggregate` records what it did in ``result.attrs``.
AGGREGATE_ATTR = "geocluster_aggregate"

_SQRT3 = math.sqrt(3.0)


# --------------------------------------------------------------------------------------
# grid
# --------------------------------------------------------------------------------------


def grid(
    extent_or_gdf: gpd.GeoDataFrame | gpd.GeoSeries | Sequence[float],
    cell_size: str | float,
    *,
    shape: Literal["square", "hex"] = "square",
    crs: str | int | pyproj.CRS | None = None,
    clip: bool = False,
    max_cells: int = MAX_CELLS,
) -> gpd.GeoDataFrame:
    """Return a regular grid of square or hexagonal cells covering an extent.

    Every vertex coordinate is taken from one shared array of x and one of y
    values, so neighbouring cells share bit-identical vertices: an interior square
    has 8 queen and 4 rook neighbours, an interior hexagon 6 of each.

    Parameters
    ----------
    extent_or_gdf
        A GeoDataFrame/GeoSeries (its ``total_bounds`` after
        :func:`geocluster.to_metric`) or an extent ``(minx, miny, maxx, maxy)`` in
        the metric CRS named by ``crs``.
    cell_size
        ``"10km"``, ``"500m"`` or a number of metres. For squares, the side; for
        hexagons, the distance between the centres of neighbouring cells (the
        flat-to-flat width; a hexagon's area is then ``sqrt(3)/2 * cell_size**2``).
    shape
        ``"square"`` (default) or ``"hex"`` (pointy-top hexagons, odd rows shifted
        right by half a cell).
    crs
        The metric CRS. Required with an extent tuple; with a frame, the CRS to
        project into (default: :func:`geocluster.to_metric`'s automatic choice).
    clip
        With a frame: keep only cells that intersect its geometries.
    max_cells
        Refuse grids with more cells than this (default 5 million).

    Returns
    -------
    GeoDataFrame
        Columns ``cell_id`` (0..n-1, also the unnamed index), ``row`` (0 at the bottom),
        ``col`` (0 at the left) and the cell polygons, in the metric CRS. Squares
        start at the extent's lower-left corner and cover it; hexagons cover it.

    Examples
    --------
    >>> import geocluster as gc
    >>> cells = gc.grid((0, 0, 3000, 2000), "1km", crs="EPSG:32610")
    >>> len(cells), cells.crs.to_epsg()
    (6, 32610)
    >>> cells[["cell_id", "row", "col"]].iloc[4].tolist()
    [4, 1, 1]
    >>> float(cells.area.iloc[0])
    1000000.0
    >>> hexes = gc.grid((0, 0, 3000, 2000), "1km", shape="hex", crs="EPSG:32610")
    >>> round(float(hexes.area.iloc[0]))
    866025
    """
    size = parse_distance(cell_size, name="cell_size")
    if shape not in ("square", "hex"):
        raise InputError(f"shape={shape!r} must be 'square' or 'hex'.")
    if not isinstance(max_cells, (int, np.integer)) or max_cells < 1:
        raise InputError(f"max_cells={max_cells!r} must be a positive integer.")
    bounds, target_crs, data = _grid_extent(extent_or_gdf, crs, clip)
    minx, miny, maxx, maxy = bounds
    if shape == "square":
        nx = max(1, math.ceil((maxx - minx) / size))
        ny = max(1, math.ceil((maxy - miny) / size))
    else:
        side = size / _SQRT3
        nx = max(1, math.ceil((maxx - minx) / size)) + 1
        ny = max(1, math.ceil((maxy - miny) / (1.5 * side))) + 1
    n_cells = nx * ny
    if n_cells > max_cells:
        suggested = size * math.sqrt(n_cells / max_cells) * 1.01
        raise InputError(
            f"a {shape} grid of cell_size={cell_size!r} over this extent would have "
            f"{n_cells:,} cells ({nx:,} x {ny:,}), more than max_cells={max_cells:,}. "
            f"Use a larger cell_size (e.g. '{suggested / 1000:.3g}km'), a smaller extent, "
            "or raise max_cells if you have the memory (about 200 bytes per cell)."
        )
    if shape == "square":
        polys, rows, cols = _square_cells(minx, miny, size, nx, ny)
    else:
        polys, rows, cols = _hex_cells(minx, miny, size, nx, ny)
        # Keep cells that overlap the extent (not those that only touch its edge).
        extent = shapely.box(minx, miny, maxx, maxy)
        keep = shapely.intersects(polys, extent)
        overlap = keep & ~shapely.touches(polys, extent)
        if overlap.any():
            keep = overlap
        polys, rows, cols = polys[keep], rows[keep], cols[keep]
    if clip and data is not None:
        tree = shapely.STRtree(polys)
        hits = tree.query(np.asarray(data.geometry.values), predicate="intersects")[1]
        keep = np.zeros(len(polys), dtype=bool)
        keep[hits] = True
        polys, rows, cols = polys[keep], rows[keep], cols[keep]
    ids = np.arange(len(polys))
    return gpd.GeoDataFrame(
        {"cell_id": ids, "row": rows, "col": cols},
        geometry=polys,
        crs=target_crs,
        index=pd.RangeIndex(len(ids)),
    )


def _grid_extent(extent_or_gdf, crs, clip):
    if isinstance(extent_or_gdf, gpd.GeoSeries):
        extent_or_gdf = extent_or_gdf.to_frame()
    if isinstance(extent_or_gdf, gpd.GeoDataFrame):
        if len(extent_or_gdf) == 0:
            raise InputError("grid: the GeoDataFrame is empty, so it has no extent.")
        metric = to_metric(extent_or_gdf, crs)
        geoms = metric.geometry
        metric = metric[~(geoms.isna() | geoms.is_empty)]
        if len(metric) == 0:
            raise InputError("grid: every geometry of the frame is missing or empty.")
        bounds = tuple(float(b) for b in metric.total_bounds)
        return bounds, metric.crs, metric
    if clip:
        raise InputError("grid: clip=True needs a GeoDataFrame (cells are kept where it has data).")
    try:
        bounds = tuple(float(b) for b in extent_or_gdf)
    except (TypeError, ValueError):
        raise InputError(
            "grid: give a GeoDataFrame or an extent (minx, miny, maxx, maxy); got "
            f"{type(extent_or_gdf).__name__}."
        ) from None
    if len(bounds) != 4 or not all(np.isfinite(bounds)):
        raise InputError(
            f"grid: the extent must be 4 finite numbers (minx, miny, maxx, maxy); got {bounds}."
        )
    if bounds[2] < bounds[0] or bounds[3] < bounds[1]:
        raise InputError(f"grid: the extent {bounds} has maxx < minx or maxy < miny.")
    if crs is None:
        raise CRSError(
            "grid: an extent tuple needs crs= (a projected CRS in metres, e.g. 'EPSG:5070' "
            "or a UTM zone) so that cell_size is a distance."
        )
    return bounds, metric_crs(crs), None


def _square_cells(minx, miny, size, nx, ny):
    # One array of x edges and one of y edges: shared vertices are the same floats.
    xs = minx + size * np.arange(nx + 1, dtype=float)
    ys = miny + size * np.arange(ny + 1, dtype=float)
    rows, cols = np.divmod(np.arange(nx * ny), nx)
    x0, x1, y0, y1 = xs[cols], xs[cols + 1], ys[rows], ys[rows + 1]
    ring = np.empty((nx * ny, 5, 2))
    ring[:, 0] = np.column_stack([x0, y0])
    ring[:, 1] = np.column_stack([x1, y0])
    ring[:, 2] = np.column_stack([x1, y1])
    ring[:, 3] = np.column_stack([x0, y1])
    ring[:, 4] = ring[:, 0]
    return _polygons(ring), rows, cols


def _hex_cells(minx, miny, size, nx, ny):
    # Pointy-top hexagons on one vertex lattice: x levels every size/2 (from minx - size/2),
    # y levels every side/2 (from miny - side). Cell (r, c) has its centre at x level
    # kc = 2c + 1 + (r odd) and y level mc = 3r + 2, i.e. at (minx + c*size + (r odd)*size/2,
    # miny + 1.5*side*r); its six vertices are the lattice points around it.
    side = size / _SQRT3
    xs = (minx - size / 2) + (size / 2) * np.arange(2 * nx + 2, dtype=float)
    ys = (miny - side) + (side / 2) * np.arange(3 * ny + 3, dtype=float)
    rows, cols = np.divmod(np.arange(nx * ny), nx)
    kc = 2 * cols + 1 + (rows % 2)
    mc = 3 * rows + 2
    dk = np.array([0, 1, 1, 0, -1, -1, 0])
    dm = np.array([-2, -1, 1, 2, 1, -1, -2])
    k = kc[:, None] + dk[None, :]
    m = mc[:, None] + dm[None, :]
    ring = np.stack([xs[k], ys[m]], axis=-1)
    return _polygons(ring), rows, cols


def _polygons(ring: np.ndarray) -> np.ndarray:
    # Vectorised construction from one coordinate array (n cells x closed ring x 2);
    # from_ragged_array copies the floats as they are and is about 4x faster than
    # shapely.polygons on 100k cells.
    n, k, _ = ring.shape
    ring_offsets = np.arange(n + 1, dtype=np.int64) * k
    poly_offsets = np.arange(n + 1, dtype=np.int64)
    return shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, ring.reshape(-1, 2), (ring_offsets, poly_offsets)
    )


# --------------------------------------------------------------------------------------
# aggregate
# --------------------------------------------------------------------------------------


def aggregate(
    firms: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    by: str | None = None,
    value: str | None = None,
    unit_id: str | None = None,
    crs: str | int | pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Count firms (and sum a value) per unit, optionally per category.

    Parameters
    ----------
    firms
        Points with a CRS (reprojected to the units' CRS, or to ``crs``).
    units
        Polygons with a CRS and a unique index (or a unique ``unit_id`` column).
    by
        A column of ``firms`` with categories (e.g. industry). Adds one column per
        category: ``n_firms__<category>`` and, with ``value``, ``<value>__<category>``.
        Missing categories are an error (fill them, e.g. with ``"unknown"``).
    value
        A numeric column of ``firms`` (e.g. employment) summed per unit into a
        column of the same name. Must be finite and non-negative.
    unit_id
        A column of ``units`` that identifies them (must be unique); default the
        index. :func:`location_quotient` uses it as the unit label.
    crs
        CRS in which points are matched to polygons; default the units' CRS.

    Returns
    -------
    GeoDataFrame
        A copy of ``units`` (same index, geometry and CRS) with ``n_firms``, the
        ``value`` sum and the per-category columns, zero where no firm fell. A firm on
        a boundary shared by several units is counted once, in the first of them in
        the units' row order. Firms outside every unit are counted in
        ``result.attrs["n_outside"]`` and reported in a :class:`GeoclusterWarning`.
        ``result.attrs["geocluster_aggregate"]`` records ``by``, ``value``,
        ``unit_id`` and the categories, so the result can go straight into
        :func:`location_quotient`.

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
    >>> out = gc.aggregate(firms, cells, by="industry", value="emp")
    >>> out[["n_firms", "emp", "n_firms__a", "n_firms__b", "emp__a"]]
       n_firms   emp  n_firms__a  n_firms__b  emp__a
    0        1  10.0           1           0    10.0
    1        2   7.0           1           1     5.0
    """
    _check_units(units, unit_id)
    pts = _check_firms(firms, by, value)
    target = units.crs if crs is None else _as_crs(crs)
    unit_geoms = units.geometry if crs is None else units.geometry.to_crs(target)
    if not pts.crs.equals(target):
        pts = pts.to_crs(target)
    position = _locate(pts.values, unit_geoms.values)
    inside = position >= 0
    n_outside = int((~inside).sum())
    n_units = len(units)
    pos_in = position[inside]
    weights = None
    if value is not None:
        weights = firms[value].to_numpy(dtype=float)[inside]

    columns: dict[str, np.ndarray] = {"n_firms": np.bincount(pos_in, minlength=n_units)}
    if value is not None:
        columns[value] = np.bincount(pos_in, weights=weights, minlength=n_units)
    categories: list = []
    if by is not None:
        codes, uniques = pd.factorize(firms[by], sort=True)
        categories = list(uniques)
        n_cat = len(categories)
        flat = pos_in * n_cat + codes[inside]
        counts = np.bincount(flat, minlength=n_units * n_cat).reshape(n_units, n_cat)
        sums = None
        if value is not None:
            sums = np.bincount(flat, weights=weights, minlength=n_units * n_cat)
            sums = sums.reshape(n_units, n_cat)
        for j, cat in enumerate(categories):
            columns[f"n_firms__{cat}"] = counts[:, j]
            if sums is not None:
                columns[f"{value}__{cat}"] = sums[:, j]
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
            "value": value,
            "unit_id": unit_id,
            "categories": categories,
            "n_firms": int(len(firms)),
            "n_outside": n_outside,
        },
    }
    if n_outside:
        warnings.warn(
            f"aggregate: {n_outside:,} of {len(firms):,} firms fall outside every unit and "
            "are not counted (see result.attrs['n_outside']).",
            GeoclusterWarning,
            stacklevel=2,
        )
    return result


def _as_crs(crs) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise CRSError(f"crs={crs!r} is not a CRS pyproj knows; give e.g. 'EPSG:5070'.") from None


def _check_units(units, unit_id) -> None:
    if not isinstance(units, gpd.GeoDataFrame):
        raise InputError(
            f"aggregate: units must be a GeoDataFrame of polygons, got {type(units).__name__}."
        )
    if len(units) == 0:
        raise InputError("aggregate: units is empty; give at least one polygon.")
    if units.crs is None:
        raise CRSError(
            "aggregate: units have no CRS, so firms cannot be matched to them. Set it, "
            "e.g. units.set_crs('EPSG:4326')."
        )
    geoms = units.geometry
    if geoms.isna().any() or geoms.is_empty.any():
        bad = units.index[geoms.isna() | geoms.is_empty][:5].tolist()
        raise InputError(
            f"aggregate: units {bad} have missing or empty geometries; drop or fix them."
        )
    kinds = set(geoms.geom_type.unique())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise InputError(
            f"aggregate: units must be polygons, but their geometries are {sorted(kinds)}. "
            "Buffer points or use gc.grid(...) to make areal units."
        )
    if not units.index.is_unique:
        dup = units.index[units.index.duplicated()].unique()[:5].tolist()
        raise InputError(
            f"aggregate: the units' index has duplicate labels (e.g. {dup}); use "
            "reset_index() or set_index() on a unique id column."
        )
    if unit_id is not None:
        if unit_id not in units.columns:
            raise InputError(f"aggregate: unit_id={unit_id!r} is not a column of units.")
        if not units[unit_id].is_unique or units[unit_id].isna().any():
            raise InputError(f"aggregate: unit_id={unit_id!r} must be unique and not missing.")


def _check_firms(firms, by, value) -> gpd.GeoSeries:
    check_points(firms, where="aggregate", what="firms")
    if firms.crs is None:
        raise CRSError(
            "aggregate: firms have no CRS. Set it, e.g. firms.set_crs('EPSG:4326') for "
            "longitude/latitude."
        )
    missing = [c for c in (by, value) if c is not None and c not in firms.columns]
    if missing:
        raise InputError(
            f"aggregate: firms have no column(s) {missing}; columns are {list(firms.columns)[:20]}."
        )
    if by is not None and firms[by].isna().any():
        raise InputError(
            f"aggregate: {int(firms[by].isna().sum())} firms have no {by!r}; fill them "
            f"(e.g. firms[{by!r}].fillna('unknown')) or drop them."
        )
    if value is not None:
        _check_nonneg(firms[value], value, "aggregate")
    return firms.geometry


def _check_nonneg(series: pd.Series, name: str, where: str) -> None:
    if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
        raise InputError(f"{where}: column {name!r} must be numeric, got dtype {series.dtype}.")
    values = series.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        raise InputError(
            f"{where}: column {name!r} has {int(bad.sum())} missing or infinite values; "
            "fill or drop them."
        )
    if (values < 0).any():
        raise InputError(
            f"{where}: column {name!r} has {int((values < 0).sum())} negative values; counts "
            "and employment must be >= 0."
        )


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


# --------------------------------------------------------------------------------------
# location quotients
# --------------------------------------------------------------------------------------


def location_quotient(
    data: pd.DataFrame,
    *,
    unit: str | None = None,
    industry: str | None = None,
    value: str | None = None,
    total: object | None = None,
    industries: Sequence | None = None,
    min_total: float = 30,
    min_count: float = 0,
    threshold: float = 1.25,
    complete: bool = False,
) -> pd.DataFrame:
    """Location quotients ``LQ_ir = (E_ir / E_r) / (E_iN / E_N)`` for units x industries.

    ``E_ir`` is industry i's size (firm count or employment) in unit r, ``E_r`` the
    unit's size, ``E_iN`` the industry's size over all units and ``E_N`` the size of
    all units together.

    Parameters
    ----------
    data
        Either a long table with one row per (unit, industry) or per firm, or the
        output of :func:`aggregate` with ``by=`` (then ``unit`` and ``industry`` are
        not needed: units are the index, or ``unit_id``; industries are the categories).
    unit, industry
        Columns of a long table naming the unit and the industry.
    value
        Column with the size (count or employment). ``None``: each row counts as one
        (a table of firms). Rows repeating a (unit, industry) pair are summed. For
        :func:`aggregate` output, ``None`` uses firm counts and the name of the summed
        value (e.g. ``"emp"``) uses it.
    total
        The industry code of rows holding each unit's all-industry total (e.g.
        ``"00"`` in County Business Patterns). Then ``E_r`` is that row's value and
        ``E_N`` their sum, so the denominator covers the whole economy, not just the
        industries kept, and suppressed or overlapping (2- and 4-digit) industry rows
        do not distort it. Units without a total row get a NaN LQ. Default ``None``:
        ``E_r`` is the sum of the unit's industries, ``E_N`` the sum of everything.
    industries
        Keep only these industries in the result (``E_r`` and ``E_N`` are computed
        before this selection).
    min_total
        Minimum-size rule: units with ``E_r < min_total`` get a NaN LQ, because a
        handful of firms gives extreme LQs (with 5 firms, one software firm makes a
        share of 20%). Default 30, a rule of thumb for firm counts (one firm then
        moves a unit's share by at most about 3 percentage points); for employment
        a larger value (e.g. 1000) is sensible. Use 0 to switch the rule off.
    min_count
        A unit is only flagged as specialised in an industry if ``E_ir >= min_count``
        (default 0: no extra rule).
    threshold
        A unit is *specialised* in an industry if ``LQ > threshold`` (default 1.25:
        25% above the national share, a common cut-off in the cluster literature;
        Delgado, Porter & Stern use LQ > 1 together with size rules) and it passes
        the size rules.
    complete
        For long tables: add absent (unit, industry) pairs as zeros. Leave ``False``
        when absent means suppressed (as in County Business Patterns); set ``True``
        for a table of firms, where absent means none. :func:`aggregate` output is
        always complete.

    Returns
    -------
    DataFrame
        One row per (unit, industry), sorted by both, with the unit and industry
        columns (``unit`` and ``industry`` for :func:`aggregate` output), ``value``
        (``E_ir``), ``unit_total`` (``E_r``), ``industry_total`` (``E_iN``),
        ``grand_total`` (``E_N``), ``unit_share`` (``E_ir / E_r``), ``national_share``
        (``E_iN / E_N``), ``lq`` and ``specialised``. ``attrs`` records the rules.

    Examples
    --------
    >>> import geocluster as gc
    >>> cbp = gc.datasets.load_cbp()
    >>> lq = gc.location_quotient(
    ...     cbp, unit="cbsa_code", industry="naics_code", value="emp",
    ...     total="00", industries=["3344", "5112"], min_total=1000,
    ... )
    >>> sj = lq[lq["cbsa_code"] == "41940"].set_index("naics_code")
    >>> sj["lq"].round(1).to_dict(), sj["specialised"].tolist()
    ({'3344': 7.4, '5112': 9.2}, [True, True])
    """
    for name, x in (("min_total", min_total), ("min_count", min_count), ("threshold", threshold)):
        if (
            isinstance(x, bool)
            or not isinstance(x, (int, float, np.integer, np.floating))
            or not np.isfinite(x)
        ):
            raise InputError(f"location_quotient: {name}={x!r} must be a finite number.")
        if x < 0:
            raise InputError(f"location_quotient: {name}={x!r} must be >= 0.")
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"location_quotient: data must be a DataFrame, got {type(data).__name__}.")
    if isinstance(data.attrs.get(AGGREGATE_ATTR), dict) and unit is None and industry is None:
        long, unit, industry = _long_from_aggregate(data, value, total)
        value_col, complete = "value", True
    else:
        long, value_col = _long_from_table(data, unit, industry, value)
    return _compute_lq(
        long,
        unit,
        industry,
        value_col,
        total=total,
        industries=industries,
        min_total=float(min_total),
        min_count=float(min_count),
        threshold=float(threshold),
        complete=complete,
    )


def _long_from_table(data, unit, industry, value):
    if unit is None or industry is None:
        raise InputError(
            "location_quotient: name the unit= and industry= columns of the long table "
            "(or pass the output of gc.aggregate(..., by=...))."
        )
    missing = [c for c in (unit, industry, value) if c is not None and c not in data.columns]
    if missing:
        raise InputError(
            f"location_quotient: data have no column(s) {missing}; columns are "
            f"{list(data.columns)[:20]}."
        )
    if len(data) == 0:
        raise InputError("location_quotient: data are empty.")
    for col in (unit, industry):
        if data[col].isna().any():
            raise InputError(
                f"location_quotient: column {col!r} has {int(data[col].isna().sum())} missing "
                "values; drop or fill them."
            )
    if value is None:
        long = pd.DataFrame({unit: data[unit].to_numpy(), industry: data[industry].to_numpy()})
        long["value"] = 1.0
        return long, "value"
    _check_nonneg(data[value], value, "location_quotient")
    long = pd.DataFrame(
        {
            unit: data[unit].to_numpy(),
            industry: data[industry].to_numpy(),
            "value": data[value].to_numpy(dtype=float),
        }
    )
    return long, "value"


def _long_from_aggregate(data, value, total):
    info = data.attrs[AGGREGATE_ATTR]
    if info.get("by") is None:
        raise InputError(
            "location_quotient: this aggregate() result has no industries; call "
            "gc.aggregate(firms, units, by='<industry column>') first."
        )
    if total is not None:
        raise InputError(
            "location_quotient: total= is for long tables; an aggregate() result takes "
            "each unit's total from its n_firms (or value) column."
        )
    if value is None:
        prefix, total_col = "n_firms", "n_firms"
    elif value == info.get("value"):
        prefix, total_col = value, value
    else:
        raise InputError(
            f"location_quotient: value={value!r} was not summed by aggregate(); use None "
            f"(firm counts) or {info.get('value')!r}."
        )
    cats = list(info["categories"])
    cols = [f"{prefix}__{c}" for c in cats]
    missing = [c for c in cols + [total_col] if c not in data.columns]
    if missing:
        raise InputError(f"location_quotient: the aggregate() result lost column(s) {missing[:5]}.")
    ids = data.index if info.get("unit_id") is None else pd.Index(data[info["unit_id"]])
    values = data[cols].to_numpy(dtype=float)
    long = pd.DataFrame(
        {
            "unit": np.repeat(ids.to_numpy(), len(cats)),
            "industry": np.tile(np.asarray(cats, dtype=object), len(ids)),
            "value": values.ravel(),
        }
    )
    # Unit totals from the total column (equal to the sum over categories).
    long.attrs["unit_totals"] = pd.Series(data[total_col].to_numpy(dtype=float), index=ids)
    return long, "unit", "industry"


def _compute_lq(
    long, unit, industry, value_col, *, total, industries, min_total, min_count, threshold, complete
):
    cell = long.groupby([unit, industry], sort=True, observed=True)[value_col].sum()
    unit_totals = long.attrs.get("unit_totals")
    n_no_total = 0
    if total is not None:
        codes = cell.index.get_level_values(industry)
        is_total = codes == total
        if not is_total.any():
            raise InputError(
                f"location_quotient: total={total!r} is not a value of column {industry!r}; "
                "name the code of the all-industry rows (e.g. '00' in County Business "
                "Patterns) or use total=None."
            )
        unit_totals = cell[is_total].droplevel(industry)
        cell = cell[~is_total]
    elif unit_totals is None:
        unit_totals = cell.groupby(level=unit, sort=True).sum()
    if len(cell) == 0:
        raise InputError("location_quotient: no industry rows are left besides the totals.")
    if complete:
        all_units = unit_totals.index.union(cell.index.get_level_values(unit).unique())
        full = pd.MultiIndex.from_product(
            [all_units, cell.index.get_level_values(industry).unique().sort_values()],
            names=[unit, industry],
        )
        cell = cell.reindex(full, fill_value=0.0)
    grand = float(unit_totals.sum())
    if not grand > 0:
        what = "firms" if value_col == "value" and total is None else "size"
        raise InputError(
            f"location_quotient: the units' totals sum to {grand:g}, so there are no {what} "
            "to share out and every LQ would be 0/0. Check that value= names the count or "
            "employment column and that the table (or the firms aggregated) is not empty."
        )
    industry_totals = cell.groupby(level=industry, sort=True).sum()
    out = cell.rename("value").reset_index()
    out["unit_total"] = out[unit].map(unit_totals).astype(float)
    n_no_total = int(out["unit_total"].isna().sum())
    out["industry_total"] = out[industry].map(industry_totals).astype(float)
    out["grand_total"] = grand
    if industries is not None:
        wanted = list(industries)
        unknown = [i for i in wanted if i not in set(industry_totals.index)]
        if unknown:
            raise InputError(
                f"location_quotient: industries {unknown[:5]} are not in column {industry!r}."
            )
        out = out[out[industry].isin(wanted)].reset_index(drop=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["unit_share"] = out["value"] / out["unit_total"]
        out["national_share"] = out["industry_total"] / grand
        lq = out["unit_share"] / out["national_share"]
    small = ~(out["unit_total"] >= min_total) | (out["unit_total"] <= 0)
    out["lq"] = lq.where(~small)
    out["specialised"] = (
        ((out["lq"] > threshold) & (out["value"] >= min_count)).fillna(False).astype(bool)
    )
    over = int((out["value"] > out["unit_total"]).sum())
    _warn_min_total(out, unit, small, min_total)
    if n_no_total:
        warnings.warn(
            f"location_quotient: {n_no_total} (unit, industry) rows belong to units without a "
            f"total={total!r} row; their LQ is NaN.",
            GeoclusterWarning,
            stacklevel=3,
        )
    if over:
        warnings.warn(
            f"location_quotient: in {over} (unit, industry) rows the industry is larger than "
            "the unit's total; check the total= rows and that industries do not overlap.",
            GeoclusterWarning,
            stacklevel=3,
        )
    out.attrs = {
        "threshold": threshold,
        "min_total": min_total,
        "min_count": min_count,
        "total": total,
        "unit": unit,
        "industry": industry,
        "n_small_units": int(out.loc[small, unit].nunique()),
    }
    return out


def _warn_min_total(out: pd.DataFrame, unit, small: pd.Series, min_total: float) -> None:
    """Say how many units the minimum-size rule blanked; suggest a value when it is most.

    Empty units (total 0) have no LQ whatever the rule, so they are not counted as
    blanked by it; the message gives their number separately.
    """
    totals = out.drop_duplicates(unit).set_index(unit)["unit_total"]
    known = totals.dropna()
    nonempty = known[known > 0]
    blanked = nonempty[~(nonempty >= min_total)]
    if len(blanked) == 0:
        return
    n_empty = len(known) - len(nonempty)
    share = len(blanked) / len(nonempty)
    message = (
        f"location_quotient: the minimum-size rule (min_total={min_total:g}) blanked the LQ "
        f"of {len(blanked):,} of {len(nonempty):,} non-empty units ({share:.0%}): their total "
        f"is below {min_total:g}, so their lq is NaN and they are never 'specialised'"
        + (f" ({n_empty:,} more units are empty and have no LQ anyway)" if n_empty else "")
        + "."
    )
    if share > 0.5:
        suggest = float(np.floor(nonempty.quantile(0.25)))
        message += (
            f" That is more than half of the non-empty units, so the rule is too strict for "
            f"these data (median non-empty total {float(nonempty.median()):g}): try "
            f"min_total={suggest:g} (keeps about three quarters of them), min_total=0 to "
            "switch the rule off, or larger units."
        )
    warnings.warn(message, GeoclusterWarning, stacklevel=4)


def lq_table(result: pd.DataFrame, column: str = "lq") -> pd.DataFrame:
    """Pivot a :func:`location_quotient` result into a units x industries table.

    Parameters
    ----------
    result
        The output of :func:`location_quotient`.
    column
        Which column to spread: ``"lq"`` (default), ``"specialised"``, ``"value"``...

    Returns
    -------
    DataFrame
        Indexed by unit, one column per industry; absent pairs are NaN.

    Examples
    --------
    >>> import pandas as pd
    >>> from geocluster.areal import location_quotient, lq_table
    >>> t = pd.DataFrame({"r": ["A", "A", "B", "B"], "i": ["x", "y", "x", "y"],
    ...                   "n": [30, 10, 10, 30]})
    >>> lq_table(location_quotient(t, unit="r", industry="i", value="n", min_total=0))
    i    x    y
    r
    A  1.5  0.5
    B  0.5  1.5
    """
    unit, industry = result.attrs.get("unit"), result.attrs.get("industry")
    if unit is None or industry is None or unit not in result or industry not in result:
        raise InputError("lq_table: give the output of location_quotient().")
    if column not in result.columns:
        raise InputError(
            f"lq_table: column {column!r} is not in the result; choose from {list(result.columns)}."
        )
    return result.pivot(index=unit, columns=industry, values=column)
