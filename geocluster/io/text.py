"""Text tables (CSV, TSV, JSON lines): compression, encodings, separators, column typing."""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io as _io
import lzma
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from geocluster.errors import InputError
from geocluster.io.common import (
    ID_NAMES,
    SEP_NAMES,
    SEPARATORS,
    log,
    short_error,
    warn_user,
)

__all__ = ["TABLE_SUFFIXES", "open_text_bytes", "read_json_lines", "read_table"]

TABLE_SUFFIXES = {".csv": ",", ".txt": ",", ".tsv": "\t", ".tab": "\t"}
MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"PK\x03\x04": "zip", b"\xfd7zXZ\x00": "xz"}
OTHER_MAGIC = {b"PAR1": "a Parquet file", b"SQLite format 3\x00": "a GeoPackage/SQLite file"}
_CODE_TOKEN = re.compile(
    r"(zip|zipcode|zip5|postcode|postal|plz|fips|statefips|countyfips|stfips|cntyfips|"
    r"zcta|zcta5|zcta5ce\d*|geoid\d*|naics\d*|sic\d*|cbsa\d*|msa|tract\d*|blkgrp)"
)


def open_text_bytes(path: Path, compression: str | None):
    """A binary handle on the (possibly gzip/bz2/xz/zip-compressed) text of ``path``."""
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


def read_table(path, suffix, where, head, named_compression, encoding, id_col
               ) -> tuple[pd.DataFrame, np.ndarray]:
    """The table as text-typed columns and the file line of each of its rows."""
    for magic, what in OTHER_MAGIC.items():
        if head.startswith(magic):
            right = ".parquet" if "Parquet" in what else ".gpkg"
            raise InputError(
                f"{where} is {what}, not {suffix[1:].upper()} text; rename it to end in "
                f"{right} (or give the right file)."
            )
    compression = next((kind for magic, kind in MAGIC.items() if head.startswith(magic)), None)
    try:
        with open_text_bytes(path, compression) as handle:
            sample = handle.read(1 << 16)
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raise InputError(
            f"{where} looks {compression}-compressed but cannot be decompressed ({short_error(exc)}); "
            "check that the file is complete."
        ) from None
    if compression is not None and named_compression is None:
        warn_user(
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
    sep = _sniff_separator(text, TABLE_SUFFIXES[suffix], truncated=len(sample) == 1 << 16)
    if sep != TABLE_SUFFIXES[suffix]:
        log.info("read_firms: %s is %s-separated", where, SEP_NAMES[sep])
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
            warn_user(
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
    return _convert_text_columns(frame.reset_index(drop=True), keep_text), lines


def _record_lines(path: Path, compression, encoding: str, sep: str, n: int) -> np.ndarray:
    """The file line on which each of the ``n`` records starts (the header is line 1).

    Usually record ``i`` is on line ``i + 2``; quoted values with line breaks move the
    later records down, and then the lines are counted with a CSV reader.
    """
    simple = np.arange(n) + 2
    newlines, last = 0, b"\n"
    with open_text_bytes(path, compression) as handle:
        while chunk := handle.read(1 << 22):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    physical = newlines + (last not in (b"\n", b""))
    if physical <= n + 1:
        return simple
    try:
        with open_text_bytes(path, compression) as raw:
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
    for candidate in (default, *(s for s in SEPARATORS if s != default)):
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
    name = SEP_NAMES.get(sep, repr(sep))
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
        with open_text_bytes(path, compression) as handle:
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


def read_json_lines(path: Path, where: str, encoding) -> pd.DataFrame:
    """A newline-delimited JSON file (one record per line) as a frame."""
    try:
        frame = pd.read_json(path, lines=True, dtype=False, encoding=encoding or "utf-8")
    except ValueError as exc:
        raise InputError(
            f"{where} is not newline-delimited JSON ({short_error(exc)}); give one JSON object per line."
        ) from None
    return frame
