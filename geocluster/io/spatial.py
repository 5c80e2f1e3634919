"""Parquet, GeoParquet and vector files (GeoPackage, GeoJSON, Shapefile, ...) and JSON records."""

from __future__ import annotations

import glob
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from geocluster.errors import CRSError, InputError
from geocluster.io.common import (
    SHOW,
    crs_label,
    log,
    parse_crs,
    warn_user,
)
from geocluster.io.text import TABLE_SUFFIXES

__all__ = ["JSON_SUFFIXES", "PARQUET_SUFFIXES", "VECTOR_SUFFIXES", "geoparquet_columns",
           "read_parquet", "read_vector", "register_files", "table_suffix"]

PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
JSON_SUFFIXES = (".json", ".geojson")
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".gml", ".kml")
_WKB_NAMES = ("geometry", "geom", "wkb", "wkb_geometry", "the_geom", "shape", "wkt")


def read_parquet(path: Path, where: str, crs, *, decode: bool = True) -> tuple[pd.DataFrame, bool]:
    """A (Geo)Parquet file; ``True`` second when the CRS came from ``crs=`` (not the file)."""
    try:
        return gpd.read_parquet(path), False
    except ValueError as exc:
        if "geo metadata" not in str(exc):
            raise
    frame = pd.read_parquet(path)
    column = _geometry_column(frame) if decode else None
    if column is None:
        return frame, True
    values = frame[column]
    first = values.dropna().iloc[0]
    as_text = isinstance(first, str)
    decoded = (shapely.from_wkt if as_text else shapely.from_wkb)(
        values.to_numpy(dtype=object), on_invalid="ignore"
    )
    bad = pd.isna(decoded) & values.notna().to_numpy()
    kind = "WKT" if as_text else "WKB"
    if bad.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad)[:SHOW])
        raise InputError(
            f"{where}: column {column!r} holds {kind} geometries, but {int(bad.sum())} values "
            f"cannot be decoded (rows {rows}); fix them, or pass lon= and lat= columns instead."
        )
    if crs is None:
        raise CRSError(
            f"{where} has {kind} geometries in column {column!r} but no GeoParquet metadata, so "
            "no CRS; pass the CRS they are in, e.g. crs='EPSG:4326'."
        )
    warn_user(
        f"{where} is plain Parquet (no GeoParquet metadata); decoded its {kind} column "
        f"{column!r} as geometries in crs={crs_label(crs)} (the crs= argument). Pass crs= if "
        "they are in another CRS; write files with GeoDataFrame.to_parquet to keep the CRS."
    )
    frame = frame.drop(columns=column)
    return gpd.GeoDataFrame(frame, geometry=decoded, crs=crs), True


def geoparquet_columns(path: str | Path, id_column: str | None,
                       obvious_id: Callable[[list[str], str], str | None]
                       ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame] | None:
    """The geometry and id columns of a plain GeoParquet file and its empty frame.

    The first frame holds the primary geometry column and ``id_column`` (or the column
    ``obvious_id(names, primary)`` picks), read as :func:`geopandas.read_parquet` reads
    them from the whole file; the second has every column, with the types the whole read
    gives them (an empty copy of the file read by geopandas). None when the file is not
    plain GeoParquet (one geometry column, no stored index, a CRS, rows) or the id column
    is not in it: the whole read then names the problem.

    Examples
    --------
    >>> import tempfile, geopandas as gpd
    >>> firms = gpd.GeoDataFrame({"firm_id": ["a", "b"], "n": [1, 2]},
    ...                          geometry=gpd.points_from_xy([0, 1], [0, 1], crs=4326))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     firms.to_parquet(f"{folder}/f.parquet", index=False)
    ...     frame, meta = geoparquet_columns(f"{folder}/f.parquet", "firm_id", lambda n, p: None)
    >>> list(frame.columns), list(meta.columns), len(meta)
    (['geometry', 'firm_id'], ['firm_id', 'n', 'geometry'], 0)
    """
    try:
        schema = pq.read_schema(path)
        geo = json.loads((schema.metadata or {})[b"geo"])
        stored = json.loads((schema.metadata or {}).get(b"pandas", b"{}")).get("index_columns")
        primary = geo["primary_column"]
        names = [n for n in schema.names if n != primary]
        check = id_column if id_column is not None else obvious_id(names, primary)
        if len(geo["columns"]) != 1 or any(not isinstance(i, dict) for i in stored or ()) or (
                check is not None and check not in names) or any(
                pa.types.is_dictionary(f.type) for f in schema):  # categories come from data
            return None
        frame = gpd.read_parquet(path, columns=[primary] + ([check] if check else []))
        empty = io.BytesIO()
        pq.write_table(schema.empty_table(), empty)
        meta = gpd.read_parquet(empty)
    except Exception:  # noqa: BLE001 - the whole read names the problem
        return None
    if len(frame) == 0 or frame.crs is None or (meta.dtypes == "category").any():
        return None
    return frame, meta


