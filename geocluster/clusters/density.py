"""Kernel density surfaces of firm locations and Monte Carlo density clusters.

:func:`kde` estimates a density surface by Wand's (1994) binned KDE: linear binning
of the points onto a regular grid, then an FFT convolution with the kernel evaluated
at the grid offsets (see :mod:`geocluster.clusters._kde`). :func:`density_clusters`
turns the surface into cluster polygons whose threshold comes from Monte Carlo
simulation of a null hypothesis.

Units
-----
Everything runs in a projected metric CRS (the points' own if it is metric, else
the automatic choice of :func:`geocluster.units.to_metric`). Bandwidths are
metres (or a string with a unit such as ``"10km"``). Surface values are an
*intensity*: expected weight per km^2 (firms per km^2 when unweighted), so that
the surface integrates to the total weight. Divide by ``surface.total_weight`` for
a probability density per km^2.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geocluster._base.optional import import_optional
from geocluster._base.validate import check_seed, seed_label
from geocluster.clusters import _kde
from geocluster.clusters import _permutation as _perm
from geocluster.errors import ConfigError, CRSError, GeoclusterWarning, InputError
from geocluster.units import auto_metric_crs, is_metric, metric_crs, parse_distance

__all__ = ["DensitySurface", "kde", "density_clusters", "label_points"]

#: Grids with more cells than this are refused (a float64 grid of 50 million cells
#: is 400 MB, and the FFT needs several times that).
MAX_CELLS = 50_000_000

#: Default grid resolution: a quarter bandwidth, but at most this many cells along
#: the longer side.
DEFAULT_MAX_SIDE = 1000

_M2_PER_KM2 = 1e6


# ----------------------------------------------------------------------------- input


@dataclass(frozen=True)
class _Points:
    x: np.ndarray
    y: np.ndarray
    w: np.ndarray | None
    crs: pyproj.CRS
    index: pd.Index

    @property
    def total_weight(self) -> float:
        return float(len(self.x)) if self.w is None else float(self.w.sum())


def _read_points(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    weight: str | None = None,
    crs: str | int | pyproj.CRS | None = None,
    name: str = "points",
    allow_empty: bool = False,
) -> _Points:
    """Validate point input and return metric coordinates (and weights)."""
    if isinstance(points, gpd.GeoSeries):
        points = gpd.GeoDataFrame(geometry=points)
    if not isinstance(points, gpd.GeoDataFrame):
        raise InputError(
            f"{name} must be a GeoDataFrame of points, got {type(points).__name__}; "
            "build one with geocluster.read_firms or geopandas.points_from_xy."
        )
    if len(points) == 0 and not allow_empty:
        raise InputError(f"{name} is empty: a density needs at least one point.")
    if points.crs is None:
        raise CRSError(
            f"{name} has no CRS, so distances cannot be measured. Set the CRS the "
            "coordinates are in, e.g. gdf.set_crs('EPSG:4326') for longitude/latitude."
        )
    geoms = np.asarray(points.geometry.values)
    # fast path: get_x/get_y give NaN for missing, empty and non-point geometries;
    # diagnose only if there are any
    try:
        x = shapely.get_x(geoms)
        y = shapely.get_y(geoms)
    except shapely.errors.GEOSException:  # empty points raise
        _diagnose_geometries(geoms, name)
    if len(x) and np.isnan(x.sum() + y.sum()):
        _diagnose_geometries(geoms, name)
    src = pyproj.CRS.from_user_input(points.crs)
    target = _target_crs(src, x, y, crs)
    if not target.equals(src):
        transformer = pyproj.Transformer.from_crs(src, target, always_xy=True)
        transformer.transform(x, y, inplace=True)  # x, y are our own fresh arrays
    if len(x) and not np.isfinite(x.sum() + y.sum()):
        raise CRSError(
            f"{name}: {int((~np.isfinite(x) | ~np.isfinite(y)).sum())} points have no finite "
            f"coordinates in {target.name}; check the CRS the data are in."
        )
    w = None if weight is None else _read_weights(points, weight, name)
    return _Points(x=x, y=y, w=w, crs=target, index=points.index)


def _diagnose_geometries(geoms: np.ndarray, name: str) -> None:
    type_id = shapely.get_type_id(geoms)
    if (type_id == -1).any():
        raise InputError(
            f"{name} has {int((type_id == -1).sum())} rows with a missing geometry; "
            "drop them first (gdf[gdf.geometry.notna()])."
        )
    if (type_id != 0).any():
        bad = int((type_id != 0).sum())
        raise InputError(
            f"{name} must hold Point geometries; {bad} rows are not points. Use "
            "gdf.representative_point() (or .centroid) to reduce polygons to points."
        )
    empty = int(shapely.is_empty(geoms).sum())
    raise InputError(
        f"{name} has {empty} empty points or points with NaN coordinates; drop them first "
        "(gdf[~gdf.geometry.is_empty])."
    )


def _target_crs(src: pyproj.CRS, x: np.ndarray, y: np.ndarray, crs) -> pyproj.CRS:
    """The metric CRS to work in: ``crs``, the source if metric, else the automatic choice.

    The automatic choice is :func:`geocluster.units.auto_metric_crs` (the one automatic
    metric CRS of geocluster, chosen from the bulk of the points), so the KDE, the
    weights and :func:`geocluster.units.to_metric` agree.
    """
    if crs is not None:
        return metric_crs(crs)
    if is_metric(src):
        return src
    if len(x) == 0:
        raise CRSError("cannot choose a metric CRS for empty input; name crs= instead.")
    if src.equals(pyproj.CRS.from_epsg(4326)):
        lon, lat = x, y
    else:
        to_ll = pyproj.Transformer.from_crs(src, 4326, always_xy=True)
        lon, lat = to_ll.transform(x, y)
    return auto_metric_crs(lon, lat)


def _read_weights(points: gpd.GeoDataFrame, weight, name: str) -> np.ndarray:
    if isinstance(weight, str):
        if weight not in points.columns:
            raise InputError(
                f"weight={weight!r} is not a column of {name}; columns are "
                f"{list(points.columns)[:20]}."
            )
        values = points[weight]
        label = f"weight column {weight!r}"
    else:
        values = pd.Series(np.asarray(weight), index=points.index) if not isinstance(
            weight, pd.Series) else weight
        label = "weight"
        if len(values) != len(points):
            raise InputError(f"{label} has {len(values)} values for {len(points)} {name}.")
    try:
        w = pd.to_numeric(values, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{label} must be numeric ({exc}).") from None
    if np.isnan(w).any():
        raise InputError(
            f"{label} has {int(np.isnan(w).sum())} missing (NaN) values; fill or drop "
            "those rows first."
        )
    if not np.isfinite(w).all():
        raise InputError(f"{label} has {int((~np.isfinite(w)).sum())} infinite values.")
    if (w < 0).any():
        raise InputError(
            f"{label} has {int((w < 0).sum())} negative values; weights must be >= 0 "
            "(e.g. employment or sales)."
        )
    if len(w) and w.sum() <= 0:
        raise InputError(f"{label} sums to zero: nothing to estimate a density of.")
    return w


def _resolve_bandwidth(
    bandwidth, kernel: str, pts: _Points
) -> tuple[float, str]:
    """Return ``(h in metres, description)``; ``h`` is the kernel's own scale."""
    if isinstance(bandwidth, str) and bandwidth.lower() in ("scott", "silverman", "cv"):
        method = bandwidth.lower()
        n = len(pts.x)
        spread = 0.0 if n < 2 else max(np.ptp(pts.x), np.ptp(pts.y))
        if n < 2 or spread == 0.0:
            what = "a single point" if n < 2 else f"{n} points that are all identical"
            raise InputError(
                f"bandwidth={bandwidth!r} estimates the bandwidth from the spread of the "
                f"points, but the input has {what}; give a bandwidth with a unit instead, "
                "e.g. bandwidth='5km'."
            )
        if method == "cv":
            h_ref = _kde.rule_bandwidth("silverman", pts.x, pts.y, pts.w)
            if h_ref <= 0:
                h_ref = _kde.rule_bandwidth("scott", pts.x, pts.y, pts.w)
            h, at_bound = _kde.lcv_bandwidth(pts.x, pts.y, pts.w, h_ref)
            if at_bound:
                warnings.warn(
                    f"likelihood cross-validation chose h = {h:,.0f} m at the edge of its "
                    "search range; the data may have duplicated locations or heavy "
                    "outliers. Consider a bandwidth with a unit.",
                    GeoclusterWarning,
                    stacklevel=3,
                )
        else:
            h = _kde.rule_bandwidth(method, pts.x, pts.y, pts.w)
        if h <= 0:
            raise InputError(
                f"bandwidth={bandwidth!r} gave zero: most points share one location. "
                "Give a bandwidth with a unit instead, e.g. bandwidth='5km'."
            )
        h = h * _kde.EQUIVALENT_RADIUS[kernel]
        check_scale(h, pts, f"bandwidth={bandwidth!r}")
        return h, method
    if isinstance(bandwidth, str) and not any(ch.isdigit() for ch in bandwidth):
        raise InputError(
            f"bandwidth={bandwidth!r} is not understood; use 'scott', 'silverman', 'cv' "
            "(likelihood cross-validation) or a distance such as '5km' or 2500 (metres)."
        )
    try:
        h = parse_distance(bandwidth, name="bandwidth")
    except InputError as exc:
        raise InputError(
            f"{exc} Use 'scott', 'silverman', 'cv' or a positive distance such as '5km'."
        ) from None
    check_scale(h, pts, f"bandwidth={bandwidth!r}")
    return h, "fixed"


