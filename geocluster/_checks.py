"""Validation shared by the functions that take firm points."""

from __future__ import annotations

import geopandas as gpd

from geocluster.errors import InputError


def check_points(frame, *, where: str, what: str = "points") -> None:
    """Raise :class:`InputError` unless ``frame`` is a non-empty GeoDataFrame of points.

    ``where`` names the calling function and ``what`` the argument in the messages.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point, LineString
    >>> check_points(gpd.GeoDataFrame(geometry=[Point(0, 0)]), where="kde")
    >>> check_points(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 1)])]), where="kde")
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: kde: points must be points, but the geometries are ...
    """
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(
            f"{where}: {what} must be a GeoDataFrame of points, got {type(frame).__name__}."
        )
    if len(frame) == 0:
        raise InputError(f"{where}: {what} is empty; there is nothing to analyse.")
    geoms = frame.geometry
    bad = geoms.isna() | geoms.is_empty
    if bad.any():
        raise InputError(
            f"{where}: {int(bad.sum())} {what} have missing or empty geometries "
            f"(e.g. {frame.index[bad][:5].tolist()}); drop them first."
        )
    kinds = set(geoms.geom_type.unique())
    if kinds != {"Point"}:
        raise InputError(
            f"{where}: {what} must be points, but the geometries are {sorted(kinds)}; "
            "use .representative_point() or .centroid first."
        )
