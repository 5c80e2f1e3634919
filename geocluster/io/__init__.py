"""Reading firms: any common table or vector format -> a validated GeoDataFrame of points.

:func:`read_firms` is the front door of every analysis. It accepts a path (CSV, TSV,
Parquet, GeoParquet, GeoPackage, GeoJSON, JSON records, Shapefile, FlatGeobuf), a
pandas DataFrame, a GeoDataFrame or a dask(-geopandas) frame, and returns a new
GeoDataFrame of points whose index is a unique firm id. Every problem it finds is
an :class:`~geocluster.errors.InputError` naming the file, the column and the first
offending rows, never a pandas or numpy traceback.

Rows are named as the user counts them: for text files (CSV, TSV) by their *file line*
(the header is line 1, so the first data row is line 2); for other files as 1-based
``row N``; for frames in memory by their index label.

Text files are read as text first and a column is converted to numbers only when that
is safe: the id column, any column whose values have leading zeros (``007``, ZIP codes)
and code-like columns (``zip``, ``fips``, ``zcta``, ``geoid``, ``naics``, ``sic``,
``cbsa``, ``postcode``, ``tract``) stay text. Compressed files, ``;``/tab/``|``
separators and non-UTF-8 text (a cp1252/latin-1 fallback with a warning) are detected.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import difflib
import gzip
import io as _io
import json
import logging
import lzma
import re
import sys
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geocluster.errors import CRSError, GeoclusterWarning, InputError
from geocluster.units import far_from_bulk

__all__ = ["read_firms", "LON_NAMES", "LAT_NAMES", "ID_NAMES", "SUPPORTED_SUFFIXES"]

log = logging.getLogger("geocluster")

#: Column names recognised as longitude / x, in order of preference (case-insensitive).
LON_NAMES = ("lon", "lng", "long", "longitude", "x")
#: Column names recognised as latitude / y, in order of preference (case-insensitive).
LAT_NAMES = ("lat", "latitude", "y")
#: Column names taken for an obvious firm id (case-insensitive): read as text, and
#: duplicates are reported in a warning when ``id=`` is not given.
ID_NAMES = ("id", "firm_id", "firmid", "company_id", "companyid", "fid", "business_id",
            "establishment_id", "est_id", "uid", "duns")

_TABLE_SUFFIXES = {".csv": ",", ".txt": ",", ".tsv": "\t", ".tab": "\t"}
_PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
_JSON_SUFFIXES = (".json", ".geojson")
_LINES_SUFFIXES = (".jsonl", ".ndjson")
_VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".gml", ".kml")
_COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz"}
SUPPORTED_SUFFIXES = (
    tuple(_TABLE_SUFFIXES) + _PARQUET_SUFFIXES + _VECTOR_SUFFIXES + _LINES_SUFFIXES
)
_SHOW = 5  # offending rows named in a message
_SEPARATORS = (",", ";", "\t", "|")
_SEP_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_CODE_TOKEN = re.compile(
    r"(zip|zipcode|zip5|postcode|postal|plz|fips|statefips|countyfips|stfips|cntyfips|"
    r"zcta|zcta5|zcta5ce\d*|geoid\d*|naics\d*|sic\d*|cbsa\d*|msa|tract\d*|blkgrp)"
)
_SENTINELS = (-999.0, -9999.0, 999.0, 9999.0, -99999.0, 99999.0)
_WKB_NAMES = ("geometry", "geom", "wkb", "wkb_geometry", "the_geom", "shape", "wkt")
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"PK\x03\x04": "zip", b"\xfd7zXZ\x00": "xz"}
_OTHER_MAGIC = {b"PAR1": "a Parquet file", b"SQLite format 3\x00": "a GeoPackage/SQLite file"}


@dataclass
class _Origin:
    """Where the rows come from and how the user counts them."""

    where: str  # "'path'" or "the input frame"
    unit: str  # "line", "row" or "index"
    labels: np.ndarray  # one per row of the current frame
    crs_from_argument: bool = True  # the CRS came from crs= (not from the data)

    def at(self, mask) -> str:
        labels = self.labels[np.asarray(mask)]
        shown = ", ".join(str(v) for v in labels[:_SHOW])
        more = f" and {len(labels) - _SHOW} more" if len(labels) > _SHOW else ""
        word = self.unit if (len(labels) == 1 or self.unit == "index") else self.unit + "s"
        return f"{word} {shown}{more}"

    def subset(self, keep) -> _Origin:
        return _Origin(self.where, self.unit, self.labels[np.asarray(keep)], self.crs_from_argument)


def _warn(message: str) -> None:
    """Warn, attributed to the first caller outside this module (the user's line)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, GeoclusterWarning, stacklevel=level)


def read_firms(
    source: str | Path | pd.DataFrame | gpd.GeoDataFrame,
    *,
    lon: str | None = None,
    lat: str | None = None,
    id: str | None = None,  # noqa: A002 - the documented public name
    crs: str | int | pyproj.CRS | None = "EPSG:4326",
    on_invalid: Literal["raise", "drop"] = "raise",
    layer: str | None = None,
    encoding: str | None = None,
    na_values: Sequence[str | float] | None = None,
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
        Without it the input's index is kept (a file gets 0..n-1) and must be unique;
        a column with an obvious id name (:data:`ID_NAMES`) that has duplicates is
        reported in a warning. Ids that mix numbers and text (``1`` and ``"1"``) are
        made text; duplicates are found after that.
    crs
        CRS of the coordinate columns, and of files that carry no CRS (a shapefile
        without its ``.prj``, Parquet with WKB geometries but no geo metadata); ignored
        for inputs that carry their own CRS. Latitude/longitude range checks apply
        when it is geographic.
    on_invalid
        ``"raise"`` (default): stop at missing or out-of-range coordinates; points at
        exactly (0, 0) only give a warning. ``"drop"``: drop those rows, and points at
        (0, 0), with a warning naming their count and first rows.
    layer
        Layer to read from a multi-layer file such as a GeoPackage; a file with
        several layers and no ``layer=`` is an error that lists them.
    encoding
        Text encoding of a CSV/TSV/JSON file (or of a shapefile's attributes), e.g.
        ``"latin-1"``. Default: UTF-8, falling back to cp1252 / latin-1 with a warning.
    na_values
        Codes that mean "missing" in this register, e.g. ``[-99999, "NOT AVAILABLE"]``:
        cells equal to one of them (as a number or, stripped and case-insensitive, as
        text) become missing in every column, coordinates included (which then count as
        missing coordinates). A column that held numbers and such text codes becomes
        numeric. Empty cells are always missing.

    Returns
    -------
    GeoDataFrame
        A new frame of points with a unique index, in ``crs`` (or the input's CRS).

    Raises
    ------
    InputError
        Missing file, unreadable or unsupported format, empty table, a multi-layer
        file without ``layer=``, missing or non-numeric coordinate columns, missing or
        out-of-range coordinates (swapped latitude/longitude and metres read as
        degrees are named as such), duplicate or missing ids, non-point geometries.
    CRSError
        A GeoDataFrame without a CRS, or an unknown ``crs``.

    Warns
    -----
    GeoclusterWarning
        Dropped rows (``on_invalid="drop"``), points at (0, 0), points far from all
        the others, duplicates in an obvious id column, a compressed file named as
        plain text, a non-UTF-8 file, a file without a CRS read in ``crs``.

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
        raise InputError(f"on_invalid={on_invalid!r} is not an option; pass 'raise' or 'drop'.")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise InputError(
                f"encoding={encoding!r} is not a known text encoding; use e.g. 'utf-8', "
                "'latin-1' or 'cp1252'."
            ) from None
    missing_codes = _missing_codes(na_values)
    frame, origin = _load(source, layer=layer, encoding=encoding, crs=crs, id_col=id,
                          lon=lon, lat=lat)
    if missing_codes is not None:
        frame = _blank_missing_codes(frame, *missing_codes)
    if len(frame) == 0:
        raise InputError(
            f"{origin.where} has no rows; there are no firms to read. Check that it is the "
            "complete export (and the right layer or sheet)."
        )

    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns and (
        lon is None and lat is None
    ):
        firms, origin, coords = (*_from_geometry(frame, origin, on_invalid), None)
    else:
        crs_obj = _parse_crs(crs)
        if isinstance(frame, gpd.GeoDataFrame):
            frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        firms, origin, coords = _from_columns(frame, origin, lon, lat, crs_obj, on_invalid)

    firms = _set_id(firms, origin, id)
    firms.attrs = dict(firms.attrs)
    firms.attrs["geocluster"] = {
        "source": str(source) if isinstance(source, (str, Path)) else type(source).__name__,
        "coordinates": coords,
        "id": id,
        "n": int(len(firms)),
    }
    return firms


# --- loading -------------------------------------------------------------------------


def _missing_codes(na_values) -> tuple[set[str], set[float]] | None:
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


def _blank_missing_codes(frame: pd.DataFrame, texts: set[str], numbers: set[float]
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


def _load(source, *, layer, encoding, crs, id_col, lon=None, lat=None
          ) -> tuple[pd.DataFrame, _Origin]:
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
    return frame, _Origin("the input frame", "index", frame.index.to_numpy(), not own_crs)


def _suffix(path: Path) -> tuple[str, str | None]:
    """The format suffix and the compression named by the file name (``firms.csv.gz``)."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in _COMPRESSED and suffixes[-2] in _TABLE_SUFFIXES:
        return suffixes[-2], _COMPRESSED[suffixes[-1]]
    return path.suffix.lower(), None


def _read_path(path: Path, *, layer, encoding, crs, id_col, lon=None, lat=None
               ) -> tuple[pd.DataFrame, _Origin]:
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
        parts = any(p.suffix.lower() in _PARQUET_SUFFIXES for p in path.iterdir())
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
        if suffix in _TABLE_SUFFIXES:
            frame = _read_table(path, suffix, where, head, named_compression, encoding, id_col)
            return frame, _Origin(where, "line", frame.attrs.pop("_lines"), True)
        if suffix in _LINES_SUFFIXES:
            frame = _read_json_lines(path, where, encoding)
            return frame, _Origin(where, "line", np.arange(len(frame)) + 1, True)
        if suffix in _PARQUET_SUFFIXES:
            frame, from_arg = _read_parquet(path, where, crs, decode=not (lon and lat))
        else:
            frame, from_arg = _read_vector(path, suffix, where, layer, encoding, crs)
    except (InputError, CRSError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear message
        raise InputError(
            f"could not read '{path}' as {suffix[1:].upper()}: {_short(exc)}. "
            "Check that the file is complete and of the type its name says."
        ) from None
    return frame, _Origin(where, "row", np.arange(len(frame)) + 1, from_arg)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]


# --- text tables -----------------------------------------------------------------------


def _open_text_bytes(path: Path, compression: str | None):
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "bz2":
        return bz2.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    if compression == "zip":
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if len(names) != 1:
            raise InputError(
                f"'{path}' is a zip archive with {len(names)} files ({', '.join(names[:5])}); "
                "unpack it and give the path of the firm file."
            )
        return archive.open(names[0])
    return open(path, "rb")


def _read_table(path, suffix, where, head, named_compression, encoding, id_col) -> pd.DataFrame:
    for magic, what in _OTHER_MAGIC.items():
        if head.startswith(magic):
            right = ".parquet" if "Parquet" in what else ".gpkg"
            raise InputError(
                f"{where} is {what}, not {suffix[1:].upper()} text; rename it to end in "
                f"{right} (or give the right file)."
            )
    compression = next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)
    try:
        with _open_text_bytes(path, compression) as handle:
            sample = handle.read(1 << 16)
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raise InputError(
            f"{where} looks {compression}-compressed but cannot be decompressed ({_short(exc)}); "
            "check that the file is complete."
        ) from None
    if compression is not None and named_compression is None:
        _warn(
            f"{where} is {compression}-compressed although its name ends in {suffix}; read it "
            f"as compressed {suffix[1:].upper()}. Rename it to {path.name}"
            f"{'.gz' if compression == 'gzip' else '.' + compression} to say so."
        )
    if not sample.strip():
        raise InputError(f"{where} is empty; there are no firms to read. Check the export.")
    enc = encoding or "utf-8-sig"
    if encoding is None and sample[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        enc = "utf-16"
    elif b"\x00" in sample[:4096] and not enc.lower().replace("-", "").startswith(("utf16", "utf32")):
        raise InputError(
            f"{where} holds binary data (NUL bytes), not {suffix[1:].upper()} text; give the "
            "firm table itself, or pass encoding= if it is UTF-16/UTF-32 text without a BOM."
        )
    text = sample.decode(enc, errors="replace")
    sep = _sniff_separator(text, _TABLE_SUFFIXES[suffix], truncated=len(sample) == 1 << 16)
    if sep != _TABLE_SUFFIXES[suffix]:
        log.info("read_firms: %s is %s-separated", where, _SEP_NAMES[sep])
    keep_text = {id_col} if id_col is not None else set()

    used = [enc]

    def parse(chosen):
        used[0] = chosen
        return pd.read_csv(
            path, sep=sep, dtype=str, encoding=chosen, compression=compression,
            skip_blank_lines=False, low_memory=False,
        )

    try:
        try:
            frame = parse(enc)
        except UnicodeDecodeError:
            line = _first_bad_line(path, compression, enc)
            if encoding is not None:
                raise InputError(
                    f"{where} is not valid {encoding} text (first bad byte on line {line}); "
                    "pass the file's encoding, e.g. encoding='cp1252' or encoding='latin-1'."
                ) from None
            fallback = "cp1252"
            try:
                frame = parse(fallback)
            except UnicodeDecodeError:
                fallback = "latin-1"
                frame = parse(fallback)
            _warn(
                f"{where} is not UTF-8 (first non-UTF-8 byte on line {line}); read it as "
                f"{fallback} (Windows/Latin-1). If accented names look wrong, pass the "
                "file's encoding, e.g. encoding='latin-1' (in a study: [firms] encoding)."
            )
    except pd.errors.EmptyDataError:
        raise InputError(f"{where} is empty; there are no firms to read. Check the export.") from None
    except pd.errors.ParserError as exc:
        raise InputError(_parser_message(where, str(exc), sep)) from None
    lines = _record_lines(path, compression, used[0], sep, len(frame))
    blank = frame.isna().all(axis=1).to_numpy()
    if blank.any():
        frame = frame.loc[~blank]
        lines = lines[~blank]
    frame = _convert_text_columns(frame.reset_index(drop=True), keep_text)
    frame.attrs["_lines"] = lines
    return frame


def _record_lines(path: Path, compression, encoding: str, sep: str, n: int) -> np.ndarray:
    """The file line on which each of the ``n`` records starts (the header is line 1).

    Usually record ``i`` is on line ``i + 2``; quoted values with line breaks move the
    later records down, and then the lines are counted with a CSV reader.
    """
    simple = np.arange(n) + 2
    newlines, last = 0, b"\n"
    with _open_text_bytes(path, compression) as handle:
        while chunk := handle.read(1 << 22):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    physical = newlines + (last not in (b"\n", b""))
    if physical <= n + 1:
        return simple
    try:
        with _open_text_bytes(path, compression) as raw:
            reader = csv.reader(_io.TextIOWrapper(raw, encoding=encoding, newline=""),
                                delimiter=sep)
            next(reader, None)
            starts, previous = [], reader.line_num
            for _ in reader:
                starts.append(previous + 1)
                previous = reader.line_num
    except (csv.Error, UnicodeDecodeError):  # pragma: no cover - pandas read it already
        return simple
    return np.asarray(starts[:n]) if len(starts) >= n else simple


def _sniff_separator(text: str, default: str, *, truncated: bool) -> str:
    """The separator of a text table: the default if consistent, else the best candidate.

    A candidate is scored by the number of fields it gives the header and the share of
    the first lines that have that many fields (a ragged line is then named by the parser).
    """
    lines = text.splitlines()
    if truncated and len(lines) > 1:
        lines = lines[:-1]  # the last line of a sample may be cut
    lines = [ln for ln in lines[:50] if ln.strip()]
    if not lines:
        return default
    best, best_score = default, (0.0, 0)
    for candidate in (default, *(s for s in _SEPARATORS if s != default)):
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=candidate)]
        except csv.Error:
            continue
        header = counts[0]
        if header < 2:
            continue
        share = sum(c == header for c in counts) / len(counts)
        if candidate == default and share == 1.0:
            return default
        if (share, header) > best_score:
            best, best_score = candidate, (share, header)
    return best


def _parser_message(where: str, message: str, sep: str) -> str:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    name = _SEP_NAMES.get(sep, repr(sep))
    if found:
        expected, line, saw = found.groups()
        return (
            f"{where}: line {line} has {saw} fields where the header has {expected} "
            f"({name}-separated); fix that line, or quote values that contain a {name}."
        )
    return (
        f"{where} cannot be parsed as a {name}-separated table ({message.strip()[:200]}); check "
        "the separator and quoting."
    )


def _first_bad_line(path: Path, compression, encoding: str) -> int | str:
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    try:
        with _open_text_bytes(path, compression) as handle:
            while chunk := handle.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    return line + chunk.count(b"\n", 0, max(exc.start, 0))
                line += chunk.count(b"\n")
    except (OSError, LookupError):  # pragma: no cover - the read itself failed before
        return "?"
    return "?"


def _is_code_name(name) -> bool:
    """True for column names of codes that must stay text (ZIP, FIPS, ZCTA, NAICS, ...)."""
    tokens = re.split(r"[^a-z0-9]+", str(name).lower())
    return any(_CODE_TOKEN.fullmatch(t) for t in tokens if t)


def _convert_text_columns(frame: pd.DataFrame, keep_text: set) -> pd.DataFrame:
    """Convert the columns of an all-text table to numbers (or booleans) where safe."""
    out = {}
    for col in frame.columns:
        values = frame[col]
        if col in keep_text or str(col).lower() in ID_NAMES or _is_code_name(col):
            out[col] = values
            continue
        present = values.dropna().str.strip()
        if present.empty:
            out[col] = pd.to_numeric(values, errors="coerce")
            continue
        if present.str.match(r"^[+-]?0\d").any() or present.str.fullmatch(r"[+-]?\d{16,}").any():
            out[col] = values  # leading zeros, or integers too long for exact numbers
            continue
        numbers = pd.to_numeric(present, errors="coerce")
        if numbers.notna().all():
            out[col] = pd.to_numeric(values.str.strip(), errors="coerce")
            continue
        lowered = present.str.lower()
        if values.notna().all() and lowered.isin(["true", "false"]).all():
            out[col] = lowered.eq("true")
            continue
        out[col] = values
    result = pd.DataFrame(out, index=frame.index)
    result.columns = frame.columns
    return result


def _read_json_lines(path: Path, where: str, encoding) -> pd.DataFrame:
    try:
        frame = pd.read_json(path, lines=True, dtype=False, encoding=encoding or "utf-8")
    except ValueError as exc:
        raise InputError(
            f"{where} is not newline-delimited JSON ({_short(exc)}); give one JSON object per line."
        ) from None
    return frame


# --- parquet ---------------------------------------------------------------------------


def _read_parquet(path: Path, where: str, crs, *, decode: bool = True) -> tuple[pd.DataFrame, bool]:
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
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad)[:_SHOW])
        raise InputError(
            f"{where}: column {column!r} holds {kind} geometries, but {int(bad.sum())} values "
            f"cannot be decoded (rows {rows}); fix them, or pass lon= and lat= columns instead."
        )
    if crs is None:
        raise CRSError(
            f"{where} has {kind} geometries in column {column!r} but no GeoParquet metadata, so "
            "no CRS; pass the CRS they are in, e.g. crs='EPSG:4326'."
        )
    _warn(
        f"{where} is plain Parquet (no GeoParquet metadata); decoded its {kind} column "
        f"{column!r} as geometries in crs={_crs_label(crs)} (the crs= argument). Pass crs= if "
        "they are in another CRS; write files with GeoDataFrame.to_parquet to keep the CRS."
    )
    frame = frame.drop(columns=column)
    return gpd.GeoDataFrame(frame, geometry=decoded, crs=crs), True


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


# --- vector files ----------------------------------------------------------------------


def _read_vector(path, suffix, where, layer, encoding, crs) -> tuple[pd.DataFrame, bool]:
    if suffix in _JSON_SUFFIXES:
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
        if suffix in _JSON_SUFFIXES:
            _json_records(path, where, encoding, parse=True)  # raises the specific problem
        raise
    if frame.crs is None and frame.geometry.notna().any():
        what = ("a shapefile without its .prj file" if suffix == ".shp" else "a file without a CRS")
        if crs is None:
            raise CRSError(
                f"{where} is {what}; pass the CRS its coordinates are in, e.g. crs='EPSG:4326'."
            )
        _warn(
            f"{where} is {what}; read its coordinates in crs={_crs_label(crs)} (the crs= "
            "argument). If that is not their CRS, pass the right one, e.g. crs='EPSG:5070'."
        )
        frame = frame.set_crs(_parse_crs(crs))
        return frame, True
    if len(frame) == 0 and suffix in _JSON_SUFFIXES:
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


def _crs_label(crs) -> str:
    try:
        epsg = pyproj.CRS.from_user_input(crs).to_epsg()
    except pyproj.exceptions.CRSError:
        return repr(crs)
    return f"'EPSG:{epsg}'" if epsg else repr(str(crs))


# --- coordinates from columns ----------------------------------------------------------


def _find_column(frame: pd.DataFrame, given: str | None, names: Sequence[str], what: str,
                 where: str) -> str:
    if given is not None:
        if given not in frame.columns:
            option = "lon" if what == "longitude" else "lat"
            close = difflib.get_close_matches(str(given), [str(c) for c in frame.columns], n=1)
            hint = f" Did you mean {option}={close[0]!r}?" if close else ""
            raise InputError(
                f"{where}: the {what} column {given!r} does not exist; columns are "
                f"{_columns(frame)}. Name one of them with {option}=.{hint}"
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
        seps = [_SEP_NAMES[s] for s in _SEPARATORS if s in header]
        if seps:
            hint = (f" The only column, {header[:60]!r}, contains {seps[0]}s: the file may use "
                    f"another separator than the one its name suggests.")
    raise InputError(
        f"{where}: no {what} column found (looked for {', '.join(names)}, any case); "
        f"columns are {_columns(frame)}. Name it with {'lon' if what == 'longitude' else 'lat'}=."
        + hint
    )


def _numeric(frame: pd.DataFrame, column: str, origin: _Origin) -> pd.Series:
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
            _warn(
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


def _from_columns(frame, origin: _Origin, lon, lat, crs: pyproj.CRS, on_invalid):
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


def _check_coordinates(x, y, crs: pyproj.CRS, origin: _Origin, on_invalid, columns,
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
        _warn(
            f"read_firms dropped {int(invalid.sum())} of {n} rows from {where}: "
            + "; ".join(reasons) + "."
        )
    keep = ~invalid
    if null.any() and on_invalid == "raise":
        _warn(
            f"{where}: {int(null.sum())} of {n} firms are at exactly (0, 0) ('null island', "
            f"{origin.at(null)}), which is what failed geocoding gives. Fix their geocoding, "
            "or pass on_invalid='drop' to drop them."
        )
    _warn_far(x, y, keep & ~null, crs, origin)
    _warn_constant(x, y, keep, origin, columns)
    _warn_degrees_in_projected(x, y, keep, crs, origin)
    return keep


def _warn_degrees_in_projected(x, y, keep, crs: pyproj.CRS, origin: _Origin) -> None:
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
    _warn(
        f"{origin.where}: all {int(keep.sum())} firms have coordinates within +-180 / +-90 "
        f"although the CRS {_crs_label(crs)} is projected (units of "
        f"{crs.axis_info[0].unit_name}), so they lie within a few hundred units of its "
        f"origin: they look like degrees and the CRS may be wrong; {remedy}."
    )


def _diagnose_range(x, y, present, bad_lat, bad_lon, crs, origin: _Origin, columns) -> None:
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
            f"{_crs_label(crs)} may be wrong: {remedy}."
        )


def _warn_far(x, y, usable, crs: pyproj.CRS, origin: _Origin) -> None:
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
    _warn(
        f"{origin.where}: {int(far.sum())} of {int(usable.sum())} firms lie far from all the "
        f"others ({origin.at(far)}; e.g. {x[i]:.6g}, {y[i]:.6g}). Check their geocoding; they "
        "are kept, but do not move the automatic metric CRS."
    )


def _warn_constant(x, y, keep, origin: _Origin, columns) -> None:
    """Warn when one coordinate is the same for every firm while the other varies."""
    if keep.sum() < 10:
        return
    kx, ky = x[keep], y[keep]
    same_x, same_y = bool(np.all(kx == kx[0])), bool(np.all(ky == ky[0]))
    if same_x == same_y:
        return
    col = (columns or ("x", "y"))[0 if same_x else 1]
    value = kx[0] if same_x else ky[0]
    _warn(
        f"{origin.where}: every firm has the same {col!r} ({value:g}, {int(keep.sum())} rows) "
        f"while the other coordinate varies; is it the right coordinate column? Name it with "
        f"{'lon' if same_x else 'lat'}=."
    )


# --- coordinates from a GeoDataFrame ---------------------------------------------------


def _from_geometry(frame: gpd.GeoDataFrame, origin: _Origin, on_invalid):
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


# --- ids -------------------------------------------------------------------------------


def _normalise_ids(ids: pd.Series, column, where: str) -> pd.Series:
    """One type for an id column: text when numbers and text are mixed."""
    if ids.dtype != object:
        return ids
    kind = pd.api.types.infer_dtype(ids, skipna=True)
    if kind not in ("mixed", "mixed-integer"):  # text and numbers (or other objects)
        return ids
    present = ids.dropna()

    def text(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return v
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v)

    numbers = int(sum(isinstance(v, (int, float, np.number)) for v in present))
    _warn(
        f"{where}: id column {column!r} mixes numbers and text ({numbers} of {len(present)} "
        "ids are numbers); all ids are now text (1 -> '1'), so that 1 and '1' are one firm. "
        "Store the ids as text to avoid this."
    )
    return ids.map(text).astype(object)


def _set_id(firms: gpd.GeoDataFrame, origin: _Origin, id_col: str | None) -> gpd.GeoDataFrame:
    where = origin.where
    if id_col is None:
        obvious = next((c for c in firms.columns
                        if str(c).lower() in ID_NAMES and c != firms.geometry.name), None)
        if obvious is not None:
            original = firms[obvious]
            ids = _normalise_ids(original, obvious, where)
            if ids is not original:
                firms = firms.copy()
                firms[obvious] = ids
            dup_mask = ids.duplicated(keep=False).to_numpy() & ids.notna().to_numpy()
            if dup_mask.any():
                values = ids[dup_mask].unique()[:_SHOW].tolist()
                _warn(
                    f"{where}: column {obvious!r} looks like a firm id but has "
                    f"{int(ids[ids.notna()].duplicated().sum())} duplicate values (e.g. {values} "
                    f"at {origin.at(dup_mask)}). Fix them, or pass id={obvious!r} to make it the "
                    "index (it must then be unique)."
                )
        if not firms.index.is_unique:
            dup = firms.index[firms.index.duplicated()].unique()[:_SHOW].tolist()
            raise InputError(
                f"{where}: the index has duplicate labels (e.g. {dup}) and no id= column was "
                "named. Pass id='<column with a unique firm id>' or reset the index."
            )
        return firms
    if id_col not in firms.columns:
        raise InputError(
            f"{where}: the id column {id_col!r} does not exist; columns are {_columns(firms)}. "
            "Name an existing column with id=, or leave id=None."
        )
    ids = _normalise_ids(firms[id_col], id_col, where)
    missing = ids.isna().to_numpy()
    if pd.api.types.is_string_dtype(ids) or ids.dtype == object:
        missing = missing | (ids.astype("string").str.strip() == "").fillna(False).to_numpy(dtype=bool)
    if missing.any():
        raise InputError(
            f"{where}: id column {id_col!r} is missing for {int(missing.sum())} rows "
            f"({origin.at(missing)}); every firm needs an id. Fill them in, or drop those rows."
        )
    dup_mask = ids.duplicated(keep=False).to_numpy()
    if dup_mask.any():
        values = ids[dup_mask].unique()[:_SHOW].tolist()
        raise InputError(
            f"{where}: id column {id_col!r} has {int(ids.duplicated().sum())} duplicate ids "
            f"(e.g. {values} at {origin.at(dup_mask)}); ids must be unique. Fix the duplicates "
            "or name another id column."
        )
    out = firms.copy()
    out[id_col] = ids
    out.index = pd.Index(ids.to_numpy(), name=None)
    return out


def _columns(frame: pd.DataFrame) -> list[str]:
    cols = [str(c) for c in frame.columns]
    return cols if len(cols) <= 20 else cols[:20] + ["..."]

