"""Reading firms: any common table or vector format -> a validated GeoDataFrame of points.

:func:`read_firms` is the front door of every analysis. It accepts a path (CSV, TSV,
Parquet, GeoParquet, GeoPackage, GeoJSON, Shapefile, FlatGeobuf), a pandas
DataFrame, a GeoDataFrame or a dask(-geopandas) frame, and returns a new
GeoDataFrame of points whose index is a unique firm id. Every problem it finds is
an :class:`~geocluster.errors.InputError` naming the file, the column and the first
offending rows, never a pandas or numpy traceback.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from geocluster.errors import CRSError, GeoclusterWarning, InputError

__all__ = ["read_firms", "LON_NAMES", "LAT_NAMES", "SUPPORTED_SUFFIXES"]

log = logging.getLogger("geocluster")

#: Column names recognised as longitude / x, in order of preference (case-insensitive).
LON_NAMES = ("lon", "lng", "long", "longitude", "x")
#: Column names recognised as latitude / y, in order of preference (case-insensitive).
LAT_NAMES = ("lat", "latitude", "y")

_TABLE_SUFFIXES = {".csv": ",", ".txt": ",", ".tsv": "\t"}
_PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
_VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".gml", ".kml")
SUPPORTED_SUFFIXES = tuple(_TABLE_SUFFIXES) + _PARQUET_SUFFIXES + _VECTOR_SUFFIXES
_SHOW = 5  # offending rows named in a message


def read_firms(
    source: str | Path | pd.DataFrame | gpd.GeoDataFrame,
    *,
    lon: str | None = None,
    lat: str | None = None,
    id: str | None = None,  # noqa: A002 - the documented public name
    crs: str | int | pyproj.CRS | None = "EPSG:4326",
    on_invalid: Literal["raise", "drop"] = "raise",
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate firm locations.

    Parameters
    ----------
    source
        A file path, a DataFrame with coordinate columns, a GeoDataFrame of points,
        or a dask DataFrame / dask-geopandas GeoDataFrame (computed into memory).
    lon, lat
        Coordinate columns. When not given they are found by name
        (:data:`LON_NAMES`, :data:`LAT_NAMES`, case-insensitive); the choice is
        logged on the ``"geocluster"`` logger and recorded in
        ``result.attrs["geocluster"]``.
    id
        Column with a unique firm id; it becomes the index (the column is kept).
        Without it the input's index is kept (a file gets 0..n-1) and must be unique.
    crs
        CRS of the coordinate columns (ignored for inputs that carry their own CRS).
        Latitude/longitude range checks apply when it is geographic.
    on_invalid
        ``"raise"`` (default): stop at missing or out-of-range coordinates.
        ``"drop"``: drop those rows and warn with their count.
    layer
        Layer to read from a multi-layer file such as a GeoPackage.

    Returns
    -------
    GeoDataFrame
        A new frame of points with a unique index, in ``crs`` (or the input's CRS).

    Raises
    ------
    InputError
        Missing file, unreadable or unsupported format, empty table, missing or
        non-numeric coordinate columns, missing or out-of-range coordinates
        (swapped latitude/longitude is named as such), duplicate or missing ids,
        non-point geometries.
    CRSError
        A GeoDataFrame without a CRS, or an unknown ``crs``.

    Examples
    --------
    >>> import pandas as pd
    >>> import geocluster as gc
    >>> table = pd.DataFrame({"firm": ["a", "b"], "Longitude": [-122.4, -71.1],
    ...                       "Latitude": [37.8, 42.4]})
    >>> firms = gc.read_firms(table, id="firm")
    >>> firms.index.tolist(), firms.crs.to_epsg()
    (['a', 'b'], 4326)
    >>> firms.attrs["geocluster"]["coordinates"]
    ('Longitude', 'Latitude')
    """
    if on_invalid not in ("raise", "drop"):
        raise InputError(f"on_invalid={on_invalid!r} must be 'raise' or 'drop'.")
    where = f"'{source}'" if isinstance(source, (str, Path)) else "the input frame"
    frame = _load(source, layer=layer)
    if len(frame) == 0:
        raise InputError(f"{where} has no rows; there are no firms to read.")

    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns and (
        lon is None and lat is None
    ):
        firms, coords = _from_geometry(frame, where, on_invalid), None
    else:
        crs_obj = _parse_crs(crs)
        if isinstance(frame, gpd.GeoDataFrame):
            frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        firms, coords = _from_columns(frame, where, lon, lat, crs_obj, on_invalid)

    firms = _set_id(firms, where, id)
    firms.attrs = dict(firms.attrs)
    firms.attrs["geocluster"] = {
        "source": str(source) if isinstance(source, (str, Path)) else type(source).__name__,
        "coordinates": coords,
        "id": id,
        "n": int(len(firms)),
    }
    return firms


# --- loading -------------------------------------------------------------------------


