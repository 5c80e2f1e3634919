"""``read_firms(path, engine="dask")``: a folder or glob of (Geo)Parquet files, or large CSVs,
as a validated ``dask_geopandas.GeoDataFrame``.

The register is cut into *pieces*: one per Parquet file (or small / compressed CSV), and
newline-aligned byte blocks of a large uncompressed CSV. Each piece is read and checked by the
in-memory readers of :mod:`geocluster.io` (``load_source``, ``from_columns`` /
``from_geometry``, ``set_id``), so its rows are named as the user counts them (``'part.3.parquet'
row 17``, ``'firms.csv' line 1204``). Reading runs one validation pass over the pieces, in
parallel on the active ``distributed.Client`` (or dask's local scheduler): only per-piece counts,
messages, the rows dropped (a packed mask, when any) and 64-bit hashes of the ids come back
(8 bytes a firm); duplicate ids across pieces are found from the hashes and confirmed on the ids
themselves. The frame returned is lazy: a step that selects columns
(``firms[[firms.geometry.name, "industry"]]``) reads only those (dask pushes the selection into
:func:`firms_columns`), a checked piece is read again without repeating the checks, and
``len(firms)`` is the pass's count. The files must not change after ``read_firms``: a changed
row count is an error naming the file, other changes go unseen (as with ``dd.read_parquet``).
"""

from __future__ import annotations

import io as _io
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster._base.engine import dask_progress, require_dask
from geocluster._base.optional import import_optional
from geocluster.errors import GeoclusterWarning, InputError
from geocluster.io.common import (
    ID_NAMES,
    SEPARATORS,
    Origin,
    parse_crs,
    short_error,
    warn_user,
)
from geocluster.io.coordinates import from_columns, from_geometry
from geocluster.io.ids import set_id
from geocluster.io.load import blank_missing_codes, load_source
from geocluster.io.spatial import (
    PARQUET_SUFFIXES,
    geoparquet_columns,
    register_files,
    table_suffix,
)
from geocluster.io.text import MAGIC, TABLE_SUFFIXES

__all__ = ["DEFAULT_BLOCKSIZE", "Piece", "ReadOptions", "firms_columns", "read_firms_dask",
           "plan_pieces", "piece_firms"]

#: Bytes per partition of a large uncompressed CSV.
DEFAULT_BLOCKSIZE = 128 * 2**20
#: Problems shown in a message; the others are counted.
SHOW_PIECES = 3
#: Data lines of a CSV read by the in-memory reader to decide the column types.
HEAD_LINES = 2000
_INDEX = "__geocluster_index__"
_TEXT = pd.Index(np.array(["a"], dtype=object)).dtype  # what pandas makes of an array of str


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
    # what the validation pass found, for the lazy re-read (see :func:`firms_columns`)
    raw: int = -1  # rows the reader gave (a CSV block's blank lines included)
    keep: bytes | None = None  # packed mask of the raw rows kept; None: all
    blank: bytes | None = None  # packed mask of a CSV block's blank lines; None: none
    coords: tuple[str, str] | None = None  # lon/lat columns made the points; None: a geometry
    trusted: bool = False  # the re-read may skip the checks (see :func:`firms_columns`)
    kept: int = -1  # firms the validation pass kept

    @property
    def is_block(self) -> bool:
        return self.stop > 0


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
    default = TABLE_SUFFIXES[table_suffix(path) or ".csv"]
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
    with open(path, "rb") as handle:
        handle.seek(start)
        return sum(handle.read(min(1 << 24, stop - at)).count(b"\n")
                   for at in range(start, stop, 1 << 24))


def plan_pieces(source: str | Path, opts: ReadOptions, blocksize: int) -> list[Piece]:
    """The pieces of a register, with the number of data rows before each (its offset)."""
    pieces: list[Piece] = []
    for path in register_files(source):
        if path.suffix.lower() in PARQUET_SUFFIXES:
            pieces.append(Piece(str(path)))
        else:
            pieces.extend(_csv_pieces(path, blocksize, opts))
    return pieces


