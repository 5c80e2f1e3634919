"""Large synthetic registers on disk: the :func:`make_firms` process, partition by partition.

:func:`write_firms_dataset` writes a folder of GeoParquet files (``part.00000.parquet``, ...),
one per partition, that ``gc.read_firms(folder, engine="dask")`` reads back as a dask
GeoDataFrame. Only one partition is in memory at a time (per worker when a
``distributed.Client`` is active), so registers of 100 million firms can be written on a laptop.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from geocluster._base.engine import active_client, dask_progress
from geocluster._base.validate import check_positive_int
from geocluster.datasets.synthetic import make_firms
from geocluster.errors import InputError

__all__ = ["MARKER", "partition_sizes", "write_firms_dataset"]

#: The file that marks a folder as written by :func:`write_firms_dataset` (readers skip
#: files whose name starts with ``_``).
MARKER = "_geocluster_register.json"
#: Fewest firms in a partition: the ``knn:8`` lag DGP of :func:`make_firms` needs 9.
MIN_PER_PARTITION = 9


def partition_sizes(n: int, partitions: int) -> np.ndarray:
    """Firms per partition: ``n`` split as evenly as possible, the larger ones first.

    Examples
    --------
    >>> partition_sizes(10, 3).tolist()
    [4, 3, 3]
    """
    base, extra = divmod(n, partitions)
    return np.array([base + (i < extra) for i in range(partitions)], dtype=np.int64)


def _check_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise InputError(f"write_firms_dataset: path '{folder}' is a file, not a folder; give "
                         "the path of a new or empty folder.")
    if not folder.exists():
        return
    entries = [p.name for p in folder.iterdir()]
    if entries and MARKER not in entries:
        shown = ", ".join(sorted(entries)[:5]) + (" ..." if len(entries) > 5 else "")
        raise InputError(
            f"write_firms_dataset: folder '{folder}' is not empty ({len(entries)} entries: "
            f"{shown}) and was not written by write_firms_dataset; it is not overwritten. "
            "Give a new or empty folder."
        )


def _clear_register(folder: Path) -> None:
    """Remove the files an earlier :func:`write_firms_dataset` call left in ``folder``."""
    for path in folder.glob("part.*.parquet"):
        path.unlink()


def _write_partition(folder: str, i: int, size: int, start: int, width: int,
                     seed: np.random.SeedSequence) -> int:
    """Draw partition ``i`` (firms ``start + 1 .. start + size``) and write it; its bytes."""
    frame = make_firms(size, seed=np.random.default_rng(seed))
    numbers = pd.Series(np.arange(start + 1, start + size + 1)).astype(str).str.zfill(width)
    ids = pd.array(("F" + numbers).to_numpy(), dtype="str")
    frame["firm_id"] = ids
    frame.index = pd.Index(ids, name=None)
    frame.attrs = {}
    path = Path(folder) / f"part.{i:05d}.parquet"
    frame.to_parquet(path, index=False, row_group_size=max(size // 4, 1))
    return path.stat().st_size


def write_firms_dataset(
    path: str | Path,
    n: int,
    *,
    partitions: int,
    seed: int | None = 0,
) -> Path:
    """Write a partitioned GeoParquet register of ``n`` synthetic firms.

    Each partition is an independent :func:`~geocluster.datasets.make_firms` draw of the
    same data-generating process: partition ``i`` has ``n // partitions`` firms (one more
    for the first ``n % partitions``) drawn from
    ``numpy.random.SeedSequence(seed).spawn(partitions)[i]``. Partitions are drawn and
    written one at a time (on the workers of the active ``distributed.Client`` when there is
    one, else in this process), so memory holds one partition per worker, never the register.

    What differs from one ``make_firms(n)`` call: the firms are i.i.d. draws of the process
    *per partition*, so everything ``make_firms`` computes over the sample is computed
    within each partition: ``cluster_count`` counts the same-industry firms of the firm's
    own partition within ``cluster_radius`` (about ``1 / partitions`` of the count over the
    whole register), ``cluster`` is standardised within the partition, and the lag outcome
    ``intl`` follows the SAR process on the ``knn:8`` graph of the partition (the neighbours
    of a firm are the 8 nearest firms of its partition, not of the register), so a spatial
    model fitted to the whole register does not recover ``rho`` exactly. Locations,
    industries, sizes, ages, patents and innovator types have the same distribution as in
    one call. Firm ids ``F0000001``, ... are unique over the register (numbered partition
    by partition, with at least 6 digits, more when ``n`` needs them). The partitions are not
    spatially sorted: every partition spans the whole country.

    Parameters
    ----------
    path
        A new or empty folder, or one an earlier call wrote (its files are replaced); any
        other non-empty folder is refused.
    n
        Number of firms, at least 9 per partition.
    partitions
        Number of files (and dask partitions when read back).
    seed
        Integer seed of the ``SeedSequence`` (default 0); the same seed gives the same files.
        ``None`` draws a fresh one, recorded in the marker file.

    Returns
    -------
    Path
        The folder. It holds ``part.00000.parquet``, ... and ``_geocluster_register.json``
        (n, partitions, seed, the firms per partition, bytes written, and ``complete``:
        false until the last partition is written).

    Raises
    ------
    InputError
        A bad ``n``, ``partitions`` or ``seed``, fewer than 9 firms per partition, a file at
        ``path``, or a non-empty folder that this function did not write.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import geopandas as gpd
    >>> import geocluster as gc
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "register"
    >>> gc.datasets.write_firms_dataset(folder, 60, partitions=3, seed=1).name
    'register'
    >>> sorted(p.name for p in folder.glob("*.parquet"))
    ['part.00000.parquet', 'part.00001.parquet', 'part.00002.parquet']
    >>> part = gpd.read_parquet(folder / "part.00001.parquet")
    >>> len(part), part["firm_id"].iloc[0], part.crs.to_epsg()
    (20, 'F000021', 4326)
    """
    n = check_positive_int(n, where="write_firms_dataset", name="n")
    partitions = check_positive_int(partitions, where="write_firms_dataset", name="partitions")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise InputError(f"write_firms_dataset: seed={seed!r} must be a non-negative integer "
                         "or None.")
    if n < MIN_PER_PARTITION * partitions:
        raise InputError(
            f"write_firms_dataset: n={n} firms in partitions={partitions} gives fewer than "
            f"{MIN_PER_PARTITION} firms per partition (the knn:8 lag process needs 9); use "
            f"at most {max(n // MIN_PER_PARTITION, 1)} partitions or more firms."
        )
    folder = Path(path)
    _check_folder(folder)
    root = np.random.SeedSequence(seed)
    children = root.spawn(partitions)
    sizes = partition_sizes(n, partitions)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    width = max(6, len(str(n)))
    if folder.exists():
        _clear_register(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = {
        "written_by": "geocluster.datasets.write_firms_dataset",
        "complete": False,
        "n": n,
        "partitions": partitions,
        "seed": int(root.entropy) if seed is None else int(seed),  # type: ignore[arg-type]
        "sizes": sizes.tolist(),
    }
    (folder / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
    args = [(str(folder), i, int(sizes[i]), int(starts[i]), width, children[i])
            for i in range(partitions)]
    client = active_client()
    if client is None:
        written = [_write_partition(*a) for a in args]
    else:
        futures = [client.submit(_write_partition, *a, pure=False) for a in args]
        dask_progress(futures, label=f"write_firms_dataset: {partitions} partitions")
        written = client.gather(futures)
    marker.update(complete=True, bytes=[int(b) for b in written])
    (folder / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
    return folder