def _geometry_column(frame: pd.DataFrame) -> str | None:
    """A column of WKB bytes (or WKT text under a geometry-like name), if any."""
    by_name = sorted(frame.columns, key=lambda c: str(c).lower() not in _WKB_NAMES)
    for col in by_name:
        values = frame[col]
        if values.dtype.kind != "O" and not pd.api.types.is_string_dtype(values):
            continue
        first_label = values.first_valid_index()
        if first_label is None:
            continue
        first = values.loc[first_label]
        if isinstance(first, (bytes, bytearray, memoryview)):
            return col
        if (str(col).lower() in _WKB_NAMES and isinstance(first, str)
                and re.match(r"^\s*(SRID=\d+;)?\s*(MULTI)?POINT", first, flags=re.I)):
            return col
    return None


def read_vector(path, suffix, where, layer, encoding, crs) -> tuple[pd.DataFrame, bool]:
    """A vector file (or a JSON list of records); ``True`` second when the CRS is ``crs=``."""
    if suffix in JSON_SUFFIXES:
        records = _json_records(path, where, encoding)
        if records is not None:
            return records, True
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
    except Exception:  # noqa: BLE001 - the read below names the failure
        layers = None
    if layers is not None and len(layers) > 0:
        names = [str(n) for n in layers[:, 0]]
        if layer is None and len(names) > 1:
            listed = ", ".join(
                f"{n!r} ({g or 'no geometry'})" for n, g in zip(names, layers[:, 1], strict=True)
            )
            raise InputError(
                f"{where} has {len(names)} layers: {listed}. Say which one holds the firms "
                f"with layer='...' (in a study: [firms] layer = \"{names[0]}\")."
            )
        if layer is not None and layer not in names:
            raise InputError(
                f"{where} has no layer {layer!r}; its layers are {', '.join(map(repr, names))}. "
                "Pass one of them as layer=."
            )
    kwargs = {}
    if encoding is not None and suffix == ".shp":
        kwargs["encoding"] = encoding
    try:
        frame = gpd.read_file(path, layer=layer, **kwargs)
    except Exception:
        if suffix in JSON_SUFFIXES:
            _json_records(path, where, encoding, parse=True)  # raises the specific problem
        raise
    if frame.crs is None and frame.geometry.notna().any():
        what = ("a shapefile without its .prj file" if suffix == ".shp" else "a file without a CRS")
        if crs is None:
            raise CRSError(
                f"{where} is {what}; pass the CRS its coordinates are in, e.g. crs='EPSG:4326'."
            )
        warn_user(
            f"{where} is {what}; read its coordinates in crs={crs_label(crs)} (the crs= "
            "argument). If that is not their CRS, pass the right one, e.g. crs='EPSG:5070'."
        )
        frame = frame.set_crs(parse_crs(crs))
        return frame, True
    if len(frame) == 0 and suffix in JSON_SUFFIXES:
        raise InputError(
            f"{where} is GeoJSON without features; there are no firms to read. Check the export "
            "(a FeatureCollection needs a non-empty 'features' list)."
        )
    return frame, False


