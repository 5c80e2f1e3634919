"""Distance units and the choice of a metric CRS.

Everything in geocluster that measures a distance or an area works in a projected
CRS whose unit is the metre. :func:`to_metric` gets a frame there: into the CRS the
user names, or into an automatic choice suited to the data's extent:

* data inside the contiguous United States (the bundled data, most users):
  ``EPSG:5070`` (NAD83 / Conus Albers, equal-area);
* any other extent at most 6 degrees of longitude wide and 12 degrees high:
  the UTM zone of the extent's centre (``EPSG:326xx`` north, ``327xx`` south);
* anything larger: an Albers equal-area conic centred on the data, with standard
  parallels at one sixth and five sixths of its latitude range.

A frame already in a projected CRS whose unit is the metre is returned unchanged.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from pyproj.crs import GeographicCRS, ProjectedCRS
from pyproj.crs.coordinate_operation import AlbersEqualAreaConversion

from geocluster.errors import CRSError, InputError

__all__ = ["parse_distance", "metric_crs_for", "metric_crs", "to_metric", "is_metric"]

_UNIT_FACTORS = {"m": 1.0, "km": 1000.0}
_DISTANCE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(m|km)\s*$")

# Contiguous US in lon/lat: EPSG:5070's area of use with a small margin.
_CONUS_BOUNDS = (-125.5, 24.0, -66.5, 49.5)
_UTM_MAX_WIDTH_DEG = 6.0
_UTM_MAX_HEIGHT_DEG = 12.0


def parse_distance(value: str | float | int, *, name: str = "distance") -> float:
    """Return a distance in metres from ``"25km"``, ``"500m"`` or a number of metres.

    Parameters
    ----------
    value
        A string with a unit (``m`` or ``km``), or a plain number taken as metres.
    name
        The option's name, used in error messages.

    Returns
    -------
    float
        The distance in metres; always positive.

    Examples
    --------
    >>> parse_distance("25km")
    25000.0
    >>> parse_distance("500 m")
    500.0
    >>> parse_distance(1200)
    1200.0
    """
    if isinstance(value, bool):
        raise InputError(f"{name}={value!r} is not a distance; give e.g. '25km' or '500m'.")
    if isinstance(value, (int, float, np.integer, np.floating)):
        metres = float(value)
    elif isinstance(value, str):
        match = _DISTANCE_RE.match(value.lower())
        if match is None:
            raise InputError(
                f"{name}={value!r} is not a distance: write a positive number with a "
                "unit, e.g. '25km' or '500m' (a plain number means metres)."
            )
        metres = float(match.group(1)) * _UNIT_FACTORS[match.group(2)]
    else:
        raise InputError(
            f"{name}={value!r} is not a distance; give e.g. '25km', '500m' or a number of metres."
        )
    if not np.isfinite(metres) or metres <= 0:
        raise InputError(f"{name}={value!r} must be a positive, finite distance.")
    return metres


def is_metric(crs: pyproj.CRS | None) -> bool:
    """True if ``crs`` is projected with metre axes."""
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
        raise CRSError("cannot choose a metric CRS: the data have no finite extent.")
    width, height = maxx - minx, maxy - miny
    if width <= _UTM_MAX_WIDTH_DEG and height <= _UTM_MAX_HEIGHT_DEG:
        lon0, lat0 = (minx + maxx) / 2, (miny + maxy) / 2
        zone = int(np.floor((lon0 + 180.0) / 6.0)) % 60 + 1
        return pyproj.CRS.from_epsg((32600 if lat0 >= 0 else 32700) + zone)
    cx0, cy0, cx1, cy1 = _CONUS_BOUNDS
    if minx >= cx0 and maxx <= cx1 and miny >= cy0 and maxy <= cy1:
        return pyproj.CRS.from_epsg(5070)
    lat1 = miny + height / 6.0
    lat2 = maxy - height / 6.0
    lat0 = (miny + maxy) / 2
    lon0 = (minx + maxx) / 2
    lon0 = lon0 - 360.0 if lon0 > 180 else lon0
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
    return gdf.to_crs(metric_crs_for(_lonlat_bounds(gdf)))


def _lonlat_bounds(gdf: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """Lon/lat bounds; data across the antimeridian get longitudes beyond 180."""
    lonlat = gdf.geometry if gdf.crs.equals(pyproj.CRS(4326)) else gdf.geometry.to_crs(4326)
    minx, miny, maxx, maxy = lonlat.total_bounds
    if maxx - minx > 180:  # maybe one extent across the antimeridian (Alaska, Pacific)
        lon = shapely.get_coordinates(lonlat.to_numpy())[:, 0]
        shifted = np.mod(lon, 360.0)
        if shifted.max() - shifted.min() < maxx - minx:
            minx, maxx = float(shifted.min()), float(shifted.max())
    return (float(minx), float(miny), float(maxx), float(maxy))
