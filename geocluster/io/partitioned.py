"""``read_firms(path, engine="dask")``: a folder or glob of (Geo)Parquet files, or large CSVs,
as a validated ``dask_geopandas.GeoDataFrame``.

The register is cut into *pieces*: one per Parquet file (or small / compressed CSV), and
newline-aligned byte blocks of a large uncompressed CSV. Each piece is read and checked by the
in-memory readers of :mod:`geocluster.io` (``load_source``, ``from_columns`` /
``from_geometry``, ``set_id``), so its rows are named as the user counts them (``'part.3.parquet'
row 17``, ``'firms.csv' line 1204``). Reading runs one validation pass over the pieces, in
parallel on the active ``distributed.Client`` (or dask's local scheduler): only per-piece counts
and messages come back, then duplicate ids across pieces are found from 64-bit hashes of the ids
(8 bytes a firm, confirmed on the ids themselves); the frame returned is lazy and repeats the
per-piece checks silently.
"""

from __future__ import annotations

import glob
import io as _io
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster._base.engine import dask_progress, require_dask
from geocluster._base.optional import import_optional
from geocluster.errors import GeoclusterWarning, InputError
from geocluster.io.common import ID_NAMES, SEPARATORS, Origin, parse_crs, warn_user
from geocluster.io.coordinates import from_columns, from_geometry
from geocluster.io.ids import set_id
from geocluster.io.load import blank_missing_codes, load_source
from geocluster.io.spatial import PARQUET_SUFFIXES
from geocluster.io.text import MAGIC, TABLE_SUFFIXES

__all__ = ["DEFAULT_BLOCKSIZE", "Piece", "ReadOptions", "read_firms_dask", "plan_pieces",
           "piece_firms"]

#: Bytes per partition of a large uncompressed CSV.
DEFAULT_BLOCKSIZE = 128 * 2**20
#: Problems shown in a message; the others are counted.
SHOW_PIECES = 3
#: Data lines of a CSV read by the in-memory reader to decide the column types.
HEAD_LINES = 2000
_INDEX = "__geocluster_index__"


@dataclass(frozen=True)
class ReadOptions:
    """The ``read_firms`` arguments a piece needs (picklable, sent to the workers)."""

    lon: str | None
    lat: str | None
    id: str | None
    crs: object
    on_invalid: str
    encoding: str | None
    missing_codes: tuple | None


@dataclass(frozen=True)
class Piece:
    """One partition: a whole file, or bytes ``[start, stop)`` of a CSV (``sep``, ``header``)."""

    path: str
    offset: int = 0  # data rows of the register before this piece (the default index)
    start: int = 0
    stop: int = 0
    first_line: int = 2
    sep: str = ","
    header: tuple[str, ...] = ()
    dtypes: tuple[tuple[str, str], ...] = ()

    @property
    def is_block(self) -> bool:
        return self.stop > 0


def _files(source: str | Path) -> list[Path]:
    """The Parquet or CSV files of a folder, a glob or one path, sorted."""
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
             "csv" if _table_suffix(p) else "other" for p in found}
    usable = [p for p in found if _table_suffix(p) or p.suffix.lower() in PARQUET_SUFFIXES]
    if not usable:
        raise InputError(
            f"read_firms(engine='dask'): '{source}' holds no Parquet or CSV file "
            f"({len(found)} other files); engine='dask' reads (Geo)Parquet and CSV/TSV.")
    if {"parquet", "csv"} <= kinds:
        raise InputError(f"read_firms(engine='dask'): '{source}' mixes Parquet and CSV files; "
                         "give a glob that selects one kind, e.g. 'folder/*.parquet'.")
    return usable