def _json_records(path: Path, where: str, encoding, *, parse: bool = False) -> pd.DataFrame | None:
    """A plain JSON list of records as a frame; None for (what looks like) GeoJSON.

    With ``parse=True`` the whole file is parsed even when it looks like GeoJSON, to name
    what is wrong with it.
    """
    with open(path, "rb") as handle:
        head = handle.read(4096).decode(encoding or "utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    geojson_like = head.startswith("{") and re.search(
        r'"type"\s*:\s*"(Feature|FeatureCollection|Point|MultiPoint)"', head
    )
    if geojson_like and not parse:
        return None
    try:
        obj = json.loads(path.read_text(encoding=encoding or "utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{where} is not valid {encoding or 'UTF-8'} text (byte {exc.start}); pass the "
            "file's encoding, e.g. encoding='latin-1'."
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}; "
            "fix the file or export it again."
        ) from None
    if isinstance(obj, dict) and obj.get("type") in ("FeatureCollection", "Feature"):
        if obj.get("type") == "FeatureCollection" and not isinstance(obj.get("features"), list):
            raise InputError(
                f"{where} is a GeoJSON FeatureCollection without a 'features' list; there are "
                "no firms to read. Check the export (it needs \"features\": [...])."
            )
        if obj.get("type") == "FeatureCollection" and not obj.get("features"):
            raise InputError(
                f"{where} is a GeoJSON FeatureCollection without features; there are no firms "
                "to read. Check the export (it needs a non-empty 'features' list)."
            )
        return None
    if isinstance(obj, list):
        if not obj:
            raise InputError(f"{where} is an empty JSON list; there are no firms to read. "
                             "Check the export.")
        bad = [i + 1 for i, rec in enumerate(obj) if not isinstance(rec, dict)]
        if bad:
            raise InputError(
                f"{where} is a JSON list, but {len(bad)} items are not records (objects), e.g. "
                f"item {bad[0]}; give a list of objects such as "
                '[{"id": "a", "lon": -71.1, "lat": 42.4}, ...].'
            )
        log.info("read_firms: %s is a JSON list of %d records", where, len(obj))
        return pd.DataFrame.from_records(obj)
    if isinstance(obj, dict):
        lists = [k for k, v in obj.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
        how = (
            f" Its records seem to be under the key {lists[0]!r}: pass "
            f"pandas.DataFrame(json.load(open(path))[{lists[0]!r}])."
            if lists else ""
        )
        raise InputError(
            f"{where} is JSON but neither GeoJSON nor a list of records.{how} geocluster reads a "
            'JSON list of objects ([{"id": ..., "lon": ..., "lat": ...}, ...]) or a GeoJSON '
            "FeatureCollection."
        )
    raise InputError(
        f"{where} is JSON but holds a {type(obj).__name__}, not records; give a list of objects "
        "with longitude/latitude fields, or GeoJSON."
    )


def register_files(source: str | Path) -> list[Path]:
    """The Parquet or CSV files of a folder, a glob or one path, sorted (``engine='dask'``).

    Examples
    --------
    >>> register_files('no/such/folder')
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: read_firms(engine='dask'): 'no/such/folder' does not exist; give a folder of Parquet/CSV files, a glob such as 'firms/*.parquet', or a file.
    """
    text = str(source)
    if any(ch in text for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not found:
            raise InputError(f"read_firms(engine='dask'): the pattern {text!r} matches no file; "
                             "check the folder and the pattern (e.g. 'firms/*.parquet').")
    else:
        path = Path(source)
        if not path.exists():
            raise InputError(f"read_firms(engine='dask'): '{path}' does not exist; give a "
                             "folder of Parquet/CSV files, a glob such as 'firms/*.parquet', "
                             "or a file.")
        found = (sorted(p for p in path.iterdir() if p.is_file()
                        and not p.name.startswith(("_", ".")))
                 if path.is_dir() else [path])
    kinds = {"parquet" if p.suffix.lower() in PARQUET_SUFFIXES else
             "csv" if table_suffix(p) else "other" for p in found}
    usable = [p for p in found if table_suffix(p) or p.suffix.lower() in PARQUET_SUFFIXES]
    if not usable:
        raise InputError(
            f"read_firms(engine='dask'): '{source}' holds no Parquet or CSV file "
            f"({len(found)} other files); engine='dask' reads (Geo)Parquet and CSV/TSV.")
    if {"parquet", "csv"} <= kinds:
        raise InputError(f"read_firms(engine='dask'): '{source}' mixes Parquet and CSV files; "
                         "give a glob that selects one kind, e.g. 'folder/*.parquet'.")
    return usable


def table_suffix(path: Path) -> str | None:
    """The CSV/TSV suffix of a (possibly compressed) file name, or None."""
    suffixes = [s.lower() for s in path.suffixes]
    for s in reversed(suffixes[-2:]):
        if s in TABLE_SUFFIXES:
            return s
    return None