def _block_frame(piece: Piece, opts: ReadOptions, usecols: list[str] | None = None
                 ) -> tuple[pd.DataFrame, Origin, np.ndarray]:
    """A CSV block typed as its head, its origin and its blank lines; ``usecols`` only (the
    blank lines then from the validation pass: they are blank in every column)."""
    where = f"'{piece.path}'"
    with open(piece.path, "rb") as handle:
        handle.seek(piece.start)
        data = handle.read(piece.stop - piece.start)
    last = piece.first_line + data.count(b"\n") - 1
    try:
        frame = pd.read_csv(_io.BytesIO(data), sep=piece.sep, header=None,
                            names=list(piece.header), dtype=str, skip_blank_lines=False,
                            encoding=opts.encoding or "utf-8", usecols=usecols)
    except UnicodeDecodeError:
        raise InputError(f"{where}: lines {piece.first_line}-{last} are not valid "
                         f"{opts.encoding or 'UTF-8'} text; pass the file's encoding, e.g. "
                         "encoding='latin-1'.") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{where}: lines {piece.first_line}-{last} cannot be parsed "
                         f"({str(exc).strip()[:200]}); with engine='dask' a CSV is split at line "
                         "breaks, so values may not contain line breaks.") from None
    lines = piece.first_line + np.arange(len(frame))
    if usecols is None:
        blank = frame.isna().all(axis=1).to_numpy()
    else:
        _same_rows(piece, len(frame))
        blank = _unpack(piece.blank, len(frame), False)
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
    return frame, origin, blank


def _raw_piece(piece: Piece, opts: ReadOptions) -> tuple[pd.DataFrame, Origin, np.ndarray]:
    if piece.is_block:
        return _block_frame(piece, opts)
    frame, origin = load_source(Path(piece.path), layer=None, encoding=opts.encoding,
                                crs=opts.crs, id_col=opts.id, lon=opts.lon, lat=opts.lat)
    frame.index = piece.offset + np.arange(len(frame))
    return frame, origin, np.zeros(len(frame), dtype=bool)


def piece_firms(piece: Piece, opts: ReadOptions) -> gpd.GeoDataFrame:
    """The validated firms of one piece, as :func:`~geocluster.io.read_firms` checks a file.

    Raises the in-memory reader's :class:`~geocluster.errors.InputError` (naming the file
    and its rows) and emits its warnings; an empty piece gives an empty frame of points.
    The index is ``piece.offset`` + the row's position in the piece.
    """
    return _piece(piece, opts)[0]


def _pack(mask: np.ndarray) -> bytes | None:
    return np.packbits(mask).tobytes() if mask.any() else None


def _unpack(bits: bytes | None, n: int, default: bool) -> np.ndarray:
    if bits is None:
        return np.full(n, default)
    return np.unpackbits(np.frombuffer(bits, dtype=np.uint8), count=n).astype(bool)


def _same_rows(piece: Piece, n: int) -> None:
    if n != piece.raw:
        raise InputError(
            f"'{piece.path}' changed since read_firms(engine='dask') checked it ({piece.raw} "
            f"rows then, {n} now); the lazy frame reads the files again when it is computed, "
            "so read the register again with gc.read_firms.")


def _obvious_id(columns, geometry: str | None) -> str | None:
    """The column :func:`~geocluster.io.ids.set_id` checks as an obvious firm id."""
    return next((c for c in columns if str(c).lower() in ID_NAMES and c != geometry), None)


def _lean_columns(piece: Piece, opts: ReadOptions
                  ) -> tuple[gpd.GeoDataFrame, Origin, gpd.GeoDataFrame] | None:
    """The geometry and id columns of a plain GeoParquet piece, their origin and the piece's
    empty frame; None for other pieces (see :func:`~geocluster.io.spatial.geoparquet_columns`)."""
    if piece.is_block or Path(piece.path).suffix.lower() not in PARQUET_SUFFIXES or (
            opts.missing_codes, opts.lon, opts.lat) != (None, None, None):
        return None
    if (found := geoparquet_columns(piece.path, opts.id, _obvious_id)) is None:
        return None
    frame = found[0].set_axis(piece.offset + np.arange(len(found[0])))
    return frame, Origin(f"'{Path(piece.path)}'", "row", np.arange(len(frame)) + 1, False), found[1]