def _load(source, *, layer: str | None) -> pd.DataFrame:
    module = type(source).__module__
    if module.startswith("dask"):  # dask DataFrame or dask-geopandas GeoDataFrame
        return source.compute()
    if isinstance(source, gpd.GeoDataFrame):
        return source.copy()
    if isinstance(source, pd.DataFrame):
        return source.copy()
    if isinstance(source, (str, Path)):
        return _read_path(Path(source), layer=layer)
    raise InputError(
        f"cannot read firms from a {type(source).__name__}; give a file path, a pandas "
        "DataFrame or a GeoDataFrame."
    )


def _read_path(path: Path, *, layer: str | None) -> pd.DataFrame:
    if not path.exists():
        raise InputError(f"firm file '{path}' does not exist; check the path.")
    if path.is_dir():
        raise InputError(f"'{path}' is a folder, not a firm file.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(
            f"'{path}': unsupported file type {suffix or '(no suffix)'!r}; geocluster reads "
            f"{', '.join(SUPPORTED_SUFFIXES)}."
        )
    try:
        if suffix in _TABLE_SUFFIXES:
            return pd.read_csv(path, sep=_TABLE_SUFFIXES[suffix], low_memory=False)
        if suffix in _PARQUET_SUFFIXES:
            try:
                return gpd.read_parquet(path)
            except (ValueError, KeyError):  # plain Parquet without geo metadata
                return pd.read_parquet(path)
        return gpd.read_file(path, layer=layer)
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError(f"'{path}' is empty; there are no firms to read.") from None
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear message
        raise InputError(
            f"could not read '{path}' as {suffix[1:].upper()}: {type(exc).__name__}: {exc}. "
            "Check that the file is complete and of the type its name says."
        ) from None


def _parse_crs(crs) -> pyproj.CRS:
    if crs is None:
        raise CRSError(
            "crs=None: say which CRS the coordinate columns are in, e.g. crs='EPSG:4326' "
            "for longitude/latitude."
        )
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise CRSError(
            f"crs={crs!r} is not a CRS pyproj knows; use e.g. 'EPSG:4326' or 'EPSG:5070'."
        ) from None


# --- coordinates from columns ----------------------------------------------------------