#: A bandwidth or radius more than this many times the diagonal of the points' extent
#: is refused: the surface (or count) would be the same everywhere.
MAX_SCALE_TO_EXTENT = 10.0


def check_scale(h: float, pts: _Points, what: str) -> None:
    """Refuse a bandwidth / radius ``h`` (metres) over 10 times the points' extent diagonal.

    A single location (diagonal 0) is not checked: any scale is meaningful there.
    """
    if len(pts.x) < 2:
        return
    diag = float(np.hypot(np.ptp(pts.x), np.ptp(pts.y)))
    if diag > 0 and h > MAX_SCALE_TO_EXTENT * diag:
        suggest = diag / 50.0
        raise InputError(
            f"{what} is {h / 1000:,.6g} km, {h / diag:,.3g} times the diagonal of the "
            f"points' extent ({diag / 1000:,.4g} km): at that scale every location looks "
            "the same, so there is nothing to find. Check the unit (metres unless the "
            f"string says 'km'), and use a scale well inside the extent, e.g. "
            f"'{_round_km(suggest)}', or bandwidth='cv'."
        )


def _round_km(metres: float) -> str:
    km = metres / 1000.0
    if km >= 1:
        return f"{float(f'{km:.2g}'):g}km"
    return f"{float(f'{metres:.2g}'):g}m"


def _check_kernel(kernel: str) -> str:
    if kernel not in _kde.KERNELS:
        raise InputError(f"kernel={kernel!r} is not supported; choose one of {_kde.KERNELS}.")
    return kernel


def _extent_bounds(extent, crs: pyproj.CRS) -> tuple[float, float, float, float]:
    if isinstance(extent, gpd.GeoDataFrame | gpd.GeoSeries):
        if extent.crs is None:
            raise CRSError("extent has no CRS; set it, or give (xmin, ymin, xmax, ymax) in metres.")
        return tuple(extent.to_crs(crs).total_bounds)
    if isinstance(extent, shapely.Geometry):
        return tuple(extent.bounds)
    try:
        b = tuple(float(v) for v in extent)
    except (TypeError, ValueError):
        b = ()
    if len(b) != 4 or not all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1]:
        raise InputError(
            f"extent={extent!r} must be (xmin, ymin, xmax, ymax) in metres of the working "
            "CRS with xmax > xmin and ymax > ymin, or a GeoDataFrame/GeoSeries whose bounds to use."
        )
    return b


