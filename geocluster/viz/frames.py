"""Checks of the frames a map draws (internal API of :mod:`geocluster.viz.maps`).

:func:`check_frame` validates a frame and returns it in longitude/latitude without the rows
that cannot be drawn; :func:`field_list` resolves a ``tooltip=``/``popup=`` option; the
rest find the name column, the index label and the bounds of a frame.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster.errors import CRSError, GeoclusterWarning, InputError
from geocluster.viz.layers import MAX_LABEL, clip_text

#: Columns taken as a firm's (or a unit's) name, in this order, matched case-insensitively.
NAME_COLUMNS = ("name", "company", "company_name", "firm_name", "firm")


def check_frame(gdf, arg: str, columns: Mapping[str, str] | None = None) -> gpd.GeoDataFrame:
    """Check a frame to draw (``columns``: option name -> column it names) and return it in
    EPSG:4326 without the rows that have no (finite) geometry."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        hint = (" It has no geometry column: read firm tables with gc.read_firms(), or build "
                "one with geopandas.GeoDataFrame(frame, geometry=..., crs=...)."
                if isinstance(gdf, pd.DataFrame) else
                " Read firm tables with gc.read_firms().")
        raise InputError(f"{arg}= must be a GeoDataFrame; got {type(gdf).__name__}.{hint}")
    if gdf.crs is None:
        raise CRSError(
            f"{arg}= has no CRS, so it cannot be placed on a map. Set it first, e.g. "
            f"{arg}.set_crs('EPSG:4326') for longitude/latitude."
        )
    for option, column in (columns or {}).items():
        if column not in gdf.columns or column == gdf.geometry.name:
            available = column_names(gdf.columns.drop(gdf.geometry.name))
            remedy = f"Use one of them, or leave {option} out." if option.endswith("=") \
                else "Use one of them."
            raise InputError(
                f"{arg}= has no column {clip_text(repr(column), MAX_LABEL)} (named by "
                f"{option}). Available columns: "
                f"{', '.join(clip_text(a, 60) for a in available[:40]) or 'none'}"
                f"{' ...' if len(available) > 40 else ''}. {remedy}"
            )
    if len(gdf) == 0:
        raise InputError(
            f"{arg}= has 0 rows, so there is nothing to draw. Pass a frame with rows, or "
            f"leave {arg}= out."
        )
    empty = (gdf.geometry.isna() | gdf.geometry.is_empty).to_numpy()
    if not empty.all():
        empty = empty | ~np.isfinite(gdf.geometry.bounds.to_numpy()).all(axis=1)
    if empty.all():
        raise InputError(
            f"{arg}= has no geometries to draw ({len(gdf):,} rows, none with finite "
            f"coordinates). Give the rows geometries (gc.read_firms() builds them from "
            f"longitude/latitude columns), or leave {arg}= out."
        )
    positions = np.flatnonzero(~empty)
    if empty.any():
        warnings.warn(
            f"{arg}=: {int(empty.sum()):,} of {len(gdf):,} rows have no geometry (or "
            "non-finite coordinates) and are not drawn.",
            GeoclusterWarning,
            stacklevel=4,
        )
        gdf = gdf[~empty]
    source_crs = gdf.crs
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    b = gdf.geometry.bounds.to_numpy()
    with np.errstate(invalid="ignore"):
        ok = (b[:, 0] >= -180) & (b[:, 2] <= 180) & (b[:, 1] >= -90) & (b[:, 3] <= 90)
    if not ok.all():
        k = int(np.flatnonzero(~ok)[0])
        raise CRSError(
            f"{arg}= has {int((~ok).sum()):,} of {len(gdf):,} rows outside the range of "
            f"longitude/latitude in {source_crs.to_string()} (first: row {positions[k] + 1}, "
            f"index {gdf.index[k]!r}, bounds {tuple(round(float(v), 3) for v in b[k])}). The "
            "CRS is probably wrong (metres labelled as degrees?): set the right one with "
            f"{arg}.set_crs(..., allow_override=True)."
        )
    return gdf


def column_names(values) -> list[str]:
    """The labels of ``values`` as str (for messages)."""
    return [str(v) for v in values]


def field_list(arg: str, value, gdf: gpd.GeoDataFrame, default: list[str]) -> list[str]:
    """The columns a ``tooltip=``/``popup=`` option (``arg``) shows: ``default`` for
    None, none for False, the first 25 for True."""
    if value is None:
        return default
    if value is False:
        return []
    if value is True:
        return [c for c in gdf.columns if c != gdf.geometry.name][:25]
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, Sequence | pd.Index) and not isinstance(value, bytes):
        names = list(value)
    else:
        raise InputError(
            f"{arg}= must be a column name, a list of column names, True (all columns) or "
            f"False (none); got {type(value).__name__}. E.g. {arg}=['name']."
        )
    available = column_names(gdf.columns.drop(gdf.geometry.name))
    for name in names:
        if not isinstance(name, str | int) or name not in gdf.columns or name == gdf.geometry.name:
            raise InputError(
                f"{arg}= names column {clip_text(repr(name), MAX_LABEL)}, which firms= does not "
                f"have. Available columns: {', '.join(clip_text(a, 60) for a in available[:40])}"
                f"{' ...' if len(available) > 40 else ''}. Use one of them, or leave {arg}= out "
                "for the default (the name and id)."
            )
    return names


def name_column(gdf: pd.DataFrame) -> str | None:
    """The column holding names (``name``, ``company``, ... in any case), or None."""
    lower: dict[str, str] = {}
    for c in gdf.columns:
        if isinstance(c, str):
            lower.setdefault(c.lower(), c)
    for candidate in NAME_COLUMNS:
        if candidate in lower:
            return lower[candidate]
    return None


def frame_bounds(gdf: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of a frame in longitude/latitude."""
    w, s, e, n = (float(v) for v in gdf.total_bounds)
    return w, s, e, n


def index_label(gdf: pd.DataFrame) -> str:
    """The index's name as a field name, "id" when it has none."""
    return str(gdf.index.name) if gdf.index.name is not None else "id"
