"""The kernel density surface :func:`geocluster.kde` returns: :class:`DensitySurface`.

A regular grid of intensities (weight per km^2) in a metric CRS, with queries
(:meth:`~DensitySurface.sample`, :meth:`~DensitySurface.contours`), a summary, exports
(xarray, GeoTIFF) and a figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geocluster._base.optional import import_optional
from geocluster._base.plotting import new_figure
from geocluster._base.summary import Summary, format_number
from geocluster._base.validate import read_points
from geocluster.clusters import _kde
from geocluster.errors import InputError

__all__ = ["DensitySurface"]

_M2_PER_KM2 = 1e6


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

    def summary(self) -> Summary:
        """The grid, kernel, bandwidth and totals as a :class:`~geocluster._base.summary.Summary`.

        Examples
        --------
        >>> import geopandas as gpd
        >>> import geocluster as gc
        >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 1000], [0, 0]), crs=3857)
        >>> s = gc.kde(pts, bandwidth="1km").summary()
        >>> s.title, dict(s.top)["kernel"]
        ('Kernel density surface', 'gaussian')
        """
        ny, nx = self.shape
        epsg = self.crs.to_epsg()
        top = [
            ("grid", f"{ny:,} x {nx:,} cells of {self.cell_size:,.0f} m"),
            ("crs", f"EPSG:{epsg}" if epsg else self.crs.name),
            ("kernel", self.kernel),
            ("bandwidth (m)", format_number(float(self.bandwidth))),
            ("bandwidth method", self.bandwidth_method),
            ("points", f"{self.n_points:,}"),
            ("total weight", format_number(float(self.total_weight))),
            ("mass on grid", format_number(self.mass)),
            (f"peak ({self.unit})", format_number(self.peak)),
        ]
        values = self.values.ravel()
        quantiles = pd.DataFrame(
            {"density": np.quantile(values, [0.0, 0.5, 0.9, 0.99, 1.0])},
            index=pd.Index(["min", "median", "p90", "p99", "max"], name="cells"),
        )
        return Summary("Kernel density surface", top=top, table=quantiles,
                       notes=[f"Values are an intensity in {self.unit} at the cell centres."])

    def to_frame(self) -> pd.DataFrame:
        """One row per cell: centre ``x``, ``y`` (metres, in ``crs``) and ``density``.

        Examples
        --------
        >>> import geopandas as gpd
        >>> import geocluster as gc
        >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 1000], [0, 0]), crs=3857)
        >>> s = gc.kde(pts, bandwidth="1km")
        >>> frame = s.to_frame()
        >>> list(frame.columns), len(frame) == s.values.size
        (['x', 'y', 'density'], True)
        """
        xx, yy = np.meshgrid(self.x, self.y)
        return pd.DataFrame({"x": xx.ravel(), "y": yy.ravel(), "density": self.values.ravel()})

    # queries ------------------------------------------------------------------
    def _xy_of(self, points) -> tuple[np.ndarray, np.ndarray, pd.Index | None]:
        if isinstance(points, gpd.GeoDataFrame | gpd.GeoSeries):
            pts = read_points(points, where="DensitySurface", crs=self.crs, allow_empty=True)
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
        geoms = [self.contour_polygon(level) for level in levels]
        areas = shapely.area(np.array(geoms, dtype=object)) / _M2_PER_KM2
        return gpd.GeoDataFrame(
            {"level": levels, "area_km2": areas}, geometry=geoms, crs=self.crs
        )

    def contour_polygon(self, level: float) -> shapely.MultiPolygon:
        """The (Multi)Polygon where the surface is at least ``level`` (empty if never).

        Examples
        --------
        >>> import geopandas as gpd
        >>> import geocluster as gc
        >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 0], [0, 0]), crs=3857)
        >>> s = gc.kde(pts, bandwidth="1km", cell_size=100)
        >>> s.contour_polygon(0.2).geom_type, s.contour_polygon(1e9).is_empty
        ('MultiPolygon', True)
        """
        z = self.values
        if z.shape[0] < 2 or z.shape[1] < 2 or level > z.max():
            return shapely.MultiPolygon()
        polys = _filled_polygons(self.x, self.y, z, level)
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


def _filled_polygons(x, y, z, level):
    """Valid polygons (holes kept) of the filled contour ``z >= level`` (contourpy)."""
    import contourpy

    gen = contourpy.contour_generator(x, y, z, fill_type=contourpy.FillType.OuterOffset)
    upper = max(float(z.max()) * 2.0, level + 1.0)
    points_list, offsets_list = gen.filled(level, upper)  # OuterOffset: (points, offsets)
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
    return polys