def _table_suffix(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    for s in reversed(suffixes[-2:]):
        if s in TABLE_SUFFIXES:
            return s
    return None


def _csv_pieces(path: Path, blocksize: int, opts: ReadOptions) -> list[Piece]:
    """Newline-aligned blocks of an uncompressed CSV (one piece for a small/compressed one)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(16)
        compressed = any(head.startswith(m) for m in MAGIC)
        if compressed or size <= blocksize:
            return [Piece(str(path))]
        handle.seek(0)
        header_line = handle.readline()
        bounds = [handle.tell()]
        while bounds[-1] < size:
            handle.seek(min(bounds[-1] + blocksize, size))
            if handle.tell() < size:
                handle.readline()
            bounds.append(min(handle.tell(), size))
    encoding = opts.encoding or "utf-8-sig"
    header_text = header_line.decode(encoding, errors="replace").rstrip("\r\n")
    default = TABLE_SUFFIXES[_table_suffix(path) or ".csv"]
    sep = default if default in header_text else next(
        (s for s in SEPARATORS if s in header_text), default)
    header = tuple(pd.read_csv(_io.StringIO(header_text + "\n"), sep=sep,
                               dtype=str).columns.map(str))
    dtypes = _head_dtypes(path, header_line, bounds[0], opts)
    dask = import_optional("dask", "dask", "read_firms(engine='dask')")
    counts = dask.compute(*[dask.delayed(_count_newlines)(str(path), a, b)
                            for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    before = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
    return [Piece(str(path), offset=int(b), start=int(a), stop=int(z), first_line=2 + int(b),
                  sep=sep, header=header, dtypes=dtypes)
            for a, z, b in zip(bounds[:-1], bounds[1:], before, strict=True)]


def _head_dtypes(path: Path, header_line: bytes, start: int, opts: ReadOptions
                 ) -> tuple[tuple[str, str], ...]:
    """Column types the in-memory reader gives the first :data:`HEAD_LINES` data lines."""
    with open(path, "rb") as handle:
        handle.seek(start)
        lines = [handle.readline() for _ in range(HEAD_LINES)]
    with tempfile.TemporaryDirectory() as folder:
        sample = Path(folder) / ("head" + "".join(path.suffixes))
        sample.write_bytes(header_line + b"".join(lines))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame, _ = load_source(sample, layer=None, encoding=opts.encoding, crs=opts.crs,
                                   id_col=opts.id, lon=opts.lon, lat=opts.lat)
    kinds = {"b": "bool", "i": "float", "u": "float", "f": "float"}
    return tuple((str(c), kinds.get(frame[c].dtype.kind, "text")) for c in frame.columns)


def _count_newlines(path: str, start: int, stop: int) -> int:
    count, position = 0, start
    with open(path, "rb") as handle:
        handle.seek(start)
        while position < stop:
            chunk = handle.read(min(1 << 24, stop - position))
            if not chunk:
                break
            count += chunk.count(b"\n")
            position += len(chunk)
    return count


def plan_pieces(source: str | Path, opts: ReadOptions, blocksize: int) -> list[Piece]:
    """The pieces of a register, with the number of data rows before each (its offset)."""
    pieces: list[Piece] = []
    for path in _files(source):
        if path.suffix.lower() in PARQUET_SUFFIXES:
            pieces.append(Piece(str(path)))
        else:
            pieces.extend(_csv_pieces(path, blocksize, opts))
    return pieces


def _block_frame(piece: Piece, opts: ReadOptions) -> tuple[pd.DataFrame, Origin]:
    where = f"'{piece.path}'"
    with open(piece.path, "rb") as handle:
        handle.seek(piece.start)
        data = handle.read(piece.stop - piece.start)
    last = piece.first_line + data.count(b"\n") - 1
    try:
        frame = pd.read_csv(_io.BytesIO(data), sep=piece.sep, header=None,
                            names=list(piece.header), dtype=str, skip_blank_lines=False,
                            encoding=opts.encoding or "utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{where}: lines {piece.first_line}-{last} are not valid "
                         f"{opts.encoding or 'UTF-8'} text; pass the file's encoding, e.g. "
                         "encoding='latin-1'.") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{where}: lines {piece.first_line}-{last} cannot be parsed "
                         f"({str(exc).strip()[:200]}); with engine='dask' a CSV is split at line "
                         "breaks, so values may not contain line breaks.") from None
    lines = piece.first_line + np.arange(len(frame))
    blank = frame.isna().all(axis=1).to_numpy()
    frame, lines = frame.loc[~blank], lines[~blank]
    frame.index = piece.offset + np.arange(len(frame))
    origin = Origin(where, "line", lines, True)
    for column, kind in piece.dtypes:
        if kind == "text" or column not in frame.columns:
            continue
        text = frame[column].str.strip()
        if kind == "bool":
            frame[column] = text.str.lower().eq("true")
            continue
        values = pd.to_numeric(text, errors="coerce")
        bad = (values.isna() & text.notna()).to_numpy()
        if bad.any():
            raise InputError(
                f"{where}: column {column!r} holds numbers in the first {HEAD_LINES} lines but "
                f"text at {origin.at(bad)} (e.g. {text[bad].iloc[0]!r}); fix those values, or "
                "read the file in memory (engine='local'), which keeps such a column as text.")
        frame[column] = values
    return frame, origin


def _raw_piece(piece: Piece, opts: ReadOptions) -> tuple[pd.DataFrame, Origin]:
    if piece.is_block:
        return _block_frame(piece, opts)
    frame, origin = load_source(Path(piece.path), layer=None, encoding=opts.encoding,
                                crs=opts.crs, id_col=opts.id, lon=opts.lon, lat=opts.lat)
    frame.index = piece.offset + np.arange(len(frame))
    return frame, origin


def piece_firms(piece: Piece, opts: ReadOptions) -> gpd.GeoDataFrame:
    """The validated firms of one piece, as :func:`~geocluster.io.read_firms` checks a file.

    Raises the in-memory reader's :class:`~geocluster.errors.InputError` (naming the file
    and its rows) and emits its warnings; an empty piece gives an empty frame of points.
    The index is ``piece.offset`` + the row's position in the piece.
    """
    return _piece(piece, opts)[0]


def _piece(piece: Piece, opts: ReadOptions) -> tuple[gpd.GeoDataFrame, int]:
    """The validated firms of one piece and the number of (non-blank) rows read."""
    frame, origin = _raw_piece(piece, opts)
    rows = len(frame)
    if opts.missing_codes is not None:
        frame = blank_missing_codes(frame, *opts.missing_codes)
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns and (
            opts.lon is None and opts.lat is None):
        if rows == 0:
            return frame, 0
        firms, origin = from_geometry(frame, origin, opts.on_invalid)
    else:
        crs = parse_crs(opts.crs)
        if isinstance(frame, gpd.GeoDataFrame):
            frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        if rows == 0:
            return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=crs), crs=crs), 0
        firms, origin, _ = from_columns(frame, origin, opts.lon, opts.lat, crs, opts.on_invalid)
    return set_id(firms, origin, opts.id), rows


def _quiet_firms(piece: Piece, opts: ReadOptions, meta: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """:func:`piece_firms` without warnings (the validation pass reported them), as ``meta``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoclusterWarning)
        firms = piece_firms(piece, opts)
    if list(firms.columns) != list(meta.columns):
        raise InputError(
            f"'{piece.path}' has columns {list(firms.columns)[:20]} but the first file of the "
            f"register has {list(meta.columns)[:20]}; every file of a register needs the same "
            "columns.")
    if len(firms) == 0:
        return meta
    return firms.astype(meta.dtypes.to_dict()) if (firms.dtypes != meta.dtypes).any() else firms


