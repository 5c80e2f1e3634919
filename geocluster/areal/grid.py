"""Regular grids of square or hexagonal cells: the areal units :func:`grid` builds.

All vertex coordinates come from one shared array, so neighbouring cells share
bit-identical vertices and contiguity weights (queen, rook) see every neighbour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geocluster._base.validate import check_positive_int
from geocluster.errors import CRSError, InputError
from geocluster.units import cells_spanning, metric_crs, parse_distance, to_metric

__all__ = ["grid", "MAX_CELLS"]

#: Largest grid :func:`grid` builds by default (about 1 GB of polygons).
MAX_CELLS = 5_000_000

_SQRT3 = math.sqrt(3.0)


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
    max_cells = check_positive_int(max_cells, where="grid", name="max_cells")
    bounds, target_crs, data = _grid_extent(extent_or_gdf, crs, clip)
    minx, miny, maxx, maxy = bounds
    if shape == "square":
        nx = cells_spanning(maxx - minx, size)
        ny = cells_spanning(maxy - miny, size)
    else:
        side = size / _SQRT3
        nx = cells_spanning(maxx - minx, size) + 1
        ny = cells_spanning(maxy - miny, 1.5 * side) + 1
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

