"""The checks every floor shares: firm points, seeds.

One copy of each check; the messages name the calling function and argument.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np

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


def check_seed(seed, where: str = "") -> None:
    """Refuse a seed ``np.random.default_rng`` would reject, with a geocluster error.

    ``where`` prefixes the message (e.g. ``"k_density: "``).

    Examples
    --------
    >>> check_seed(np.int64(7))
    >>> check_seed(-1, "k_density: ")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: k_density: seed=-1 must be None, a non-negative int or ...
    """
    ok = seed is None or isinstance(seed, np.random.Generator) or (
        isinstance(seed, int | np.integer) and not isinstance(seed, bool) and seed >= 0
    )
    if not ok:
        raise InputError(
            f"{where}seed={seed!r} must be None, a non-negative int or a numpy Generator."
        )


def seed_label(seed) -> int | str | None:
    """How a seed is recorded in results: the int (numpy integers too), None, or 'Generator'.

    Examples
    --------
    >>> seed_label(np.int64(7)), seed_label(None), seed_label(np.random.default_rng(1))
    (7, None, 'Generator')
    """
    if seed is None:
        return None
    if isinstance(seed, int | np.integer):
        return int(seed)
    return "Generator"