def _grid_for(
    bounds: tuple[float, float, float, float], h: float, cell_size, kernel: str
) -> tuple[float, float, float, int, int]:
    """Return ``(x0, y0, cell, nx, ny)`` covering ``bounds``; refuse huge grids."""
    xmin, ymin, xmax, ymax = bounds
    width, height = xmax - xmin, ymax - ymin
    scale = h / _kde.EQUIVALENT_RADIUS[kernel]  # the kernel's standard deviation
    if cell_size is None:
        per_sd = 4.0 if kernel == "gaussian" else 8.0
        cell = max(scale / per_sd, max(width, height) / DEFAULT_MAX_SIDE)
    else:
        cell = parse_distance(cell_size, name="cell_size")
        if cell > scale:
            raise InputError(
                f"cell_size={cell_size!r} ({cell:,.0f} m) is larger than the kernel's "
                f"standard deviation ({scale:,.0f} m, from the bandwidth): the grid cannot "
                f"resolve the kernel and the surface would be wrong. Use cell_size <= "
                f"bandwidth / 4 (e.g. cell_size={scale / 4:,.0f}, metres) or a larger bandwidth."
            )
    nx = max(int(math.ceil(width / cell - 1e-9)), 1)
    ny = max(int(math.ceil(height / cell - 1e-9)), 1)
    half = int(math.ceil(_kde.kernel_support(kernel, h) / cell))
    cells = nx * ny
    work = (nx + 2 * half) * (ny + 2 * half)
    if max(cells, work) > MAX_CELLS:
        suggest = max(max(width, height) / 2000, _kde.kernel_support(kernel, h) / 500)
        raise InputError(
            f"the density grid would have {nx:,} x {ny:,} = {cells:,} cells "
            f"({work:,} with the kernel margin), more than the limit of {MAX_CELLS:,}. "
            f"Use a larger cell_size (e.g. cell_size={suggest:.0f}, i.e. metres) or a "
            "smaller extent."
        )
    # centre the grid on the requested bounds
    x0 = xmin - 0.5 * (nx * cell - width)
    y0 = ymin - 0.5 * (ny * cell - height)
    return x0, y0, cell, nx, ny


# ----------------------------------------------------------------------------- surface


