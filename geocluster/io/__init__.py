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

import codecs
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import geopandas as gpd
import pandas as pd
import pyproj

from geocluster.errors import InputError
from geocluster.io.common import ID_NAMES, LAT_NAMES, LON_NAMES, parse_crs
from geocluster.io.coordinates import from_columns, from_geometry
from geocluster.io.ids import set_id
from geocluster.io.load import (
    SUPPORTED_SUFFIXES,
    blank_missing_codes,
    load_source,
    parse_missing_codes,
)
from geocluster.io.partitioned import DEFAULT_BLOCKSIZE, read_firms_dask

__all__ = ["read_firms", "LON_NAMES", "LAT_NAMES", "ID_NAMES", "SUPPORTED_SUFFIXES"]


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
    engine: Literal["local", "dask"] = "local",
    spatial_partitions: bool = False,
    partition: Literal["hilbert"] | None = None,
    blocksize: int = DEFAULT_BLOCKSIZE,
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
    engine
        ``"local"`` (default): read into memory. ``"dask"``: ``source`` is a folder or a
        glob (``"firms/*.parquet"``) of (Geo)Parquet files, or one or more CSV/TSV files
        (large uncompressed ones are split into blocks of ``blocksize`` bytes at line
        breaks, so values must not contain line breaks); the result is a lazy
        ``dask_geopandas.GeoDataFrame`` with one partition per file or block. Every
        partition gets the checks above, with its rows named as the user counts them
        (file rows, CSV lines); reading runs them once over all partitions, on the active
        ``distributed.Client`` if there is one, and raises (or, for warnings and
        ``on_invalid="drop"``, warns once) with counts over the partitions; duplicate ids
        are found across partitions too. Without ``id=`` the index is the row number over
        the whole register (files in sorted order; the partitions then have known
        divisions). Far-from-the-others and constant-coordinate warnings are judged per
        partition. Later steps read the partitions again, only the columns they select
        (``firms[["geometry", "industry"]]`` reads those two) and without repeating the
        checks; ``len()`` comes from the check's counts and reads nothing. The files must
        therefore not change after reading (a changed row count raises, naming the file).
        Needs the ``dask`` extra.
    spatial_partitions, partition
        ``engine="dask"`` only: ``spatial_partitions=True`` (or ``partition="hilbert"``)
        sorts the firms into spatially compact partitions along a Hilbert curve
        (``dask_geopandas.GeoDataFrame.spatial_shuffle``), keeping the firm index, and sets
        the frame's ``spatial_partitions``.
    blocksize
        ``engine="dask"`` only: bytes per partition of a large uncompressed CSV
        (default 128 MiB).

    Returns
    -------
    GeoDataFrame
        A new frame of points with a unique index, in ``crs`` (or the input's CRS); a lazy
        ``dask_geopandas.GeoDataFrame`` with ``engine="dask"``.

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
    missing_codes = parse_missing_codes(na_values)
    if engine not in ("local", "dask"):
        raise InputError(f"engine={engine!r} is not an option; pass 'local' or 'dask'.")
    if partition not in (None, "hilbert"):
        raise InputError(f"partition={partition!r} is not an option; pass 'hilbert' or None.")
    if engine == "dask":
        return _read_dask(source, lon=lon, lat=lat, id=id, crs=crs, on_invalid=on_invalid,
                          layer=layer, encoding=encoding, missing_codes=missing_codes,
                          spatial=bool(spatial_partitions) or partition == "hilbert",
                          blocksize=blocksize)
    for name, value, default in (("spatial_partitions", spatial_partitions, False),
                                 ("partition", partition, None),
                                 ("blocksize", blocksize, DEFAULT_BLOCKSIZE)):
        if value != default:
            raise InputError(f"{name}={value!r} applies to engine='dask' only; remove it or "
                             "pass engine='dask'.")
    frame, origin = load_source(source, layer=layer, encoding=encoding, crs=crs, id_col=id,
                          lon=lon, lat=lat)
    if missing_codes is not None:
        frame = blank_missing_codes(frame, *missing_codes)
    if len(frame) == 0:
        raise InputError(
            f"{origin.where} has no rows; there are no firms to read. Check that it is the "
            "complete export (and the right layer or sheet)."
        )

    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns and (
        lon is None and lat is None
    ):
        firms, origin, coords = (*from_geometry(frame, origin, on_invalid), None)
    else:
        crs_obj = parse_crs(crs)
        if isinstance(frame, gpd.GeoDataFrame):
            frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        firms, origin, coords = from_columns(frame, origin, lon, lat, crs_obj, on_invalid)

    firms = set_id(firms, origin, id)
    firms.attrs = dict(firms.attrs)
    firms.attrs["geocluster"] = {
        "source": str(source) if isinstance(source, (str, Path)) else type(source).__name__,
        "coordinates": coords,
        "id": id,
        "n": int(len(firms)),
    }
    return firms


def _read_dask(source, *, lon, lat, id, crs, on_invalid, layer, encoding,  # noqa: A002
               missing_codes, spatial, blocksize):
    """``read_firms(engine="dask")``: the options checked, then :func:`read_firms_dask`."""
    if not isinstance(source, (str, Path)):
        raise InputError(
            f"read_firms(engine='dask') reads a folder, a glob or files; got a "
            f"{type(source).__name__}. For a frame in memory use engine='local', or "
            "dask_geopandas.from_geopandas(gc.read_firms(frame), npartitions=...).")
    if layer is not None:
        raise InputError(f"layer={layer!r} does not apply to engine='dask', which reads "
                         "Parquet and CSV files; remove layer=.")
    if isinstance(blocksize, bool) or not isinstance(blocksize, int) or blocksize < 1:
        raise InputError(f"blocksize={blocksize!r} must be a positive number of bytes, e.g. "
                         "64 * 2**20.")
    return read_firms_dask(source, lon=lon, lat=lat, id=id, crs=crs, on_invalid=on_invalid,
                           encoding=encoding, missing_codes=missing_codes,
                           spatial_partitions=spatial, blocksize=blocksize)