def _report(piece: Piece, opts: ReadOptions) -> dict:
    """Rows read and kept, warnings and the error of one piece (what reaches the client)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GeoclusterWarning)
        try:
            firms, rows = _piece(piece, opts)
        except InputError as exc:
            return {"error": str(exc), "rows": 0, "kept": 0, "warnings": []}
    # a copy of the empty slice: the slice itself would keep the whole piece alive
    return {"error": None, "rows": rows, "kept": int(len(firms)), "meta": firms.iloc[:0].copy(),
            "warnings": [str(w.message) for w in caught
                         if issubclass(w.category, GeoclusterWarning)]}


def _register_meta(reports: Sequence[dict]) -> gpd.GeoDataFrame:
    """The empty frame with the columns and types of the register (its first non-empty piece)."""
    for report in reports:
        if report["kept"]:
            return report["meta"]
    raise InputError("read_firms(engine='dask'): no partition of the register has a firm; "
                     "every file is empty (or every row was dropped).")


def _piece_ids(piece: Piece, opts: ReadOptions, column: str) -> pd.Series:
    """The ids of the firms a piece keeps; of a Parquet file just that column when no row
    can be dropped (``on_invalid="raise"`` and the validation pass raised nothing)."""
    if not piece.is_block and Path(piece.path).suffix.lower() in PARQUET_SUFFIXES and (
            opts.on_invalid == "raise"):
        values = pd.read_parquet(piece.path, columns=[column])[column]
        return values.set_axis(piece.offset + np.arange(len(values)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoclusterWarning)
        return pd.Series(piece_firms(piece, opts)[column].to_numpy(), name=column)


def _validate(pieces: list[Piece], opts: ReadOptions, dask) -> list[dict]:
    """Run the checks on every piece; raise with counts over all pieces, warn once."""
    tasks = [dask.delayed(_report)(p, opts) for p in pieces]
    dask_progress(tasks, label="read_firms(engine='dask'): checking partitions")
    reports = list(dask.compute(*tasks))
    bad = [r["error"] for r in reports if r["error"]]
    if bad:
        shown = "\n  ".join(bad[:SHOW_PIECES])
        more = f"\n  ... and {len(bad) - SHOW_PIECES} more" if len(bad) > SHOW_PIECES else ""
        raise InputError(f"read_firms(engine='dask'): {len(bad)} of {len(pieces)} partitions "
                         f"have invalid rows:\n  {shown}{more}")
    messages = [m for r in reports for m in r["warnings"]]
    if messages:
        hit = sum(bool(r["warnings"]) for r in reports)
        shown = "\n  ".join(messages[:SHOW_PIECES])
        more = (f"\n  ... and {len(messages) - SHOW_PIECES} more" if len(messages) > SHOW_PIECES
                else "")
        dropped = sum(r["rows"] - r["kept"] for r in reports)
        total = sum(r["rows"] for r in reports)
        lead = f"dropped {dropped} of {total} rows; " if dropped else ""
        warn_user(f"read_firms(engine='dask'): {lead}{len(messages)} warnings in {hit} of "
                  f"{len(pieces)} partitions:\n  {shown}{more}")
    return reports


def _id_hashes(piece: Piece, opts: ReadOptions, column: str) -> np.ndarray:
    """64-bit hashes of the present ids of a piece (8 bytes a firm reach the client)."""
    values = _piece_ids(piece, opts, column).dropna()
    return pd.util.hash_pandas_object(values, index=False).to_numpy()


def _ids_with_hash(piece: Piece, opts: ReadOptions, column: str, hashes: np.ndarray) -> list:
    values = _piece_ids(piece, opts, column).dropna()
    hit = np.isin(pd.util.hash_pandas_object(values, index=False).to_numpy(), hashes)
    return values[hit].tolist()


def _check_duplicates(pieces, opts, column, explicit: bool, dask) -> None:
    """Duplicate values of the id column over the whole register.

    The pieces send 64-bit hashes of their ids; equal hashes are then confirmed on the ids
    themselves (a second pass over the pieces that have them), so a hash collision is never
    reported as a duplicate. Memory: 8 bytes a firm in this process, no shuffle.
    """
    parts = dask.compute(*[dask.delayed(_id_hashes)(p, opts, column) for p in pieces])
    hashes = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)
    repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    if len(repeated) == 0:
        return
    found = dask.compute(*[dask.delayed(_ids_with_hash)(p, opts, column, repeated)
                           for p, h in zip(pieces, parts, strict=True)
                           if np.isin(h, repeated).any()])
    counts = pd.Series([v for values in found for v in values], dtype=object).value_counts()
    duplicated = counts[counts > 1]
    if duplicated.empty:  # only hash collisions
        return
    extra = int((duplicated - 1).sum())
    examples = duplicated.index[:5].tolist()
    if explicit:
        raise InputError(
            f"read_firms(engine='dask'): id column {column!r} has {extra} duplicate "
            f"ids across the partitions (e.g. {examples}); ids must be unique over the whole "
            "register. Fix the duplicates or name another id column.")
    warn_user(f"read_firms(engine='dask'): column {column!r} looks like a firm id but has "
              f"{extra} duplicate values across the partitions (e.g. {examples}). "
              f"Fix them, or pass id={column!r} to make it the index (it must then be unique).")


def _spatial(frame, dask_geopandas):
    """Hilbert-sorted spatial partitions; the firm index is kept (spatial_shuffle replaces it)."""
    keep = frame.map_partitions(lambda part: part.assign(**{_INDEX: part.index}))
    shuffled = keep.spatial_shuffle(by="hilbert")
    restored = shuffled.map_partitions(
        lambda part: part.set_index(_INDEX).rename_axis(None))
    restored.spatial_partitions = shuffled.spatial_partitions
    return restored


def read_firms_dask(
    source: str | Path,
    *,
    lon: str | None = None,
    lat: str | None = None,
    id: str | None = None,  # noqa: A002 - the documented public name
    crs=None,
    on_invalid: str = "raise",
    encoding: str | None = None,
    missing_codes: tuple | None = None,
    spatial_partitions: bool = False,
    blocksize: int = DEFAULT_BLOCKSIZE,
):
    """The dask path of :func:`geocluster.io.read_firms` (arguments checked there)."""
    require_dask("read_firms(engine='dask')")
    dask = import_optional("dask", "dask", "read_firms(engine='dask')")
    dd = import_optional("dask.dataframe", "dask", "read_firms(engine='dask')")
    dask_geopandas = import_optional("dask_geopandas", "dask", "read_firms(engine='dask')")
    opts = ReadOptions(lon, lat, id, crs, on_invalid, encoding, missing_codes)
    pieces = plan_pieces(source, opts, blocksize)
    reports = _validate(pieces, opts, dask)
    # number the rows over the register, in file order, as the in-memory reader numbers a file
    offsets = np.concatenate([[0], np.cumsum([r["rows"] for r in reports])[:-1]]).astype(int)
    pieces = [replace(p, offset=int(o)) for p, o in zip(pieces, offsets, strict=True)]
    meta = _register_meta(reports)
    kept = [r["kept"] for r in reports]
    divisions = None
    if id is None and all(kept):
        last = pieces[-1].offset + reports[-1]["rows"] - 1
        divisions = [p.offset for p in pieces] + [int(last)]
    frame = dd.from_map(_quiet_firms, pieces, args=(opts, meta), meta=meta,
                        divisions=divisions, label="read-firms", enforce_metadata=False)
    frame = dask_geopandas.from_dask_dataframe(frame) if not hasattr(
        frame, "spatial_partitions") else frame
    check = id if id is not None else next(
        (c for c in meta.columns if str(c).lower() in ID_NAMES and c != meta.geometry.name), None)
    if check is not None:
        _check_duplicates(pieces, opts, check, id is not None, dask)
    return _spatial(frame, dask_geopandas) if spatial_partitions else frame