def _piece(piece: Piece, opts: ReadOptions, lean_ok: bool = False
           ) -> tuple[gpd.GeoDataFrame, dict]:
    """The validated firms of one piece, and what its re-read needs (the :class:`Piece`
    fields ``raw``, ``keep``, ``blank``, ``coords``, ``trusted``) with ``rows`` read and
    ``meta``, the empty frame of the piece. With ``lean_ok`` a plain GeoParquet piece is
    checked on its geometry and id columns alone (the checks read no other column)."""
    lean = _lean_columns(piece, opts) if lean_ok else None
    frame, origin, blank = lean[:2] + (np.zeros(len(lean[0]), bool),) if lean else _raw_piece(
        piece, opts)
    rows = len(frame)
    info: dict[str, Any] = {"rows": rows, "raw": len(blank), "blank": _pack(blank),
                            "keep": None, "coords": None, "trusted": False}
    parquet = not piece.is_block and Path(piece.path).suffix.lower() in PARQUET_SUFFIXES
    if opts.missing_codes is not None:
        frame = blank_missing_codes(frame, *opts.missing_codes)
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns and (
            opts.lon is None and opts.lat is None):
        if rows == 0:
            return frame, info
        # GeoParquet with one geometry column: a column subset reads the same values
        info["trusted"] = parquet and not origin.crs_from_argument and int(
            (frame.dtypes.astype(str) == "geometry").sum()) == 1
        firms, origin = from_geometry(frame, origin, opts.on_invalid)
    else:
        crs = parse_crs(opts.crs)
        if isinstance(frame, gpd.GeoDataFrame):
            frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        if rows == 0:
            return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=crs), crs=crs), info
        firms, origin, info["coords"] = from_columns(frame, origin, opts.lon, opts.lat, crs,
                                                     opts.on_invalid)
        info["trusted"] = parquet or piece.is_block
    if info["trusted"] and len(firms) < info["raw"]:
        kept = np.zeros(info["raw"], dtype=bool)
        kept[np.asarray(origin.labels) - (piece.first_line if piece.is_block else 1)] = True
        info["keep"] = np.packbits(kept).tobytes()
    firms = set_id(firms, origin, opts.id)
    # a copy of the empty slice: the slice itself would keep the whole piece alive
    info["meta"] = (lean[2].set_axis(firms.index[:0].copy(deep=True)) if lean
                    else firms.iloc[:0].copy())
    return firms, info


def _checked_again(piece: Piece, opts: ReadOptions, meta: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """:func:`piece_firms` without warnings, cast to ``meta`` (a piece with no trusted re-read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoclusterWarning)
        firms = piece_firms(piece, opts)
    _same_columns(piece, firms, meta)
    if len(firms) == 0:
        return meta
    return firms.astype(meta.dtypes.to_dict()) if (firms.dtypes != meta.dtypes).any() else firms


def _same_columns(piece: Piece, firms: pd.DataFrame, meta: pd.DataFrame) -> None:
    if list(firms.columns) != list(meta.columns):
        raise InputError(
            f"'{piece.path}' has columns {list(firms.columns)[:20]} but the first file of the "
            f"register has {list(meta.columns)[:20]}; every file of a register needs the same "
            "columns.")


def _read_columns(piece: Piece, opts: ReadOptions, read: list[str], geometry: bool
                  ) -> pd.DataFrame:
    """Columns ``read`` of a piece's raw rows, indexed and with the dropped rows dropped."""
    if piece.is_block:
        frame, _, blank = _block_frame(piece, opts, usecols=read)
        keep = _unpack(piece.keep, piece.raw, True)[~blank]
    else:
        try:
            frame = (gpd.read_parquet if geometry else pd.read_parquet)(piece.path, columns=read)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"'{piece.path}' cannot be read again ({short_error(exc)}); if "
                             "it changed since read_firms(engine='dask') checked it, read the "
                             "register again.") from None
        _same_rows(piece, len(frame))
        frame.index = piece.offset + np.arange(len(frame))
        keep = _unpack(piece.keep, piece.raw, True)
    if opts.missing_codes is not None:
        frame = blank_missing_codes(frame, *opts.missing_codes)
    return frame if piece.keep is None else frame[keep]


