"""From a source (path, frame, dask frame) to a raw frame and the :class:`Origin` of its rows."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster.errors import CRSError, InputError
from geocluster.io.common import (
    Origin,
    short_error,
)
from geocluster.io.spatial import PARQUET_SUFFIXES, VECTOR_SUFFIXES, read_parquet, read_vector
from geocluster.io.text import TABLE_SUFFIXES, read_json_lines, read_table

__all__ = ["LINES_SUFFIXES", "SUPPORTED_SUFFIXES", "blank_missing_codes", "load_source", "parse_missing_codes"]

LINES_SUFFIXES = (".jsonl", ".ndjson")
_COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz"}
SUPPORTED_SUFFIXES = (
    tuple(TABLE_SUFFIXES) + PARQUET_SUFFIXES + VECTOR_SUFFIXES + LINES_SUFFIXES
)


def parse_missing_codes(na_values) -> tuple[set[str], set[float]] | None:
    """``na_values`` as (case-folded texts, numbers); None when not given."""
    if na_values is None:
        return None
    if isinstance(na_values, (str, bytes, int, float)) or not isinstance(na_values, Sequence):
        raise InputError(f"na_values={na_values!r} must be a list of codes, e.g. "
                         "[-99999, 'NOT AVAILABLE'] ([firms] na_values in a study config).")
    texts, numbers = set(), set()
    for code in na_values:
        if isinstance(code, bool) or not isinstance(code, (str, int, float)):
            raise InputError(f"na_values: {code!r} is not a code; give numbers or texts, e.g. "
                             "[-99999, 'NOT AVAILABLE'].")
        texts.add(str(code).strip().casefold())
        try:
            number = float(code)
        except ValueError:
            continue
        if np.isfinite(number):
            numbers.add(number)
            texts.add(f"{number:g}".casefold())
    return texts, numbers


def blank_missing_codes(frame: pd.DataFrame, texts: set[str], numbers: set[float]
                         ) -> pd.DataFrame:
    """A copy of ``frame`` whose cells equal to a missing-value code are missing."""
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    out = frame.copy()
    for column in out.columns:
        if column == geometry:
            continue
        series = out[column]
        if pd.api.types.is_bool_dtype(series):
            continue
        if pd.api.types.is_numeric_dtype(series):
            hits = series.isin(list(numbers))
        else:
            text = series.astype("string").str.strip().str.casefold()
            hits = text.isin(texts).fillna(False).to_numpy(dtype=bool)
        if not hits.any():
            continue
        blanked = series.mask(hits)
        if not pd.api.types.is_numeric_dtype(blanked):
            as_number = pd.to_numeric(blanked, errors="coerce")
            codes = blanked.dropna().astype(str).str.strip().str.match(r"[+-]?0\d")
            if (as_number.notna().sum() == blanked.notna().sum() and blanked.notna().any()
                    and not codes.any()):  # leading zeros: a code column stays text
                blanked = as_number  # numbers and a text code: numbers once the code is gone
        out[column] = blanked
    return out


def load_source(source, *, layer, encoding, crs, id_col, lon=None, lat=None
          ) -> tuple[pd.DataFrame, Origin]:
    """The raw frame of ``source`` (a path, a frame or a dask frame) and its rows' origin."""
    module = type(source).__module__
    if module.startswith("dask"):  # dask DataFrame or dask-geopandas GeoDataFrame
        frame = source.compute()
    elif isinstance(source, (gpd.GeoDataFrame, pd.DataFrame)):
        frame = source.copy()
    elif isinstance(source, (str, Path)):
        return _read_path(Path(source), layer=layer, encoding=encoding, crs=crs, id_col=id_col,
                          lon=lon, lat=lat)
    else:
        raise InputError(
            f"cannot read firms from a {type(source).__name__}; give a file path, a pandas "
            "DataFrame or a GeoDataFrame."
        )
    own_crs = isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None
    return frame, Origin("the input frame", "index", frame.index.to_numpy(), not own_crs)


def _suffix(path: Path) -> tuple[str, str | None]:
    """The format suffix and the compression named by the file name (``firms.csv.gz``)."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in _COMPRESSED and suffixes[-2] in TABLE_SUFFIXES:
        return suffixes[-2], _COMPRESSED[suffixes[-1]]
    return path.suffix.lower(), None


def _read_path(path: Path, *, layer, encoding, crs, id_col, lon=None, lat=None
               ) -> tuple[pd.DataFrame, Origin]:
    where = f"'{path}'"
    if not path.exists():
        hint = ""
        if path.parent.is_dir():
            close = difflib.get_close_matches(path.name, [p.name for p in path.parent.iterdir()],
                                              n=3, cutoff=0.6)
            if close:
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?"
        raise InputError(f"firm file '{path}' does not exist; check the path.{hint}")
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir()
                        if p.is_file() and _suffix(p)[0] in SUPPORTED_SUFFIXES)[:5]
        found = f" (it holds {', '.join(inside)})" if inside else ""
        parts = any(p.suffix.lower() in PARQUET_SUFFIXES for p in path.iterdir())
        dataset = (" For a partitioned Parquet dataset, pass "
                   "dask_geopandas.read_parquet(folder) (or geopandas.read_parquet(folder)) "
                   "instead.") if parts else ""
        raise InputError(
            f"'{path}' is a folder, not a firm file{found}; give the path of one file.{dataset}"
        )
    suffix, named_compression = _suffix(path)
    if suffix not in SUPPORTED_SUFFIXES:
        extra = (" Read it with pandas.read_excel(path) and pass the DataFrame."
                 if suffix in (".xls", ".xlsx", ".ods") else
                 " Convert it to one of these, or read it with pandas/geopandas and pass the frame.")
        raise InputError(
            f"'{path}': unsupported file type {suffix or '(no suffix)'!r}; geocluster reads "
            f"{', '.join(SUPPORTED_SUFFIXES)}.{extra}"
        )
    if layer is not None and suffix not in (".gpkg", ".gml", ".kml"):
        raise InputError(
            f"layer={layer!r} applies to multi-layer files such as a GeoPackage, but {where} "
            f"is {suffix[1:].upper()}; remove layer= (in a study: [firms] layer)."
        )
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise InputError(
            f"cannot open {where}: {exc.strerror or exc}; check that the file is readable "
            "(permissions) and not locked by another program."
        ) from None
    if size == 0:
        raise InputError(f"{where} is empty (0 bytes); there are no firms to read. "
                         "Check that the export finished.")
    try:
        if suffix in TABLE_SUFFIXES:
            frame, lines = read_table(path, suffix, where, head, named_compression, encoding,
                                      id_col)
            return frame, Origin(where, "line", lines, True)
        if suffix in LINES_SUFFIXES:
            frame = read_json_lines(path, where, encoding)
            return frame, Origin(where, "line", np.arange(len(frame)) + 1, True)
        if suffix in PARQUET_SUFFIXES:
            frame, from_arg = read_parquet(path, where, crs, decode=not (lon and lat))
        else:
            frame, from_arg = read_vector(path, suffix, where, layer, encoding, crs)
    except (InputError, CRSError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear message
        raise InputError(
            f"could not read '{path}' as {suffix[1:].upper()}: {short_error(exc)}. "
            "Check that the file is complete and of the type its name says."
        ) from None
    return frame, Origin(where, "row", np.arange(len(frame)) + 1, from_arg)
