"""Distance units and the choice of a metric CRS.

Everything in geocluster that measures a distance or an area works in a projected
CRS whose unit is the metre. :func:`to_metric` gets a frame there: into the CRS the
user names, or into an automatic choice suited to the data's extent, the first of:

* an extent at most 6 degrees of longitude wide and 12 degrees high (a city, a
  region): the UTM zone of the extent's centre (``EPSG:326xx`` north, ``327xx`` south);
* data inside the contiguous United States (the bundled data, most users):
  ``EPSG:5070`` (NAD83 / Conus Albers, equal-area);
* an extent wider than 180 degrees of longitude: the Equal Earth world projection
  (``EPSG:8857``, equal-area);
* an extent nearly symmetric about the equator (standard parallels whose latitudes sum
  to less than 5 degrees, where the Albers cone degenerates and PROJ refuses it): a
  Lambert azimuthal equal-area projection centred on the data;
* anything else: an Albers equal-area conic centred on the data, with standard
  parallels at one sixth and five sixths of its latitude range.

The extent is that of the *bulk* of the data (:func:`auto_metric_crs`): points at
exactly (0, 0) ("null island", the classic geocoding failure) and points far outside the
box holding the central 96% of longitudes and latitudes (:func:`far_from_bulk`) do not
move the choice. Data across the antimeridian (Alaska's Aleutians, the Pacific) are
measured with longitudes shifted to 0..360 when that makes the extent narrower.

A frame already in a projected CRS whose unit is the metre is returned unchanged.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike
from pyproj.crs import GeographicCRS, ProjectedCRS
from pyproj.crs.coordinate_operation import (
    AlbersEqualAreaConversion,
    LambertAzimuthalEqualAreaConversion,
)

from geocluster._distance import parse_distance
from geocluster.errors import CRSError, InputError

__all__ = [
    "parse_distance",
    "auto_metric_crs",
    "far_from_bulk",
    "metric_crs_for",
    "metric_crs",
    "to_metric",
    "target_metric_crs",
    "is_metric",
    "cells_spanning",
]

# Contiguous US in lon/lat: EPSG:5070's area of use with a small margin.
_CONUS_BOUNDS = (-125.5, 24.0, -66.5, 49.5)
_UTM_MAX_WIDTH_DEG = 6.0
_UTM_MAX_HEIGHT_DEG = 12.0
# The bulk of the data: the box between these quantiles of longitude and latitude, widened
# on each side by its own size (at least _BULK_MIN_MARGIN_DEG degrees).
_BULK_QUANTILES = (0.02, 0.98)
_BULK_MIN_MARGIN_DEG = 1.0
# Albers parallels this close to symmetric about the equator (lat_1 + lat_2 near 0) make
# a degenerate cone; such extents get a Lambert azimuthal equal-area projection.
_EQUATOR_SYMMETRY_DEG = 5.0


#: Relative slack of :func:`cells_spanning`: a length within this fraction of a cell of a
#: whole number of cells is that whole number (round-off in the extent, not a real sliver).
CELL_RTOL = 1e-9


def cells_spanning(length: float, size: float) -> int:
    """The number of cells of side ``size`` that cover ``length`` (at least 1).

    A length that is a whole number of cells up to round-off gives that number, not one
    more: ``3 * 333.3`` covers 3 cells of 333.3 even though the sum comes out as
    ``999.9000000000001``. The grid of :func:`geocluster.grid` and the KDE grid count
    their cells with this one rule.

    Examples
    --------
    >>> cells_spanning(3 * 333.3, 333.3), cells_spanning(1000.0, 333.3), cells_spanning(0.0, 5.0)
    (3, 4, 1)
    """
    return max(1, math.ceil(length / size - CELL_RTOL))


def is_metric(crs: pyproj.CRS | None) -> bool:
    """True if ``crs`` is projected with metre axes.

    Examples
    --------
    >>> is_metric("EPSG:5070"), is_metric("EPSG:4326"), is_metric(None)
    (True, False, False)
    """
    if crs is None:
        return False
    crs = pyproj.CRS.from_user_input(crs)
    if not crs.is_projected:
        return False
    units = {axis.unit_name for axis in crs.axis_info}
    return units <= {"metre", "meter"}


def metric_crs_for(bounds_lonlat: tuple[float, float, float, float]) -> pyproj.CRS:
    """Return the automatic metric CRS for data with the given lon/lat bounds.

    See the module docstring for the rule.

    Examples
    --------
    >>> metric_crs_for((-122.6, 37.2, -121.7, 38.0)).to_epsg()  # Bay Area
    32610
    >>> metric_crs_for((-124.0, 25.0, -67.0, 49.0)).to_epsg()   # contiguous US
    5070
    """
    minx, miny, maxx, maxy = (float(b) for b in bounds_lonlat)
    if not np.all(np.isfinite([minx, miny, maxx, maxy])):
        raise CRSError(
            "cannot choose a metric CRS: the data have no finite extent. Check the "
            "coordinates, or name a metric CRS with crs=, e.g. crs='EPSG:5070'."
        )
    width, height = maxx - minx, maxy - miny
    if width <= _UTM_MAX_WIDTH_DEG and height <= _UTM_MAX_HEIGHT_DEG:
        lon0, lat0 = (minx + maxx) / 2, (miny + maxy) / 2
        zone = int(np.floor((lon0 + 180.0) / 6.0)) % 60 + 1
        return pyproj.CRS.from_epsg((32600 if lat0 >= 0 else 32700) + zone)
    cx0, cy0, cx1, cy1 = _CONUS_BOUNDS
    if minx >= cx0 and maxx <= cx1 and miny >= cy0 and maxy <= cy1:
        return pyproj.CRS.from_epsg(5070)
    lat0 = (miny + maxy) / 2
    lon0 = (minx + maxx) / 2
    lon0 = (lon0 + 180.0) % 360.0 - 180.0
    if width > 180.0:
        return pyproj.CRS.from_epsg(8857)  # Equal Earth (world), metres
    lat1 = miny + height / 6.0
    lat2 = maxy - height / 6.0
    if abs(lat1 + lat2) < _EQUATOR_SYMMETRY_DEG:
        # An Albers cone with parallels on both sides of the equator degenerates (PROJ
        # refuses lat_1 = -lat_2); an azimuthal equal-area projection has no such limit.
        return ProjectedCRS(
            conversion=LambertAzimuthalEqualAreaConversion(
                latitude_natural_origin=round(lat0, 4),
                longitude_natural_origin=round(lon0, 4),
            ),
            geodetic_crs=GeographicCRS(datum="WGS84"),
            name=f"geocluster Lambert azimuthal equal-area (lon_0={lon0:.2f}, lat_0={lat0:.2f})",
        )
    conversion = AlbersEqualAreaConversion(
        latitude_first_parallel=round(lat1, 4),
        latitude_second_parallel=round(lat2, 4),
        latitude_false_origin=round(lat0, 4),
        longitude_false_origin=round(lon0, 4),
    )
    return ProjectedCRS(
        conversion=conversion,
        geodetic_crs=GeographicCRS(datum="WGS84"),
        name=f"geocluster Albers equal-area (lon_0={lon0:.2f}, lat_0={lat0:.2f})",
    )


def _as_lonlat(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    if lon.shape != lat.shape:
        raise InputError(
            f"lon and lat must have the same length; got {lon.size} and {lat.size} values."
        )
    return lon, lat


def _bulk(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The analysis behind :func:`far_from_bulk` and :func:`auto_metric_crs`.

    Returns ``valid`` (finite and in range), ``far`` (valid points far from the bulk,
    exact (0, 0) points included when far) and ``lon_u``: the longitudes, shifted to
    0..360 when that makes the bulk narrower (data across the antimeridian).
    """
    with np.errstate(invalid="ignore"):
        valid = (np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90.0)
                 & (np.abs(lon) <= 360.0))  # longitudes in 0..360 are wrapped
    lon_w = np.where(valid, (np.where(valid, lon, 0.0) + 180.0) % 360.0 - 180.0, np.nan)
    far = np.zeros(lon.size, dtype=bool)
    if not valid.any():
        return valid, far, lon_w
    null = valid & (lon_w == 0.0) & (lat == 0.0)
    base = valid & ~null if (valid & ~null).any() else valid
    lo_q, hi_q = _BULK_QUANTILES
    if np.ptp(lon_w[base]) > 180.0:  # maybe one extent across the antimeridian
        shifted = np.mod(lon_w, 360.0)
        plain = np.subtract(*np.quantile(lon_w[base], [hi_q, lo_q]))
        moved = np.subtract(*np.quantile(shifted[base], [hi_q, lo_q]))
        if moved < plain or (moved == plain and np.ptp(shifted[base]) < np.ptp(lon_w[base])):
            lon_w = shifted
    with np.errstate(invalid="ignore"):
        for values in (lon_w, lat):
            lo, hi = np.quantile(values[base], _BULK_QUANTILES)
            margin = max(hi - lo, _BULK_MIN_MARGIN_DEG)
            far |= valid & ((values < lo - margin) | (values > hi + margin))
    return valid, far, lon_w