@dataclass(frozen=True, repr=False, eq=False)
class DensitySurface:
    """A kernel density surface on a regular grid in a metric CRS.

    Attributes
    ----------
    values
        ``(ny, nx)`` array of intensity at the cell centres, in weight per km^2
        (firms per km^2 when unweighted). Row 0 is the *southernmost* row.
    x0, y0
        Lower-left corner of the grid (metres, in ``crs``).
    cell_size
        Cell side (metres).
    crs
        The metric CRS of the grid.
    bandwidth
        The kernel's scale in metres: the standard deviation of the Gaussian, the
        support radius of the quartic and Epanechnikov kernels.
    bandwidth_method
        ``"fixed"``, ``"scott"``, ``"silverman"`` or ``"cv"``.
    kernel
        Kernel name.
    total_weight
        Sum of the point weights (the number of points when unweighted).
    n_points
        Number of points.

    Examples
    --------
    Made by :func:`kde`, not directly:

    >>> import geopandas as gpd
    >>> import geocluster as gc
    >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 1000, 4000], [0, 500, 0]),
    ...                        crs=3857)
    >>> s = gc.kde(pts, bandwidth="1km")
    >>> s  # doctest: +ELLIPSIS
    <DensitySurface 34 x 48 cells of 250 m, EPSG:3857; gaussian kernel, bandwidth 1,000 m ...>
    >>> s.values.shape == s.shape == (len(s.y), len(s.x))
    True
    >>> round(s.mass, 6)  # the surface integrates to the number of points
    3.0
    >>> s.sample(pts).round(3).tolist()  # firms per km^2 at each point
    [0.24, 0.242, 0.158]
    """

    values: np.ndarray
    x0: float
    y0: float
    cell_size: float
    crs: pyproj.CRS
    bandwidth: float
    bandwidth_method: str
    kernel: str
    total_weight: float
    n_points: int
    unit: str = field(default="weight per km^2")

    # geometry of the grid ------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return self.values.shape

    @property
    def x(self) -> np.ndarray:
        """Cell-centre x coordinates (metres)."""
        return self.x0 + (np.arange(self.shape[1]) + 0.5) * self.cell_size

    @property
    def y(self) -> np.ndarray:
        """Cell-centre y coordinates (metres), south to north."""
        return self.y0 + (np.arange(self.shape[0]) + 0.5) * self.cell_size

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` of the grid's outer edges (metres)."""
        ny, nx = self.shape
        return (self.x0, self.y0, self.x0 + nx * self.cell_size, self.y0 + ny * self.cell_size)

    @property
    def cell_area_km2(self) -> float:
        return self.cell_size**2 / _M2_PER_KM2

    @property
    def peak(self) -> float:
        """Largest value on the grid (weight per km^2)."""
        return float(self.values.max())

    @property
    def mass(self) -> float:
        """Integral of the surface over the grid (weight); ``total_weight`` if the grid
        covers all the kernel mass."""
        return float(self.values.sum() * self.cell_area_km2)

    def __repr__(self) -> str:
        ny, nx = self.shape
        epsg = self.crs.to_epsg()
        crs = f"EPSG:{epsg}" if epsg else self.crs.name
        return (
            f"<DensitySurface {ny} x {nx} cells of {self.cell_size:,.0f} m, {crs}; "
            f"{self.kernel} kernel, bandwidth {self.bandwidth:,.0f} m ({self.bandwidth_method}); "
            f"{self.n_points:,} points, total weight {self.total_weight:,.6g}; "
            f"peak {self.peak:.4g} {self.unit}>"
        )

    # queries ------------------------------------------------------------------
    def _xy_of(self, points) -> tuple[np.ndarray, np.ndarray, pd.Index | None]:
        if isinstance(points, gpd.GeoDataFrame | gpd.GeoSeries):
            pts = _read_points(points, crs=self.crs, name="points", allow_empty=True)
            return pts.x, pts.y, pts.index
        arr = np.asarray(points, dtype=float)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise InputError(
                "points must be a GeoDataFrame/GeoSeries or an (n, 2) array of x, y in "
                "the surface's CRS (metres)."
            )
        return arr[:, 0], arr[:, 1], None

    def sample(self, points) -> pd.Series | np.ndarray:
        """Surface values at ``points`` by bilinear interpolation between cell centres.

        Parameters
        ----------
        points
            GeoDataFrame/GeoSeries of points (any CRS; reprojected to the surface's),
            or an ``(n, 2)`` array of coordinates in the surface's CRS.

        Returns
        -------
        Series or ndarray
            Weight per km^2; a Series aligned to the input index for frames, an array
            for arrays. Points outside the grid get NaN.

        Examples
        --------
        >>> import geopandas as gpd, numpy as np
        >>> import geocluster as gc
        >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 1000], [0, 0]), crs=3857)
        >>> s = gc.kde(pts, bandwidth="1km", cell_size=20)
        >>> s.sample(np.array([[500.0, 0.0], [1e9, 0.0]])).round(3)  # 2 exp(-1/8) / (2 pi)
        array([0.281,   nan])
        """
        x, y, index = self._xy_of(points)
        fx = (x - self.x0) / self.cell_size - 0.5
        fy = (y - self.y0) / self.cell_size - 0.5
        xmin, ymin, xmax, ymax = self.bounds
        inside = (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
        out = np.full(len(x), np.nan)
        if inside.any():
            out[inside] = _kde.bilinear(self.values, fx[inside], fy[inside])
        if index is None:
            return out
        return pd.Series(out, index=index, name="density")

    def contours(self, levels) -> gpd.GeoDataFrame:
        """Polygons where the surface is at least each level.

        Parameters
        ----------
        levels
            A number or a list of numbers, in the surface's unit (weight per km^2).

        Returns
        -------
        GeoDataFrame
            One row per level with ``level``, ``area_km2`` and a (Multi)Polygon
            ``geometry`` (valid, holes kept; empty if the surface never reaches the
            level), in the surface's CRS. The polygons follow the linear interpolation
            between cell centres and stop at the outermost centres.

        Examples
        --------
        >>> import geopandas as gpd
        >>> import geocluster as gc
        >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 0], [0, 0]), crs=3857)
        >>> s = gc.kde(pts, bandwidth="1km", cell_size=100)
        >>> c = s.contours([0.1, 0.2])
        >>> c["level"].tolist(), c.geometry.is_valid.all()
        ([0.1, 0.2], np.True_)
        """
        levels = np.atleast_1d(np.asarray(levels, dtype=float))
        if not np.isfinite(levels).all():
            raise InputError(f"levels must be finite numbers, got {levels.tolist()}.")
        geoms = [self._contour_polygon(level) for level in levels]
        areas = shapely.area(np.array(geoms, dtype=object)) / _M2_PER_KM2
        return gpd.GeoDataFrame(
            {"level": levels, "area_km2": areas}, geometry=geoms, crs=self.crs
        )

    def _contour_polygon(self, level: float):
        import contourpy

        z = self.values
        if z.shape[0] < 2 or z.shape[1] < 2 or level > z.max():
            return shapely.MultiPolygon()
        gen = contourpy.contour_generator(
            self.x, self.y, z, fill_type=contourpy.FillType.OuterOffset
        )
        upper = max(float(z.max()) * 2.0, level + 1.0)
        points_list, offsets_list = gen.filled(level, upper)
        polys = []
        for pts, offs in zip(points_list, offsets_list, strict=True):
            rings = [pts[offs[i]: offs[i + 1]] for i in range(len(offs) - 1)]
            rings = [r for r in rings if len(r) >= 4]
            if not rings:
                continue
            poly = shapely.Polygon(rings[0], rings[1:])
            if not poly.is_valid:
                poly = shapely.make_valid(poly)
            polys.append(poly)
        if not polys:
            return shapely.MultiPolygon()
        merged = shapely.union_all(polys)
        parts = [g for g in shapely.get_parts(merged) if isinstance(g, shapely.Polygon)]
        return shapely.MultiPolygon(parts)

    # export -------------------------------------------------------------------
    def to_xarray(self):
        """Return an ``xarray.DataArray`` with ``y`` and ``x`` cell-centre coordinates.

        Needs the optional package ``xarray`` (``pip install 'geocluster[raster]'``).
        The CRS is stored as WKT in ``attrs["crs"]``.
        """
        xr = import_optional("xarray", "raster", "DensitySurface.to_xarray()")
        return xr.DataArray(
            self.values.copy(),
            dims=("y", "x"),
            coords={"y": self.y, "x": self.x},
            name="density",
            attrs={
                "units": self.unit,
                "crs": self.crs.to_wkt(),
                "bandwidth_m": self.bandwidth,
                "kernel": self.kernel,
                "total_weight": self.total_weight,
            },
        )

    def to_geotiff(self, path) -> None:
        """Write the surface as a single-band float64 GeoTIFF (north up).

        Needs the optional package ``rasterio`` (``pip install 'geocluster[raster]'``).
        """
        rasterio = import_optional("rasterio", "raster", "DensitySurface.to_geotiff()")
        from rasterio.transform import from_origin

        ny, nx = self.shape
        transform = from_origin(self.x0, self.y0 + ny * self.cell_size, self.cell_size,
                                self.cell_size)
        with rasterio.open(
            path, "w", driver="GTiff", height=ny, width=nx, count=1, dtype="float64",
            crs=self.crs.to_wkt(), transform=transform,
        ) as dst:
            dst.write(self.values[::-1], 1)
            dst.update_tags(units=self.unit, bandwidth_m=str(self.bandwidth), kernel=self.kernel)

    def plot(self, *, clusters: gpd.GeoDataFrame | None = None, ax=None, cmap: str = "magma_r",
             title: str | None = None, context: gpd.GeoDataFrame | None = None,
             scale: str = "linear"):
        """Draw the surface (and optional cluster outlines); returns a matplotlib Figure.

        Parameters
        ----------
        clusters
            Polygons to outline, e.g. the result of :func:`density_clusters`.
        ax
            An existing Axes to draw into; a new Figure is made otherwise.
        cmap
            Matplotlib colour map name.
        title
            Figure title; a default names the kernel and bandwidth.
        context
            Polygons drawn as thin grey outlines for orientation (e.g. states).
        scale
            ``"linear"`` colours or ``"sqrt"`` (a square-root colour scale, which shows
            the lower densities around a few strong peaks).

        Examples
        --------
        >>> import geopandas as gpd
        >>> import geocluster as gc
        >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 900], [0, 300]), crs=3857)
        >>> fig = gc.kde(pts, bandwidth="1km").plot()
        >>> type(fig).__name__
        'Figure'
        """
        from matplotlib.colors import Normalize, PowerNorm
        from matplotlib.lines import Line2D
        from matplotlib.ticker import FuncFormatter

        from geocluster._base.plotting import new_figure

        if scale not in ("linear", "sqrt"):
            raise InputError(f"scale={scale!r} must be 'linear' or 'sqrt'.")
        if ax is None:
            fig, ax = new_figure()
        else:
            fig = ax.figure
        xmin, ymin, xmax, ymax = self.bounds
        norm = PowerNorm(0.5, vmin=0) if scale == "sqrt" else Normalize(vmin=0)
        img = ax.imshow(self.values, origin="lower", extent=(xmin, xmax, ymin, ymax), cmap=cmap,
                        norm=norm)
        label = f"density ({self.unit})" + (", square-root scale" if scale == "sqrt" else "")
        fig.colorbar(img, ax=ax, label=label, shrink=0.8)
        if context is not None and len(context):
            context.to_crs(self.crs).boundary.plot(ax=ax, color="#9a9a9a", linewidth=0.4)
            ax.set_xlim(xmin, xmax)
            ax.set_ylim(ymin, ymax)
        if clusters is not None and len(clusters):
            clusters.to_crs(self.crs).boundary.plot(ax=ax, color="#1f77b4", linewidth=1.2)
            ax.legend(handles=[Line2D([], [], color="#1f77b4", label=f"density clusters "
                                      f"({len(clusters)})")], loc="lower left", fontsize=8)
        km = FuncFormatter(lambda value, _pos: f"{value / 1000:,.0f}")
        ax.xaxis.set_major_formatter(km)
        ax.yaxis.set_major_formatter(km)
        ax.set_xlabel("x (km)")
        ax.set_ylabel("y (km)")
        ax.set_title(title or f"Kernel density ({self.kernel}, bandwidth "
                     f"{self.bandwidth / 1000:,.3g} km)")
        return fig


# ----------------------------------------------------------------------------- kde


def _surface_from(pts: _Points, h: float, method: str, kernel: str, grid) -> DensitySurface:
    x0, y0, cell, nx, ny = grid
    if cell > (h / _kde.EQUIVALENT_RADIUS[kernel]):
        warnings.warn(
            f"the default grid (at most {DEFAULT_MAX_SIDE:,} cells a side over this extent, "
            f"{nx:,} x {ny:,} cells) has cells of {cell:,.0f} m, larger than the kernel's "
            f"standard deviation ({h / _kde.EQUIVALENT_RADIUS[kernel]:,.0f} m): the grid "
            "undersamples the kernel and the surface is inaccurate. Pass a smaller extent= "
            "or cell_size <= bandwidth / 4 (the grid may then be large).",
            GeoclusterWarning,
            stacklevel=3,
        )
    values = _kde.binned_density(
        pts.x, pts.y, pts.w, x0=x0, y0=y0, cell=cell, nx=nx, ny=ny, h=h, kernel=kernel
    )
    values *= _M2_PER_KM2
    return DensitySurface(
        values=values, x0=x0, y0=y0, cell_size=cell, crs=pts.crs, bandwidth=h,
        bandwidth_method=method, kernel=kernel, total_weight=pts.total_weight,
        n_points=len(pts.x),
    )


def _default_bounds(pts: _Points, h: float, kernel: str) -> tuple[float, float, float, float]:
    pad = 4.0 * h if kernel == "gaussian" else h
    return (pts.x.min() - pad, pts.y.min() - pad, pts.x.max() + pad, pts.y.max() + pad)


def kde(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    bandwidth: str | float = "cv",
    cell_size: str | float | None = None,
    weight: str | None = None,
    extent: tuple[float, float, float, float] | gpd.GeoDataFrame | gpd.GeoSeries
    | shapely.Geometry | None = None,
    kernel: str = "gaussian",
    crs: str | int | pyproj.CRS | None = None,
) -> DensitySurface:
    """Kernel density surface of points by binned FFT convolution (Wand 1994).

    Parameters
    ----------
    points
        GeoDataFrame (or GeoSeries) of points. A geographic CRS is projected
        automatically (see :func:`geocluster.units.to_metric`) or into ``crs``.
    bandwidth
        The kernel's scale: a distance (``"5km"``, or a number of metres), or a rule:
        ``"cv"`` (default: likelihood cross-validation, maximising the leave-one-out log
        likelihood of the binned estimate; about 2 s for 20,000 points, 3 s for
        100,000), ``"scott"`` (pooled standard deviation times ``n**(-1/6)``) or
        ``"silverman"`` (the same with the robust spread ``min(sd, IQR/1.349)``).
        Cross-validation is the default because the normal-reference rules assume one
        Gaussian blob: on national data they pick hundreds of km (synthetic US firms,
        20,000 points: 233 km; one industry: 305 km, whose clusters cover a third of
        the country) where cross-validation picks metropolitan scales (15 km; 28 km).
        A distance more than 10 times the diagonal of the points' extent is refused
        (every place would look the same). The kernel is
        isotropic: one scale for both axes. For ``"gaussian"`` it is the standard
        deviation; for ``"quartic"``/``"epanechnikov"`` it is the support radius, and the
        rules give the radius with the same per-axis variance as the Gaussian rule.
        Weighted rules use weighted moments and Kish's effective sample size.
    cell_size
        Grid cell side (distance). Default: a quarter of the kernel's standard
        deviation (an eighth for the compact kernels), coarsened so the longer side has
        at most 1,000 cells. With the default on 2,000 points the largest error against
        exact evaluation at the cell centres is about 2e-4 of the peak (Gaussian) and
        1.2e-3 (compact kernels).
    weight
        Column of non-negative point weights (e.g. employment). Default: 1 per point.
    extent
        ``(xmin, ymin, xmax, ymax)`` in metres of the working CRS, or a
        GeoDataFrame/GeoSeries whose bounds to use. Default: the points' bounds padded
        by 4 bandwidths (Gaussian) or one support radius, so the surface holds the
        whole mass. Points outside the extent still contribute near its edges.
    kernel
        ``"gaussian"`` (default), ``"quartic"`` (biweight) or ``"epanechnikov"``.
    crs
        Metric CRS to work in; default: the points' CRS if metric, else automatic.

    Returns
    -------
    DensitySurface
        Values are an intensity in weight per km^2 (firms per km^2 unweighted) at the
        cell centres; they sum, times the cell area, to the total weight.

    Raises
    ------
    InputError
        Empty input; a rule bandwidth on a single point or identical points; a zero or
        negative bandwidth; NaN or negative weights; a grid of more than 50 million cells.
    CRSError
        Points without a CRS.

    Examples
    --------
    >>> import geopandas as gpd, numpy as np
    >>> import geocluster as gc
    >>> rng = np.random.default_rng(0)
    >>> xy = rng.normal(0, 5000, size=(500, 2))
    >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=3857)
    >>> s = gc.kde(pts, bandwidth="2km")
    >>> s.bandwidth, s.cell_size  # cell: a quarter bandwidth
    (2000.0, 500.0)
    >>> round(s.mass)  # integrates to the number of points
    500
    """
    kernel = _check_kernel(kernel)
    pts = _read_points(points, weight=weight, crs=crs)
    h, method = _resolve_bandwidth(bandwidth, kernel, pts)
    bounds = _default_bounds(pts, h, kernel) if extent is None else _extent_bounds(extent, pts.crs)
    grid = _grid_for(bounds, h, cell_size, kernel)
    return _surface_from(pts, h, method, kernel, grid)


# ----------------------------------------------------------------------------- clusters


def _subset_mask(points: gpd.GeoDataFrame, subset) -> np.ndarray | None:
    if subset is None:
        return None
    if isinstance(subset, str):  # a boolean column, as in k_density
        if subset not in points.columns:
            raise InputError(
                f"subset={subset!r} is not a column of points; give a boolean column name, a "
                "boolean mask or a (column, value) pair, e.g. subset=('naics', '3254')."
            )
        col = points[subset]
        if not pd.api.types.is_bool_dtype(col) or col.isna().any():
            raise InputError(
                f"column {subset!r} must be boolean without missing values to be used as "
                f"subset; for a category write subset=({subset!r}, value)."
            )
        mask = col.to_numpy(dtype=bool)
    elif isinstance(subset, tuple):
        if len(subset) != 2 or subset[0] not in points.columns:
            raise InputError(
                f"subset={subset!r} must be a boolean mask or a (column, value) pair naming a "
                "column of points, e.g. subset=('naics', '3254')."
            )
        mask = (points[subset[0]] == subset[1]).to_numpy(dtype=bool, na_value=False)
    else:
        arr = subset.to_numpy() if isinstance(subset, pd.Series) else np.asarray(subset)
        if isinstance(subset, pd.Series) and not subset.index.equals(points.index):
            raise InputError("subset is a Series whose index does not match the points' index.")
        if arr.dtype != bool or arr.shape != (len(points),):
            given = repr(subset) if arr.ndim == 0 else f"{arr.dtype} values of shape {arr.shape}"
            raise InputError(
                f"subset must be a boolean mask of length {len(points)}, a boolean column name "
                f"or a (column, value) pair; got {given}."
            )
        mask = arr
    if mask.sum() == 0:
        raise InputError(f"subset={subset!r} selects no points.")
    return mask


def _study_polygon(study_area, pts: _Points):
    if study_area is None:
        hull = shapely.convex_hull(shapely.multipoints(np.column_stack([pts.x, pts.y])))
        if not isinstance(hull, shapely.Polygon) or hull.area <= 0:
            raise InputError(
                "the points' convex hull has no area (all points on a line or at one "
                "location), so CSR has nowhere to place points; give study_area=."
            )
        return hull
    if isinstance(study_area, gpd.GeoDataFrame | gpd.GeoSeries):
        if study_area.crs is None:
            raise CRSError("study_area has no CRS; set it first.")
        geom = shapely.union_all(study_area.to_crs(pts.crs).geometry.values)
    elif isinstance(study_area, shapely.Geometry):
        geom = study_area
    else:
        raise InputError(
            "study_area must be a GeoDataFrame/GeoSeries of polygons or a shapely polygon "
            "in the working metric CRS."
        )
    if geom.is_empty or geom.area <= 0:
        raise InputError("study_area has no area.")
    return shapely.make_valid(geom)


def _check_int(value, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name}={value!r} must be an integer >= {minimum}.")
    return int(value)


def _uniform_in(polygon, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``m`` points uniformly distributed in ``polygon`` (rejection from its bounding box)."""
    xmin, ymin, xmax, ymax = polygon.bounds
    shapely.prepare(polygon)
    frac = max(polygon.area / ((xmax - xmin) * (ymax - ymin)), 1e-3)
    xs, ys, got = [], [], 0
    while got < m:
        k = int((m - got) / frac * 1.2) + 16
        x = rng.uniform(xmin, xmax, k)
        y = rng.uniform(ymin, ymax, k)
        keep = shapely.contains_xy(polygon, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        got += int(keep.sum())
    return np.concatenate(xs)[:m], np.concatenate(ys)[:m]


#: density_clusters warns when one cluster (or all together) cover more than this share
#: of the study area.
MAX_CLUSTER_SHARE = 0.25


def _warn_large_clusters(records, study, h: float) -> None:
    """Warn when one cluster, or all together, cover more than a quarter of the study area."""
    total = float(study.area)
    # the polygons' own areas (as in area_km2): a cluster reaching far beyond the study
    # area is a symptom of the same too-large bandwidth
    shares = [r[0].area / total for r in records]
    big = [(i + 1, share) for i, share in enumerate(shares) if share > MAX_CLUSTER_SHARE]
    if big:
        what = ", ".join(f"cluster {cid} covers {share:.0%}" for cid, share in big)
    elif sum(shares) > MAX_CLUSTER_SHARE:
        what = f"the {len(shares)} clusters together cover {sum(shares):.0%}"
    else:
        return
    warnings.warn(
        f"density_clusters: {what} of the study area ({total / _M2_PER_KM2:,.0f} km^2) "
        f"with a bandwidth of {h / 1000:,.3g} km; clusters that large are regions, not "
        "metropolitan clusters. Use bandwidth='cv' (likelihood cross-validation, the "
        "default) or a smaller distance such as '20km'.",
        GeoclusterWarning,
        stacklevel=3,
    )


def label_points(x: np.ndarray, y: np.ndarray, polygons, ids) -> np.ndarray:
    """Id of the polygon each point falls in (boundary included), or -1; first match wins."""
    out = np.full(len(x), -1, dtype=np.int64)
    if len(polygons) == 0 or len(x) == 0:
        return out
    tree = shapely.STRtree(polygons)
    pts = shapely.points(x, y)
    p_idx, g_idx = tree.query(pts, predicate="intersects")
    order = np.lexsort((g_idx, p_idx))
    p_idx, g_idx = p_idx[order], g_idx[order]
    first = np.r_[True, p_idx[1:] != p_idx[:-1]]
    out[p_idx[first]] = np.asarray(ids)[g_idx[first]]
    return out


def density_clusters(
    points: gpd.GeoDataFrame,
    *,
    bandwidth: str | float = "cv",
    level: float = 0.95,
    null: str = "csr",
    simulations: int = 99,
    seed: int | np.random.Generator | None = None,
    min_firms: int = 5,
    subset: np.ndarray | pd.Series | str | tuple[str, object] | None = None,
    weight: str | None = None,
    study_area: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | None = None,
    cell_size: str | float | None = None,
    kernel: str = "gaussian",
    crs: str | int | pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Density clusters: areas where the KDE exceeds a Monte Carlo threshold.

    The threshold is the ``level`` quantile of the *maximum* over the grid of a
    statistic surface in ``simulations`` draws from the null (a global envelope): with
    ``k = ceil(level * (simulations + 1))``, it is the ``k``-th smallest simulated
    maximum, and the areas where the observed statistic exceeds it are clusters. Under
    the null the chance that any cluster appears anywhere is then at most
    ``1 - level`` (family-wise), whatever the number of cells.

    The statistic is the industry's density ``f`` (``null="csr"``), or its *excess
    density* ``f - (W / N) g`` (``null="firms"``), where ``g`` is the unweighted
    density of all ``N`` firm sites and ``W`` the industry's total weight: the
    expected industry density if its label were placed at random among the sites.
    With the excess, a cluster is where the industry is over-represented relative to
    all firms, so places dense in every industry do not count; the raw density
    would only flag places denser than the densest spot of all activity.

    Against CSR, large cities show up as clusters of almost any industry, because all
    activity concentrates there; use ``null="firms"`` to ask whether an industry is
    more concentrated than firms in general (Duranton & Overman 2005). A hub shared
    with other industries can then fail to stand out, which is the point of that null.

    Parameters
    ----------
    points
        GeoDataFrame of firm points (any CRS; projected automatically or to ``crs``).
        For ``null="csr"`` the clusters are of the ``subset`` of points (default all);
        for ``null="firms"`` ``points`` must be *all* firm sites and ``subset`` the
        industry.
    bandwidth
        As in :func:`kde` (default ``"cv"``, likelihood cross-validation); a rule is
        applied to the (subset) points and the same bandwidth is used for every
        simulation. A warning says when one cluster, or all of them together, cover more
        than a quarter of the study area (the bandwidth is then likely too large for
        metropolitan clusters).
    level
        Confidence level of the envelope, in (0, 1).
    null
        ``"csr"``: the same number of points (with the same weights, shuffled) placed
        uniformly in the study area. ``"firms"``: the industry's label (and weights)
        given to a random set of the same size of all firm sites, without replacement,
        which controls for the overall concentration of activity (Duranton & Overman 2005).
    simulations
        Number of null draws; must be at least ``ceil(1 / (1 - level)) - 1``.
    seed
        Seed (int or Generator) for the simulations.
    min_firms
        Drop cluster polygons holding fewer (subset) firms than this.
    subset
        Boolean mask aligned to ``points``, the name of a boolean column, or a
        ``(column, value)`` pair such as ``("industry", "biotech")``. Required for
        ``null="firms"``.
    weight
        Column of firm weights (e.g. employment).
    study_area
        Polygon(s) for the CSR null; default the convex hull of all ``points``.
    cell_size, kernel, crs
        As in :func:`kde`. The grid covers the study area (CSR) or all sites, padded
        by 4 bandwidths.

    Returns
    -------
    GeoDataFrame
        One row per cluster, largest total weight first: ``cluster_id`` (1, 2, ...),
        ``area_km2``, ``n_firms``, ``total_weight``, ``peak_density`` (weight per km^2)
        and the polygon, in the working metric CRS. ``attrs`` records ``threshold``
        (of the statistic, weight per km^2), ``statistic`` (``"density"`` or
        ``"excess density"``), ``p_value`` (Monte Carlo p of the observed maximum:
        ``(1 + #{simulated maxima >= observed}) / (S + 1)``, a simulated maximum within
        ``1e-10`` of the surface's scale of the observed one counting as a tie, i.e.
        as at least as large),
        ``level``, ``null``, ``simulations``, ``seed``, ``bandwidth_m`` and ``kernel``.
        To give each firm its cluster id use
        ``gc.exposure(firms, method="region", regions=clusters)``.

    Examples
    --------
    >>> import geopandas as gpd, numpy as np
    >>> import geocluster as gc
    >>> rng = np.random.default_rng(1)
    >>> xy = np.vstack([rng.uniform(0, 100_000, (300, 2)), rng.normal(50_000, 2_000, (60, 2))])
    >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=3857)
    >>> cl = gc.density_clusters(pts, bandwidth="3km", simulations=19, seed=0)
    >>> len(cl), int(cl["n_firms"].iloc[0]) >= 50
    (1, True)
    """
    kernel = _check_kernel(kernel)
    real = isinstance(level, int | float | np.integer | np.floating) and not isinstance(level, bool)
    if not real or not 0 < level < 1:
        raise InputError(f"level={level!r} must be between 0 and 1, e.g. 0.95.")
    if null not in ("csr", "firms"):
        raise InputError(f"null={null!r} is not supported; choose 'csr' or 'firms'.")
    simulations = _check_int(simulations, "simulations", minimum=1)
    _perm.check_size(simulations, 1, what="density_clusters", name="simulations", bytes_each=8,
                     kind="simulated maxima")
    min_firms = _check_int(min_firms, "min_firms", minimum=1)
    check_seed(seed)
    k = math.ceil(level * (simulations + 1) - 1e-9)
    if k > simulations:
        need = math.ceil(1 / (1 - level) - 1e-9) - 1
        raise ConfigError(
            f"simulations={simulations} is too few for level={level}: the envelope needs "
            f"at least {need} simulations (99 or 999 are usual)."
        )
    rng = np.random.default_rng(seed)
    every = _read_points(points, weight=weight, crs=crs)
    mask = _subset_mask(points, subset)
    if null == "firms" and mask is None:
        raise InputError(
            "null='firms' relabels the industry among all firm sites: pass all sites as "
            "points and select the industry with subset=(column, value) or a boolean mask."
        )
    if mask is None:
        pts = every
    else:
        pts = _Points(every.x[mask], every.y[mask], None if every.w is None else every.w[mask],
                      every.crs, every.index[mask])
    m = len(pts.x)
    h, method = _resolve_bandwidth(bandwidth, kernel, pts)

    if null == "csr":
        area = _study_polygon(study_area, every)
        b = area.bounds
    else:
        area = None
        b = (every.x.min(), every.y.min(), every.x.max(), every.y.max())
    pad = 4.0 * h if kernel == "gaussian" else h
    grid = _grid_for((b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad), h, cell_size, kernel)
    observed = _surface_from(pts, h, method, kernel, grid)
    x0, y0, cell, nx, ny = grid

    def surface_of(xs, ys, ws):
        return _kde.binned_density(xs, ys, ws, x0=x0, y0=y0, cell=cell, nx=nx, ny=ny, h=h,
                                   kernel=kernel) * _M2_PER_KM2

    if null == "firms":
        # expected industry density under random relabelling: its total weight spread
        # over all sites in proportion to the all-sites density
        base = surface_of(every.x, every.y, None) * (pts.total_weight / len(every.x))
    else:
        base = 0.0
    statistic = observed.values - base
    maxima = np.empty(simulations)
    for s in range(simulations):
        w_sim = None if pts.w is None else rng.permutation(pts.w)
        if null == "csr":
            xs, ys = _uniform_in(area, m, rng)
        else:
            pick = rng.choice(len(every.x), size=m, replace=False)
            xs, ys = every.x[pick], every.y[pick]
        maxima[s] = (surface_of(xs, ys, w_sim) - base).max()
    threshold = float(np.sort(maxima)[k - 1])
    # Monte Carlo p of the observed maximum: a simulated maximum equal to it (within
    # 1e-10 of the surface's scale) counts as at least as large
    observed_max = float(statistic.max())
    scale = max(abs(observed_max), float(np.abs(maxima).max()))
    ge, _ = _perm.count_ties(maxima, observed_max, scale)
    p_value = float((1 + ge) / (simulations + 1))

    stat_surface = replace(observed, values=statistic)
    polys = list(shapely.get_parts(stat_surface._contour_polygon(threshold)))
    records = []
    if polys:
        ids = np.arange(len(polys))
        lab = label_points(pts.x, pts.y, np.array(polys, dtype=object), ids)
        w = np.ones(m) if pts.w is None else pts.w
        n_in = np.bincount(lab[lab >= 0], minlength=len(polys))
        w_in = np.bincount(lab[lab >= 0], weights=w[lab >= 0], minlength=len(polys))
        cx, cy = np.meshgrid(observed.x, observed.y)
        hot = statistic > threshold
        cell_lab = label_points(cx[hot], cy[hot], np.array(polys, dtype=object), ids)
        peak = np.zeros(len(polys))
        np.maximum.at(peak, cell_lab[cell_lab >= 0], observed.values[hot][cell_lab >= 0])
        for i, poly in enumerate(polys):
            if n_in[i] >= min_firms:
                records.append((poly, int(n_in[i]), float(w_in[i]), float(peak[i])))
    records.sort(key=lambda r: (-r[2], -r[3]))
    _warn_large_clusters(records, area if area is not None else _study_polygon(None, every), h)
    out = gpd.GeoDataFrame(
        {
            "cluster_id": np.arange(1, len(records) + 1, dtype=np.int64),
            "area_km2": [r[0].area / _M2_PER_KM2 for r in records],
            "n_firms": np.array([r[1] for r in records], dtype=np.int64),
            "total_weight": np.array([r[2] for r in records], dtype=float),
            "peak_density": np.array([r[3] for r in records], dtype=float),
        },
        geometry=[r[0] for r in records],
        crs=pts.crs,
    )
    out.attrs.update(
        threshold=threshold, p_value=p_value, level=level, null=null,
        statistic="density" if null == "csr" else "excess density",
        simulations=simulations, seed=seed_label(seed),
        bandwidth_m=h, kernel=kernel,
    )
    return out