def _find_column(frame: pd.DataFrame, given: str | None, names: Sequence[str], what: str, where: str) -> str:
    if given is not None:
        if given not in frame.columns:
            raise InputError(
                f"{where}: the {what} column {given!r} does not exist; columns are "
                f"{_columns(frame)}."
            )
        return given
    lowered = {str(c).lower(): c for c in frame.columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    raise InputError(
        f"{where}: no {what} column found (looked for {', '.join(names)}, any case); "
        f"columns are {_columns(frame)}. Name it with {'lon' if what == 'longitude' else 'lat'}=."
    )


def _numeric(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw):
        raise InputError(f"{where}: column {column!r} is boolean, not a coordinate.")
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        rows = _rows(frame.index[bad.to_numpy()])
        examples = [str(v) for v in raw[bad].head(3).tolist()]
        raise InputError(
            f"{where}: column {column!r} has {int(bad.sum())} non-numeric values "
            f"(rows {rows}: {examples}); coordinates must be numbers in decimal degrees "
            "or the CRS's unit."
        )
    return values.astype(float)


def _from_columns(frame, where, lon, lat, crs: pyproj.CRS, on_invalid):
    lon_col = _find_column(frame, lon, LON_NAMES, "longitude", where)
    lat_col = _find_column(frame, lat, LAT_NAMES, "latitude", where)
    if lon_col == lat_col:
        raise InputError(f"{where}: lon and lat both name column {lon_col!r}.")
    if lon is None or lat is None:
        log.info("read_firms: using %r as longitude/x and %r as latitude/y", lon_col, lat_col)
    x = _numeric(frame, lon_col, where)
    y = _numeric(frame, lat_col, where)

    invalid = ~(np.isfinite(x.to_numpy()) & np.isfinite(y.to_numpy()))
    reasons = []
    if invalid.any():
        reasons.append(
            f"{int(invalid.sum())} rows have missing coordinates (rows "
            f"{_rows(frame.index[invalid])})"
        )
    if crs.is_geographic:
        out = _out_of_range(frame, x, y, lon_col, lat_col, where, on_invalid) & ~invalid
        if out.any():
            reasons.append(
                f"{int(out.sum())} rows have coordinates outside latitude [-90, 90] / "
                f"longitude [-180, 180] (rows {_rows(frame.index[out])})"
            )
        invalid = invalid | out
    if invalid.any():
        if on_invalid == "raise" or invalid.all():
            hint = (
                " Fix or remove them, or pass on_invalid='drop' to drop them with a warning."
                if not invalid.all()
                else " No row has valid coordinates."
            )
            raise InputError(f"{where}: " + "; ".join(reasons) + "." + hint)
        warnings.warn(
            f"read_firms dropped {int(invalid.sum())} of {len(frame)} rows from {where}: "
            + "; ".join(reasons) + ".",
            GeoclusterWarning,
            stacklevel=3,
        )
        keep = ~invalid
        frame, x, y = frame[keep], x[keep], y[keep]
    geometry = gpd.points_from_xy(x.to_numpy(), y.to_numpy(), crs=crs)
    return gpd.GeoDataFrame(frame.copy(), geometry=geometry, crs=crs), (lon_col, lat_col)


def _out_of_range(frame, x, y, lon_col, lat_col, where, on_invalid) -> np.ndarray:
    xv, yv = x.to_numpy(), y.to_numpy()
    with np.errstate(invalid="ignore"):
        bad_lat = np.abs(yv) > 90
        bad_lon = np.abs(xv) > 180
    out = bad_lat | bad_lon
    if not out.any():
        return out
    finite = np.isfinite(xv) & np.isfinite(yv)
    swapped_fits = (np.abs(xv[finite]) <= 90).all() and (np.abs(yv[finite]) <= 180).all()
    if bad_lat.any() and swapped_fits:
        rows = _rows(frame.index[bad_lat])
        raise InputError(
            f"{where}: the latitude column {lat_col!r} has values beyond +-90 (rows {rows}, "
            f"e.g. {yv[bad_lat][0]:g}) while every value of {lon_col!r} would be a valid "
            f"latitude: the columns look swapped. Pass lon={lat_col!r}, lat={lon_col!r}."
        )
    return out


# --- coordinates from a GeoDataFrame ---------------------------------------------------


def _from_geometry(frame: gpd.GeoDataFrame, where: str, on_invalid) -> gpd.GeoDataFrame:
    if frame.crs is None:
        raise CRSError(
            f"{where}: the GeoDataFrame has no CRS, so its coordinates cannot be placed. "
            "Set it first, e.g. gdf.set_crs('EPSG:4326') for longitude/latitude."
        )
    geom = frame.geometry
    missing = (geom.isna() | geom.is_empty).to_numpy()
    kinds = geom.geom_type.to_numpy()
    not_point = ~missing & (kinds != "Point")
    if not_point.any():
        found = sorted(set(kinds[not_point]))
        raise InputError(
            f"{where}: {int(not_point.sum())} geometries are not points ({', '.join(found)}; "
            f"rows {_rows(frame.index[not_point])}). Firms must be points: convert with "
            "gdf.representative_point() or gdf.centroid first."
        )
    reasons = []
    invalid = missing.copy()
    if missing.any():
        reasons.append(f"{int(missing.sum())} rows have missing or empty geometries (rows "
                       f"{_rows(frame.index[missing])})")
    if frame.crs.is_geographic:
        xv = np.where(missing, 0.0, geom.x.where(~missing).to_numpy(dtype=float, na_value=0.0))
        yv = np.where(missing, 0.0, geom.y.where(~missing).to_numpy(dtype=float, na_value=0.0))
        out = (np.abs(yv) > 90) | (np.abs(xv) > 180)
        if out.any():
            reasons.append(
                f"{int(out.sum())} points lie outside latitude [-90, 90] / longitude "
                f"[-180, 180] (rows {_rows(frame.index[out])}); is the CRS right?"
            )
        invalid |= out
    if invalid.any():
        if on_invalid == "raise" or invalid.all():
            raise InputError(
                f"{where}: " + "; ".join(reasons)
                + ". Fix them, or pass on_invalid='drop' to drop them with a warning."
            )
        warnings.warn(
            f"read_firms dropped {int(invalid.sum())} of {len(frame)} rows from {where}: "
            + "; ".join(reasons) + ".",
            GeoclusterWarning,
            stacklevel=3,
        )
        frame = frame[~invalid]
    return frame.copy()


# --- ids -------------------------------------------------------------------------------


def _set_id(firms: gpd.GeoDataFrame, where: str, id_col: str | None) -> gpd.GeoDataFrame:
    if id_col is None:
        if not firms.index.is_unique:
            dup = firms.index[firms.index.duplicated()].unique()[:_SHOW].tolist()
            raise InputError(
                f"{where}: the index has duplicate labels (e.g. {dup}) and no id= column was "
                "named. Pass id='<column with a unique firm id>' or reset the index."
            )
        return firms
    if id_col not in firms.columns:
        raise InputError(
            f"{where}: the id column {id_col!r} does not exist; columns are {_columns(firms)}."
        )
    ids = firms[id_col]
    if ids.isna().any():
        raise InputError(
            f"{where}: id column {id_col!r} is missing for {int(ids.isna().sum())} rows "
            f"(rows {_rows(firms.index[ids.isna().to_numpy()])}); every firm needs an id."
        )
    dup_mask = ids.duplicated(keep=False).to_numpy()
    if dup_mask.any():
        values = ids[dup_mask].unique()[:_SHOW].tolist()
        raise InputError(
            f"{where}: id column {id_col!r} has {int(ids.duplicated().sum())} duplicate ids "
            f"(e.g. {values} at rows {_rows(firms.index[dup_mask])}); ids must be unique."
        )
    out = firms.copy()
    out.index = pd.Index(ids.to_numpy(), name=None)
    return out


def _rows(index: pd.Index) -> str:
    shown = [str(v) for v in list(index[:_SHOW])]
    more = f" and {len(index) - _SHOW} more" if len(index) > _SHOW else ""
    return ", ".join(shown) + more


def _columns(frame: pd.DataFrame) -> list[str]:
    cols = [str(c) for c in frame.columns]
    return cols if len(cols) <= 20 else cols[:20] + ["..."]