def far_from_bulk(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """Mask of points far from all the others, by longitude/latitude.

    The bulk is the box between the 2% and 98% quantiles of longitude and of latitude;
    a point is *far* when it lies outside that box widened on each side by the box's
    own width (height), and by at least one degree. Exact (0, 0) points are left out
    when the box is computed (and flagged when far from it). Longitudes across the
    antimeridian (and in 0..360) are handled. Missing or out-of-range coordinates
    (latitude beyond 90, longitude beyond 360) are never flagged.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees, of the same length.

    Returns
    -------
    numpy.ndarray
        A boolean mask with one entry per input point.

    Examples
    --------
    >>> import numpy as np
    >>> lon = np.r_[np.linspace(-122, -71, 50), 0.0]   # 50 US firms and null island
    >>> lat = np.r_[np.linspace(30, 45, 50), 0.0]
    >>> np.flatnonzero(far_from_bulk(lon, lat)).tolist()
    [50]
    """
    lon, lat = _as_lonlat(lon, lat)
    return _bulk(lon, lat)[1]


def auto_metric_crs(lon: ArrayLike, lat: ArrayLike) -> pyproj.CRS:
    """The automatic metric CRS for points at ``lon``/``lat`` (degrees, WGS84).

    This is the one automatic choice of geocluster (:func:`to_metric`, the KDE, the
    weights): the rule of :func:`metric_crs_for` applied to the extent of the bulk of
    the points. Points at exactly (0, 0) and points :func:`far_from_bulk` are left out
    of the extent (unless nothing else is left); missing and out-of-range coordinates
    are ignored; data across the antimeridian use longitudes in 0..360 when that is
    narrower. It never fails for finite input.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees (array-likes of the same length).

    Returns
    -------
    pyproj.CRS
        A projected CRS in metres.

    Raises
    ------
    CRSError
        No point has finite, in-range coordinates.

    Examples
    --------
    >>> auto_metric_crs([-122.4, -71.1, -97.7], [37.8, 42.4, 30.3]).to_epsg()
    5070
    >>> auto_metric_crs([-122.4, -71.1, -97.7, 0.0], [37.8, 42.4, 30.3, 0.0]).to_epsg()
    5070
    >>> auto_metric_crs([-71.06, -71.1], [42.36, 42.4]).to_epsg()  # Boston: UTM 19N
    32619
    """
    lon, lat = _as_lonlat(lon, lat)
    valid, far, lon_u = _bulk(lon, lat)
    if not valid.any():
        raise CRSError(
            "cannot choose a metric CRS: no point has finite longitude/latitude in range. "
            "Check the coordinates, or name a metric CRS with crs=, e.g. crs='EPSG:5070'."
        )
    keep = valid & ~far & ~((lon_u == 0.0) & (lat == 0.0))
    if not keep.any():
        keep = valid & ~far if (valid & ~far).any() else valid
    x, y = lon_u[keep], lat[keep]
    return metric_crs_for((float(x.min()), float(y.min()), float(x.max()), float(y.max())))


def metric_crs(crs: str | int | pyproj.CRS) -> pyproj.CRS:
    """Parse a user-named CRS and check that it is projected in metres.

    Examples
    --------
    >>> metric_crs("EPSG:5070").to_epsg()
    5070
    >>> metric_crs("EPSG:4326")
    Traceback (most recent call last):
    ...
    geocluster.errors.CRSError: crs='EPSG:4326' is not a projected CRS in metres; ...
    """
    try:
        target = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise CRSError(
            f"crs={crs!r} is not a CRS pyproj knows; give e.g. 'EPSG:5070' (US, "
            "equal-area) or a UTM zone such as 'EPSG:32610', or leave crs=None."
        ) from None
    if not is_metric(target):
        raise CRSError(
            f"crs={crs!r} is not a projected CRS in metres; name one such as "
            "'EPSG:5070' (US, equal-area) or a UTM zone, or leave crs=None for the "
            "automatic choice."
        )
    return target


def to_metric(gdf: gpd.GeoDataFrame, crs: str | int | pyproj.CRS | None = None) -> gpd.GeoDataFrame:
    """Return ``gdf`` in a projected metric CRS (a new frame; the input is untouched).

    Parameters
    ----------
    gdf
        A GeoDataFrame with a CRS.
    crs
        The metric CRS to use. ``None`` keeps a CRS that is already metric and
        otherwise picks one from the data's extent (see the module docstring).

    Returns
    -------
    GeoDataFrame
        The same rows and index, in metres.

    Examples
    --------
    >>> import geocluster as gc
    >>> counties = gc.datasets.load_counties("conus")
    >>> gc.to_metric(counties).crs.to_epsg()
    5070
    >>> gc.to_metric(gc.datasets.load_counties("all")).crs.name  # Alaska to Guam
    'geocluster Albers equal-area (lon_0=..., lat_0=...)'
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"expected a GeoDataFrame, got {type(gdf).__name__}.")
    if gdf.crs is None:
        raise CRSError(
            "the GeoDataFrame has no CRS, so distances cannot be measured. Set the CRS "
            "the coordinates are in, e.g. gdf.set_crs('EPSG:4326') for longitude/latitude."
        )
    if crs is not None:
        target = metric_crs(crs)
        return gdf.to_crs(target)
    if is_metric(gdf.crs):
        return gdf.copy()
    if len(gdf) == 0 or gdf.geometry.is_empty.all():
        raise CRSError("cannot choose a metric CRS for an empty GeoDataFrame; name crs= instead.")
    lon, lat = _lonlat(gdf)
    if lon.size == 0:
        raise CRSError(
            "cannot choose a metric CRS: the GeoDataFrame has no finite coordinates; "
            "name crs= instead, e.g. crs='EPSG:5070'."
        )
    return gdf.to_crs(auto_metric_crs(lon, lat))


def target_metric_crs(
    src: pyproj.CRS, x: ArrayLike, y: ArrayLike, crs: str | int | pyproj.CRS | None = None
) -> pyproj.CRS:
    """The metric CRS to measure points at ``x``/``y`` (in ``src``) in.

    ``crs`` when given (checked by :func:`metric_crs`), else ``src`` when it is already
    metric, else :func:`auto_metric_crs` of the points' longitudes and latitudes, so the
    KDE, the weights and :func:`to_metric` agree.

    Examples
    --------
    >>> wgs84 = pyproj.CRS(4326)
    >>> target_metric_crs(wgs84, [-122.4, -71.1, -97.7], [37.8, 42.4, 30.3]).to_epsg()
    5070
    >>> target_metric_crs(pyproj.CRS(32610), [0.0], [0.0]).to_epsg()
    32610
    >>> target_metric_crs(wgs84, [0.0], [0.0], crs="EPSG:3857").to_epsg()
    3857
    """
    if crs is not None:
        return metric_crs(crs)
    if is_metric(src):
        return src
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(x) == 0:
        raise CRSError("cannot choose a metric CRS for empty input; name crs= instead.")
    if src.equals(pyproj.CRS.from_epsg(4326)):
        lon, lat = x, y
    else:
        to_ll = pyproj.Transformer.from_crs(src, 4326, always_xy=True)
        lon, lat = to_ll.transform(x, y)
    return auto_metric_crs(lon, lat)


def _lonlat(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes of every vertex of ``gdf``'s geometries (WGS84)."""
    geoms = gdf.geometry
    if not gdf.crs.equals(pyproj.CRS(4326)):
        geoms = geoms.to_crs(4326)
    xy = shapely.get_coordinates(geoms.to_numpy())
    return xy[:, 0], xy[:, 1]