def firms_columns(piece: Piece, opts: ReadOptions, meta: gpd.GeoDataFrame,
                  columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Columns ``columns`` (default all) of the firms of a piece that the validation pass
    checked: a partition of the lazy frame, equal to the same columns of :func:`piece_firms`.

    The pass proved which rows survive and that ids are unique and complete, so a trusted
    piece (GeoParquet, Parquet or a CSV block) reads only ``columns``, plus the id column
    (the index) and, for points made from coordinate columns, those columns; it drops the
    rows the pass dropped and repeats only what changes values (missing-value codes, the
    points from the coordinates, the CSV column types), not the checks. Other pieces (a
    whole CSV file, Parquet with WKB but no GeoParquet metadata) are read and checked
    again. The files are assumed unchanged since the pass; a changed row count is an
    :class:`~geocluster.errors.InputError`, other changes are not detected.
    """
    wanted = list(meta.columns) if columns is None else list(columns)
    geometry = meta.geometry.name
    need = set(wanted) | ({opts.id} if opts.id is not None else set())
    points = piece.coords is not None and bool(need & {geometry, *piece.coords})
    if piece.coords is not None:
        need = (need - {geometry}) | (set(piece.coords) if points else set())
    read = [c for c in meta.columns if c in need] or [meta.columns[0]]
    if not piece.trusted:
        return _checked_again(piece, opts, meta)[wanted]
    frame = _read_columns(piece, opts, read, geometry in read)
    obvious = _obvious_id(meta.columns, geometry) if opts.id is None else opts.id
    if obvious in frame.columns and frame[obvious].dtype == object and pd.api.types.infer_dtype(
            frame[obvious], skipna=True) in ("mixed", "mixed-integer"):  # set_id makes them text
        return _checked_again(piece, opts, meta)[wanted]
    if points and len(frame):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GeoclusterWarning)
            lon, lat = piece.coords  # type: ignore[misc]
            frame, _, _ = from_columns(
                pd.DataFrame(frame), Origin(f"'{piece.path}'", "row", np.arange(len(frame)) + 1),
                lon, lat, parse_crs(opts.crs), opts.on_invalid)
    if len(frame) == 0:
        return meta[wanted]
    if opts.id is not None:
        ids = frame[opts.id]
        # set_id's pd.Index(ids.to_numpy()); text of the inferred type without the round trip
        frame.index = pd.Index(ids.array if ids.dtype == _TEXT else ids.to_numpy(), name=None)
    out = frame[wanted]
    dtypes = meta[wanted].dtypes
    return out.astype(dtypes.to_dict()) if (out.dtypes != dtypes).any() else out


def _report(piece: Piece, opts: ReadOptions) -> dict:
    """Rows read and kept, warnings, the error of one piece, what its re-read needs and the
    64-bit hashes of its present ids (what reaches the client)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GeoclusterWarning)
        try:
            firms, info = _piece(piece, opts, lean_ok=True)
        except InputError as exc:
            return {"error": str(exc), "rows": 0, "kept": 0, "warnings": []}
    geometry = firms.geometry.name if isinstance(firms, gpd.GeoDataFrame) else None
    check = opts.id if opts.id is not None else _obvious_id(firms.columns, geometry)
    hashes = (_hash_ids(firms[check].dropna()) if check is not None and check in firms.columns
              else None)
    return {"error": None, "rows": info.pop("rows"), "kept": int(len(firms)),
            "meta": info.pop("meta", firms.iloc[:0]), "info": info, "check": check,
            "hashes": hashes,
            "warnings": [str(w.message) for w in caught
                         if issubclass(w.category, GeoclusterWarning)]}


def _register_meta(reports: Sequence[dict]) -> gpd.GeoDataFrame:
    """The empty frame with the columns of the register (its first non-empty piece) and the
    types its pieces concatenate to (as in memory: ints with missing values become floats)."""
    metas = [report["meta"] for report in reports if report["kept"]]
    if metas:
        if any(list(m.columns) != list(metas[0].columns) for m in metas):
            return metas[0]  # refused by the caller, naming the file
        common = pd.concat(metas) if len(metas) > 1 else metas[0]
        return metas[0] if (common.dtypes == metas[0].dtypes).all() else common
    raise InputError("read_firms(engine='dask'): no partition of the register has a firm; "
                     "every file is empty (or every row was dropped).")


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


