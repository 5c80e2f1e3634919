"""Point geometries from coordinate columns or a GeoDataFrame, with every range check and warning."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geocluster.errors import CRSError, InputError
from geocluster.io.common import (
    LAT_NAMES,
    LON_NAMES,
    SEP_NAMES,
    SEPARATORS,
    Origin,
    column_list,
    crs_label,
    log,
    warn_user,
)
from geocluster.units import far_from_bulk

__all__ = ["from_columns", "from_geometry"]

_SENTINELS = (-999.0, -9999.0, 999.0, 9999.0, -99999.0, 99999.0)


def _find_column(frame: pd.DataFrame, given: str | None, names: Sequence[str], what: str,
                 where: str) -> str:
    if given is not None:
        if given not in frame.columns:
            option = "lon" if what == "longitude" else "lat"
            close = difflib.get_close_matches(str(given), [str(c) for c in frame.columns], n=1)
            hint = f" Did you mean {option}={close[0]!r}?" if close else ""
            raise InputError(
                f"{where}: the {what} column {given!r} does not exist; columns are "
                f"{column_list(frame)}. Name one of them with {option}=.{hint}"
            )
        return given
    lowered: dict[str, list] = {}
    for c in frame.columns:
        lowered.setdefault(str(c).lower(), []).append(c)
    for name in names:
        if name in lowered:
            found = lowered[name]
            if len(found) > 1:
                option = "lon" if what == "longitude" else "lat"
                raise InputError(
                    f"{where}: columns {', '.join(map(repr, found))} all look like the {what}; "
                    f"name the right one with {option}=."
                )
            return found[0]
    hint = ""
    if len(frame.columns) == 1:
        header = str(frame.columns[0])
        seps = [SEP_NAMES[s] for s in SEPARATORS if s in header]
        if seps:
            hint = (f" The only column, {header[:60]!r}, contains {seps[0]}s: the file may use "
                    f"another separator than the one its name suggests.")
    raise InputError(
        f"{where}: no {what} column found (looked for {', '.join(names)}, any case); "
        f"columns are {column_list(frame)}. Name it with {'lon' if what == 'longitude' else 'lat'}=."
        + hint
    )


def _numeric(frame: pd.DataFrame, column: str, origin: Origin) -> pd.Series:
    raw = frame[column]
    where = origin.where
    if pd.api.types.is_bool_dtype(raw):
        raise InputError(f"{where}: column {column!r} is boolean, not a coordinate; name the "
                         "coordinate columns with lon= and lat=.")
    text = raw.astype("string").str.strip() if raw.dtype == object or pd.api.types.is_string_dtype(raw) else raw
    values = pd.to_numeric(text, errors="coerce")
    bad = (values.isna() & raw.notna()).to_numpy()
    if bad.any() and pd.api.types.is_string_dtype(text):
        comma = text[bad].str.fullmatch(r"[+-]?\d+,\d+")
        if comma.all():
            warn_user(
                f"{where}: column {column!r} uses decimal commas in {int(bad.sum())} values "
                f"({origin.at(bad)}, e.g. {text[bad].iloc[0]!r}); read them as decimal points."
            )
            values = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
            bad = (values.isna() & raw.notna()).to_numpy()
    if bad.any():
        examples = [str(v) for v in raw[bad].head(3).tolist()]
        raise InputError(
            f"{where}: column {column!r} has {int(bad.sum())} non-numeric values "
            f"({origin.at(bad)}: {examples}); coordinates must be numbers in decimal degrees "
            "or the CRS's unit. Fix those values, or name the right columns with lon= and lat=."
        )
    return values.astype(float)


def from_columns(frame, origin: Origin, lon, lat, crs: pyproj.CRS, on_invalid
                 ) -> tuple[gpd.GeoDataFrame, Origin, tuple[str, str]]:
    """Points from the longitude/latitude (x/y) columns, checked; the used columns third."""
    where = origin.where
    lon_col = _find_column(frame, lon, LON_NAMES, "longitude", where)
    lat_col = _find_column(frame, lat, LAT_NAMES, "latitude", where)
    if lon_col == lat_col:
        raise InputError(f"{where}: lon and lat both name column {lon_col!r}; name two "
                         "different columns.")
    if lon is None or lat is None:
        log.info("read_firms: using %r as longitude/x and %r as latitude/y", lon_col, lat_col)
    x = _numeric(frame, lon_col, origin).to_numpy()
    y = _numeric(frame, lat_col, origin).to_numpy()
    keep = _check_coordinates(x, y, crs, origin, on_invalid, (lon_col, lat_col))
    if not keep.all():
        frame, x, y, origin = frame[keep], x[keep], y[keep], origin.subset(keep)
    out = frame.copy()
    out[lon_col] = x
    out[lat_col] = y
    geometry = gpd.points_from_xy(x, y, crs=crs)
    return gpd.GeoDataFrame(out, geometry=geometry, crs=crs), origin, (lon_col, lat_col)


def _check_coordinates(x, y, crs: pyproj.CRS, origin: Origin, on_invalid, columns,
                       missing=None, missing_text="missing coordinates") -> np.ndarray:
    """Validate coordinates; raise, or return the mask of rows to keep (warning on drops)."""
    where = origin.where
    n = len(x)
    if missing is None:
        missing = ~(np.isfinite(x) & np.isfinite(y))
    present = ~missing
    reasons = []
    if missing.any():
        reasons.append(f"{int(missing.sum())} rows have {missing_text} "
                       f"({origin.at(missing)})")
    out = np.zeros(n, dtype=bool)
    null = np.zeros(n, dtype=bool)
    if crs.is_geographic:
        with np.errstate(invalid="ignore"):
            bad_lat = present & (np.abs(y) > 90)
            bad_lon = present & (np.abs(x) > 180)
            null = present & (x == 0) & (y == 0)
        out = bad_lat | bad_lon
        if out.any():
            _diagnose_range(x, y, present, bad_lat, bad_lon, crs, origin, columns)
            note = ""
            values = np.r_[x[bad_lon], y[bad_lat]]
            if np.isin(values, _SENTINELS).any():
                note = ("; values such as -999 are placeholders for missing coordinates: "
                        "leave those cells empty")
            reasons.append(
                f"{int(out.sum())} rows have coordinates outside latitude [-90, 90] / "
                f"longitude [-180, 180] ({origin.at(out)}){note}"
            )
        if null.all():
            raise InputError(
                f"{where}: all {n} rows are at (0, 0) ('null island', what failed geocoding "
                "gives); there is no real location. Geocode the firms, or name the coordinate "
                "columns with lon= and lat=."
            )
        if null.any() and on_invalid == "drop":
            reasons.append(f"{int(null.sum())} rows are at (0, 0), a failed geocode "
                           f"({origin.at(null)})")
    invalid = missing | out | (null if on_invalid == "drop" else False)
    if invalid.any():
        if on_invalid == "raise" or invalid.all():
            hint = (
                " Fix or remove them, or pass on_invalid='drop' to drop them with a warning."
                if not invalid.all()
                else " No row has valid coordinates: check that lon=/lat= name the coordinate "
                     "columns and that crs= is their CRS."
            )
            raise InputError(f"{where}: " + "; ".join(reasons) + "." + hint)
        warn_user(
            f"read_firms dropped {int(invalid.sum())} of {n} rows from {where}: "
            + "; ".join(reasons) + "."
        )
    keep = ~invalid
    if null.any() and on_invalid == "raise":
        warn_user(
            f"{where}: {int(null.sum())} of {n} firms are at exactly (0, 0) ('null island', "
            f"{origin.at(null)}), which is what failed geocoding gives. Fix their geocoding, "
            "or pass on_invalid='drop' to drop them."
        )
    _warn_far(x, y, keep & ~null, crs, origin)
    _warn_constant(x, y, keep, origin, columns)
    _warn_degrees_in_projected(x, y, keep, crs, origin)
    return keep


def _warn_degrees_in_projected(x, y, keep, crs: pyproj.CRS, origin: Origin) -> None:
    """Warn when every coordinate of a projected CRS would be a valid longitude/latitude."""
    if not crs.is_projected or keep.sum() < 3:
        return
    kx, ky = x[keep], y[keep]
    if not ((np.abs(kx) <= 180).all() and (np.abs(ky) <= 90).all()) or not (kx != 0).any():
        return
    if origin.crs_from_argument:
        remedy = "if they are longitude/latitude, pass crs='EPSG:4326'"
    else:
        remedy = ("if they are longitude/latitude, set that CRS with "
                  "gdf.set_crs('EPSG:4326', allow_override=True)")
    warn_user(
        f"{origin.where}: all {int(keep.sum())} firms have coordinates within +-180 / +-90 "
        f"although the CRS {crs_label(crs)} is projected (units of "
        f"{crs.axis_info[0].unit_name}), so they lie within a few hundred units of its "
        f"origin: they look like degrees and the CRS may be wrong; {remedy}."
    )


def _diagnose_range(x, y, present, bad_lat, bad_lon, crs, origin: Origin, columns) -> None:
    """Raise the specific message for swapped columns, metres as degrees or placeholders."""
    where = origin.where
    lon_col, lat_col = columns or ("x", "y")
    xs, ys = x[present], y[present]
    swapped_fits = (np.abs(xs) <= 90).all() and (np.abs(ys) <= 180).all()
    if bad_lat.any() and swapped_fits:
        if columns is None:
            remedy = ("Swap them, e.g. gdf.set_geometry(gpd.points_from_xy(gdf.geometry.y, "
                      "gdf.geometry.x, crs=gdf.crs)).")
        else:
            remedy = f"Pass lon={lat_col!r}, lat={lon_col!r}."
        raise InputError(
            f"{where}: the latitude {'column ' + repr(lat_col) if columns else '(y)'} has values "
            f"beyond +-90 ({origin.at(bad_lat)}, e.g. {y[bad_lat][0]:g}) while every "
            f"longitude would be a valid latitude: the coordinates look swapped. {remedy}"
        )
    for values, col, bad in ((x, lon_col, bad_lon), (y, lat_col, bad_lat)):
        distinct = np.unique(values[present])
        if len(distinct) == 1 and present.sum() > 1 and bad[present].all():
            raise InputError(
                f"{where}: every value of {col!r} is {distinct[0]:g}, which looks like a "
                "placeholder for missing coordinates, not a location. Geocode the firms, or "
                "name the right coordinate columns with lon= and lat=."
            )
    out = bad_lat | bad_lon
    if out.sum() > 0.5 * present.sum() and np.nanmax(np.abs(np.r_[xs, ys])) > 1000:
        i = int(np.flatnonzero(out)[0])
        if origin.crs_from_argument:
            remedy = ("pass the CRS they are in, e.g. crs='EPSG:5070' (NAD83 / Conus Albers, "
                      "metres) or the UTM zone's 'EPSG:326xx'")
        else:
            remedy = ("set the right one on a GeoDataFrame with gdf.set_crs('EPSG:xxxx', "
                      "allow_override=True) and pass that frame")
        raise InputError(
            f"{where}: {int(out.sum())} of {int(present.sum())} rows have coordinates far beyond "
            f"degrees (e.g. {x[i]:.6g}, {y[i]:.6g} at {origin.at(np.arange(len(x)) == i)}); they "
            f"look like metres or feet of a projected CRS, so the CRS "
            f"{crs_label(crs)} may be wrong: {remedy}."
        )


def _warn_far(x, y, usable, crs: pyproj.CRS, origin: Origin) -> None:
    if usable.sum() < 10:
        return
    lon, lat = x[usable], y[usable]
    if not crs.is_geographic:
        try:
            to_ll = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
            lon, lat = to_ll.transform(lon, lat)
        except pyproj.exceptions.ProjError:  # pragma: no cover - exotic CRS
            return
    far_usable = far_from_bulk(np.asarray(lon), np.asarray(lat))
    if not far_usable.any():
        return
    far = np.zeros(len(x), dtype=bool)
    far[np.flatnonzero(usable)[far_usable]] = True
    i = int(np.flatnonzero(far)[0])
    warn_user(
        f"{origin.where}: {int(far.sum())} of {int(usable.sum())} firms lie far from all the "
        f"others ({origin.at(far)}; e.g. {x[i]:.6g}, {y[i]:.6g}). Check their geocoding; they "
        "are kept, but do not move the automatic metric CRS."
    )


def _warn_constant(x, y, keep, origin: Origin, columns) -> None:
    """Warn when one coordinate is the same for every firm while the other varies."""
    if keep.sum() < 10:
        return
    kx, ky = x[keep], y[keep]
    same_x, same_y = bool(np.all(kx == kx[0])), bool(np.all(ky == ky[0]))
    if same_x == same_y:
        return
    col = (columns or ("x", "y"))[0 if same_x else 1]
    value = kx[0] if same_x else ky[0]
    warn_user(
        f"{origin.where}: every firm has the same {col!r} ({value:g}, {int(keep.sum())} rows) "
        f"while the other coordinate varies; is it the right coordinate column? Name it with "
        f"{'lon' if same_x else 'lat'}=."
    )


def from_geometry(frame: gpd.GeoDataFrame, origin: Origin, on_invalid
                  ) -> tuple[gpd.GeoDataFrame, Origin]:
    """The points of a GeoDataFrame, checked (CRS, point geometries, ranges)."""
    where = origin.where
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
            f"{origin.at(not_point)}). Firms must be points: convert with "
            "gdf.representative_point() or gdf.centroid first."
        )
    coords = np.full((len(frame), 2), np.nan)
    if (~missing).any():
        coords[~missing] = shapely.get_coordinates(geom.to_numpy()[~missing])[:, :2]
    x, y = coords[:, 0], coords[:, 1]
    missing = missing | ~(np.isfinite(x) & np.isfinite(y))
    keep = _check_coordinates(x, y, frame.crs, origin, on_invalid, None, missing=missing,
                              missing_text="missing or empty geometries")
    if not keep.all():
        frame, origin = frame[keep], origin.subset(keep)
    return frame.copy(), origin