def _hash_ids(values: pd.Series) -> np.ndarray:
    """64-bit hashes of ids (``pandas.util.hash_array``; text not factorized first: ids are
    mostly distinct, and the hashes are the same)."""
    if pd.api.types.is_string_dtype(values) or values.dtype == object:
        return pd.util.hash_array(values.to_numpy(dtype=object), categorize=False)
    return pd.util.hash_pandas_object(values, index=False).to_numpy()


def _ids_with_hash(piece: Piece, opts: ReadOptions, meta: gpd.GeoDataFrame, column: str,
                   hashes: np.ndarray) -> list:
    values = firms_columns(piece, opts, meta, [column])[column].dropna()
    hit = np.isin(_hash_ids(values), hashes)
    return values[hit].tolist()


def _check_duplicates(pieces, reports, meta, opts, column, explicit: bool, dask) -> None:
    """Duplicate values of the id column over the whole register.

    The validation pass sent 64-bit hashes of each piece's ids; equal hashes are then
    confirmed on the ids themselves (a pass over the pieces that have them, reading that
    column only), so a hash collision is never reported as a duplicate. Memory: 8 bytes a
    firm in this process, no shuffle.
    """
    parts = [r["hashes"] if r["hashes"] is not None and r["check"] == column
             else np.zeros(0, np.uint64) for r in reports]
    hashes = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)
    repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    del hashes
    if len(repeated) == 0:
        return
    found = dask.compute(*[dask.delayed(_ids_with_hash)(p, opts, meta, column, repeated)
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


_KNOWN_LENGTH: list = []  # the expression class below, made once (dask is optional)


def _known_length_read():
    """dask-expr's projectable ``from_map`` read answering ``len()`` with the validation
    pass's counts, so that it reads nothing (None when dask-expr is not as expected)."""
    if not _KNOWN_LENGTH:
        try:
            io, ex, red = (import_optional(f"dask.dataframe.dask_expr.{m}", "dask", "read_firms")
                           for m in ("io.io", "_expr", "_reductions"))
            base, literal, lengths, length = io.FromMapProjectable, ex.Literal, ex.Lengths, red.Len
        except (ImportError, AttributeError):
            base = None

        class CheckedRead(base or object):
            def _simplify_up(self, parent, dependents):
                if isinstance(parent, (length, lengths)):
                    kept = tuple(int(self.iterables[0][i].kept) for i in self._partitions)
                    if min(kept, default=0) >= 0:
                        return literal(sum(kept) if isinstance(parent, length) else kept)
                return super()._simplify_up(parent, dependents)

        _KNOWN_LENGTH.append(CheckedRead if base is not None else None)
    return _KNOWN_LENGTH[0]


def _from_pieces(dd, pieces: list[Piece], opts: ReadOptions, meta, divisions):
    """The lazy frame: one partition per piece, read by :func:`firms_columns`."""
    frame = dd.from_map(firms_columns, pieces, args=(opts, meta), meta=meta,
                        divisions=divisions, label="read-firms", enforce_metadata=False)
    known = _known_length_read()
    read = next((e for e in frame.expr.walk() if type(e) is known.__base__), None) if known else None
    if read is None:
        return frame
    collection = import_optional("dask.dataframe.dask_expr._collection", "dask", "read_firms")
    return collection.new_collection(frame.expr.substitute(read, known(*read.operands)))


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
    pieces = [replace(p, offset=int(o), kept=r["kept"], **r["info"])
              for p, o, r in zip(pieces, offsets, reports, strict=True)]
    meta = _register_meta(reports)
    for piece, report in zip(pieces, reports, strict=True):
        _same_columns(piece, report["meta"], meta)
    kept = [r["kept"] for r in reports]
    divisions = None
    if id is None and all(kept):
        last = pieces[-1].offset + reports[-1]["rows"] - 1
        divisions = [p.offset for p in pieces] + [int(last)]
    frame = _from_pieces(dd, pieces, opts, meta, divisions)
    frame = dask_geopandas.from_dask_dataframe(frame) if not hasattr(
        frame, "spatial_partitions") else frame
    check = id if id is not None else _obvious_id(meta.columns, meta.geometry.name)
    if check is not None:
        _check_duplicates(pieces, reports, meta, opts, check, id is not None, dask)
    return _spatial(frame, dask_geopandas) if spatial_partitions else frame
