"""Partition halos: neighbour queries on spatially partitioned (dask) point frames.

dask-geopandas joins partitions with an inner ``sjoin`` only (no ``sjoin_nearest``), so
every query that looks at the points *around* a point (a count within a radius, a
kernel sum, the K nearest neighbours) runs here on a partition's own points (its
*core*) together with its *halo*: the points of the other partitions within the radius
of the core's bounding box. Any point within the radius of a core point lies within the
radius of the core's box, so core + halo holds every point a query of that radius can
see, and a per-partition function gives the core points exactly the in-memory answer.

The pieces work on :class:`Block` values (metric coordinates, global row positions and
a few value columns of one partition), so the logic is plain numpy and is tested without
a scheduler; :func:`dask_blocks` and :func:`map_halo_delayed` put it on dask (the active
``dask.distributed.Client`` when there is one: this module starts nothing).

The halo of a box is thin only when the blocks are compact in space. A register whose
partitions each cover the whole extent (files in id or date order) is re-blocked first
in tiles of about equal counts (:func:`geocluster.weights.tiles.spatial_tiles`); the
blocks are then tiles, their points come from everywhere in the frame, and the
consumers put every answer back by the global positions (``Block.pos``), while
:func:`with_column` maps the values onto the original partitions
(:attr:`BlockSet.frame_lengths`).

Edge cases, all exact: a point on the common boundary of two partitions' boxes is in
both halos it can be seen from (the test is ``<=`` with a relative slack of 1e-9, so the
halo is a superset, never a subset); an empty partition has no box, no halo and sees
nothing; a partition of one point has a box of zero area and gets its halo like any
other; duplicate locations in different partitions reach each other's halos (distance 0);
a radius larger than a partition simply reaches further partitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geocluster._base.engine import dask_progress
from geocluster._base.optional import import_optional
from geocluster._base.validate import PointData
from geocluster.errors import CRSError, InputError
from geocluster.units import is_metric

__all__ = [
    "HALO_RTOL",
    "Block",
    "BlockSet",
    "block_bounds",
    "concat_blocks",
    "dask_blocks",
    "extent_points",
    "frame_block",
    "halo_of",
    "halo_sources",
    "map_halo",
    "map_halo_delayed",
    "near_box",
    "with_column",
]

#: Relative slack of the halo test ``distance(point, box) <= radius``: the halo is a
#: superset of the points within the radius, never a subset (round-off cannot drop one).
HALO_RTOL = 1e-9


@dataclass(frozen=True)
class Block:
    """The points of one partition: metric coordinates, positions and value columns.

    Attributes
    ----------
    x, y
        Coordinates in metres (a metric CRS).
    pos
        Global row positions (0..n-1 over the partitions in order); ``-1`` before
        :meth:`BlockSet` assigns them.
    values
        Named value columns (a weight, an industry code), one value per point.
    """

    x: np.ndarray
    y: np.ndarray
    pos: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def xy(self) -> np.ndarray:
        """``(n, 2)`` coordinates."""
        return np.column_stack([self.x, self.y])

    def take(self, rows: np.ndarray) -> Block:
        """The block of the points at ``rows`` (a boolean mask or positions)."""
        return Block(self.x[rows], self.y[rows], self.pos[rows],
                     {k: v[rows] for k, v in self.values.items()})

    def with_offset(self, offset: int) -> Block:
        """The block with global positions ``offset, offset + 1, ...``."""
        return Block(self.x, self.y, np.arange(offset, offset + len(self), dtype=np.int64),
                     self.values)

    def __repr__(self) -> str:
        return f"<Block of {len(self):,} points, columns {sorted(self.values)}>"


def block_bounds(block: Block) -> np.ndarray:
    """``[xmin, ymin, xmax, ymax]`` of the block, all NaN when it is empty.

    Examples
    --------
    >>> b = Block(np.array([0.0, 2.0]), np.array([1.0, 5.0]), np.array([0, 1]))
    >>> block_bounds(b).tolist()
    [0.0, 1.0, 2.0, 5.0]
    >>> block_bounds(b.take(np.array([], dtype=int))).tolist()
    [nan, nan, nan, nan]
    """
    if len(block) == 0:
        return np.full(4, np.nan)
    return np.array([block.x.min(), block.y.min(), block.x.max(), block.y.max()])


def _box_distance2(x: np.ndarray, y: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Squared distance from each point to the rectangle ``box`` (0 inside)."""
    dx = np.maximum(np.maximum(box[0] - x, x - box[2]), 0.0)
    dy = np.maximum(np.maximum(box[1] - y, y - box[3]), 0.0)
    return dx * dx + dy * dy


def near_box(block: Block, box: np.ndarray, radius: float) -> Block:
    """The points of ``block`` within ``radius`` of the rectangle ``box`` (inclusive).

    Examples
    --------
    >>> b = Block(np.array([0.0, 10.0, 10.5]), np.zeros(3), np.arange(3))
    >>> near_box(b, np.array([-5.0, 0.0, 0.0, 0.0]), 10.0).pos.tolist()
    [0, 1]
    """
    if len(block) == 0 or not np.isfinite(box).all():
        return block.take(np.zeros(len(block), dtype=bool))
    limit = (radius * (1.0 + HALO_RTOL)) ** 2
    return block.take(_box_distance2(block.x, block.y, box) <= limit)


def halo_sources(bounds: np.ndarray, radius: float | np.ndarray) -> list[list[int]]:
    """For each partition ``i``, the other partitions with points possibly within
    ``radius`` (a number, or one per partition) of its box.

    ``bounds`` is ``(P, 4)`` (NaN rows for empty partitions, which get and give none).

    Examples
    --------
    >>> bounds = np.array([[0, 0, 1, 1], [2, 0, 3, 1], [np.nan] * 4, [10, 0, 11, 1]])
    >>> halo_sources(bounds, 1.0)
    [[1], [0], [], []]
    >>> halo_sources(bounds, 9.0)
    [[1, 3], [0, 3], [], [0, 1]]
    """
    bounds = np.asarray(bounds, dtype=float)
    n_parts = len(bounds)
    radii = np.broadcast_to(np.asarray(radius, dtype=float), (n_parts,))
    full = np.isfinite(bounds).all(axis=1)
    out: list[list[int]] = []
    for i in range(n_parts):
        if not full[i]:
            out.append([])
            continue
        b = bounds[i]
        # gap between the two boxes along each axis (0 when they overlap)
        gx = np.maximum(np.maximum(bounds[:, 0] - b[2], b[0] - bounds[:, 2]), 0.0)
        gy = np.maximum(np.maximum(bounds[:, 1] - b[3], b[1] - bounds[:, 3]), 0.0)
        near = full & (gx * gx + gy * gy <= (radii[i] * (1.0 + HALO_RTOL)) ** 2)
        near[i] = False
        out.append(np.flatnonzero(near).tolist())
    return out


def concat_blocks(blocks: Sequence[Block]) -> Block:
    """One block of the points of ``blocks`` in order (the first block's columns)."""
    if not blocks:
        raise ValueError("concat_blocks needs at least one block")
    keys = blocks[0].values.keys()
    return Block(
        np.concatenate([b.x for b in blocks]),
        np.concatenate([b.y for b in blocks]),
        np.concatenate([b.pos for b in blocks]),
        {k: np.concatenate([b.values[k] for b in blocks]) for k in keys},
    )


def halo_of(core: Block, others: Sequence[Block], radius: float) -> Block:
    """Core then halo: ``core``'s points followed by those of ``others`` within
    ``radius`` of its box (the first ``len(core)`` rows are the core)."""
    box = block_bounds(core)
    return concat_blocks([core, *(near_box(b, box, radius) for b in others)])


def map_halo(blocks: Sequence[Block], radius: float | np.ndarray,
             func: Callable[..., Any], *args) -> list:
    """``func(core + halo, n_core, radius, *args)`` for every block, in memory.

    ``func`` returns the answer for the first ``n_core`` rows of the block it gets
    (``radius`` is the partition's halo radius). This is the reference for
    :func:`map_halo_delayed`, which runs the same calls on dask.
    """
    bounds = np.array([block_bounds(b) for b in blocks]).reshape(-1, 4)
    radii = np.broadcast_to(np.asarray(radius, dtype=float), (len(blocks),))
    sources = halo_sources(bounds, radii)
    return [func(halo_of(b, [blocks[j] for j in src], float(r)), len(b), float(r), *args)
            for b, src, r in zip(blocks, sources, radii, strict=True)]


# ----------------------------------------------------------------------------- dask


@dataclass
class BlockSet:
    """Persisted blocks of a dask frame, with what a halo query needs to know of them.

    Attributes
    ----------
    blocks
        One ``dask.delayed`` :class:`Block` per partition (persisted), positions assigned.
    lengths
        Points per partition.
    bounds
        ``(P, 4)`` boxes (NaN rows for empty partitions).
    crs
        The metric CRS of the coordinates.
    index
        The frame's index (computed in the same pass), when asked for.
    part_lengths
        Rows per partition of the frame when the blocks are not its partitions (spatial
        tiles, :func:`geocluster.weights.tiles.spatial_tiles`), else None.
    """

    blocks: list
    lengths: np.ndarray
    bounds: np.ndarray
    crs: pyproj.CRS | None
    index: pd.Index | None = None
    part_lengths: np.ndarray | None = None

    @property
    def frame_lengths(self) -> np.ndarray:
        """Rows per partition of the frame (what :func:`with_column` needs)."""
        return self.lengths if self.part_lengths is None else self.part_lengths

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.lengths.sum())

    @property
    def offsets(self) -> np.ndarray:
        """Global position of each block's first point (blocks that are the frame's
        partitions; tiles hold positions from everywhere: use ``Block.pos``)."""
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    def __repr__(self) -> str:
        return f"<BlockSet of {self.n:,} points in {len(self.blocks)} partitions>"


def frame_block(frame: gpd.GeoDataFrame, columns: Sequence[str] = (), *,
                where: str = "halo") -> Block:
    """The block of one partition: point coordinates and ``columns`` (positions -1).

    Missing or empty geometries and geometries that are not points are an
    :class:`InputError` naming the rows of the partition.
    """
    geoms = frame.geometry.to_numpy()
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        raise InputError(
            f"{where}: {int(bad.sum())} firms of a partition have missing or empty "
            f"geometries (e.g. rows {frame.index[bad][:5].tolist()}); drop them first."
        )
    not_point = shapely.get_type_id(geoms) != 0
    if not_point.any():
        raise InputError(
            f"{where}: the firms must be points, but {int(not_point.sum())} geometries of a "
            f"partition are not (e.g. rows {frame.index[not_point][:5].tolist()})."
        )
    x = shapely.get_x(geoms)
    y = shapely.get_y(geoms)
    values = {c: frame[c].to_numpy() for c in columns}
    return Block(x, y, np.full(len(x), -1, dtype=np.int64), values)


def _info(block: Block) -> tuple[int, np.ndarray]:
    return len(block), block_bounds(block)


def dask_blocks(ddf, columns: Sequence[str] = (), *, crs=None, where: str = "halo",
                prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                require_metric: bool = True, with_index: bool = False) -> BlockSet:
    """Persist one :class:`Block` per partition of the dask GeoDataFrame ``ddf``.

    The frame is projected to ``crs`` (a metric CRS) when given; without it, the frame's
    own CRS must be metric (the automatic choice of the in-memory path needs all points
    at once, so name the CRS). ``prepare`` (optional) is applied to each partition
    before the block is made (a column check, say). One pass over the data: the
    coordinates and ``columns`` are persisted (the active client's memory, else this
    process), the partition sizes and boxes computed. With ``require_metric=False``
    (nearest neighbours, which need no unit) a frame without a CRS or in any projected
    CRS is used as it is. ``with_index=True`` also computes the frame's index in the
    same pass (:attr:`BlockSet.index`).
    """
    dask = import_optional("dask", "dask", "partition halos")
    as_is = not require_metric and crs is None and (ddf.crs is None
                                                     or not ddf.crs.is_geographic)
    target = ddf.crs if as_is else _metric_target(ddf, crs, where)
    # only what the blocks hold is read and projected (a reader honouring the selection
    # skips the other columns)
    keep = list(dict.fromkeys([ddf.geometry.name, *columns]))
    frame = ddf[keep] if len(keep) < len(ddf.columns) else ddf
    frame = frame if as_is or ddf.crs.equals(target) else frame.to_crs(target)
    make = dask.delayed(_prepared_block, pure=True)
    parts = frame.to_delayed()
    raw = [make(part, tuple(columns), where, prepare) for part in parts]
    dask_progress(raw, label=f"{where}: reading the points")
    index = None
    if with_index:  # persisted in the same pass: each partition is read once
        indexes = [dask.delayed(_index_of, pure=True)(part) for part in parts]
        both = dask.persist(*raw, *indexes)
        raw = list(both[:len(raw)])
        (index,) = dask.compute(dask.delayed(_concat_index, pure=True)(list(both[len(raw):])))
    else:
        raw = list(dask.persist(*raw))
    info = dask.compute(*[dask.delayed(_info, pure=True)(b) for b in raw])
    lengths = np.array([n for n, _ in info], dtype=np.int64)
    bounds = np.array([b for _, b in info], dtype=float).reshape(-1, 4)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    blocks = list(dask.persist(*[dask.delayed(Block.with_offset, pure=True)(b, int(o))
                                 for b, o in zip(raw, offsets, strict=True)]))
    return BlockSet(blocks, lengths, bounds, target, index)


def _index_of(part) -> pd.Index:
    return part.index


def _concat_index(indexes: list) -> pd.Index:
    return indexes[0].append(indexes[1:]) if indexes else pd.Index([])


def _prepared_block(part, columns, where, prepare) -> Block:
    if prepare is not None:
        part = prepare(part)
    return frame_block(part, columns, where=where)


def _metric_target(ddf, crs, where: str) -> pyproj.CRS:
    if crs is not None:
        target = pyproj.CRS.from_user_input(crs)
        if not is_metric(target):
            raise CRSError(f"{where}: crs={crs!r} is not a metric (projected, metres) CRS; "
                           "name one such as 'EPSG:5070'.")
        if ddf.crs is None:
            raise CRSError(f"{where}: the dask frame has no CRS; set it (set_crs) first.")
        return target
    if ddf.crs is None or not is_metric(ddf.crs):
        have = "no CRS" if ddf.crs is None else f"the geographic CRS {ddf.crs.name!r}"
        raise CRSError(
            f"{where}: the dask frame has {have}; a dask frame is measured in a CRS you "
            "name (the in-memory automatic choice needs every point at once). Pass "
            "crs='EPSG:5070' (or another metric CRS), or ddf.to_crs(...) first."
        )
    return ddf.crs


def map_halo_delayed(bs: BlockSet, radius: float | np.ndarray,
                     func: Callable[..., Any], *args, rows: Sequence | None = None,
                     with_pos: bool = False) -> list:
    """``func(core + halo, n_core, radius, *args)`` per block, as ``dask.delayed``
    values (``radius`` is the block's halo radius).

    ``radius`` is a number or one per block; ``rows`` (optional) restricts the core
    of block ``i`` to ``rows[i]`` (positions in the block, or None for all), for
    a second pass over the points a first one left unanswered. With ``with_pos`` each
    value is ``(core global positions, answer)``: where the answer goes back (the blocks
    may be tiles, whose points come from everywhere in the frame).
    """
    dask = import_optional("dask", "dask", "partition halos")
    radii = np.broadcast_to(np.asarray(radius, dtype=float), (len(bs.blocks),))
    sources = halo_sources(bs.bounds, radii)
    call = dask.delayed(_halo_call, pure=True)
    out = []
    for i, (block, src) in enumerate(zip(bs.blocks, sources, strict=True)):
        sel = None if rows is None else rows[i]
        out.append(call(block, [bs.blocks[j] for j in src], float(radii[i]), sel, func, args,
                        with_pos))
    return out


def _halo_call(core: Block, others: list, radius: float, rows, func, args, with_pos=False):
    if rows is not None:
        chosen = np.zeros(len(core), dtype=bool)
        chosen[rows] = True
        # the partition's other points are part of the restricted core's halo
        others = [core.take(~chosen), *others]
        core = core.take(chosen)
    out = func(halo_of(core, others, radius), len(core), radius, *args)
    return (core.pos, out) if with_pos else out


def with_column(ddf, name: str, values: np.ndarray, lengths: np.ndarray):
    """The dask frame ``ddf`` with ``values`` (one per row, in frame order) as the
    column ``name``: lazy, a new frame (``ddf`` is not modified). ``lengths`` are the
    rows of ``ddf``'s partitions (:attr:`BlockSet.frame_lengths`, not the tiles')."""
    dask = import_optional("dask", "dask", "partition halos")
    dd = import_optional("dask.dataframe", "dask", "partition halos")
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    assign = dask.delayed(_assign, pure=True)
    parts = [assign(part, name, values[o:o + n])
             for part, o, n in zip(ddf.to_delayed(), offsets, lengths, strict=True)]
    meta = _assign(ddf._meta, name, np.zeros(0, dtype=values.dtype))
    return dd.from_delayed(parts, meta=meta, divisions=ddf.divisions, verify_meta=False)


def _assign(part, name: str, values: np.ndarray):
    out = part.copy()
    out[name] = values
    return out


def extent_points(bs: BlockSet) -> PointData:
    """Two points spanning the extent of the block set's points, in its CRS: what the
    in-memory scale checks (``check_scale``) look at, without the points."""
    box = bs.bounds[np.isfinite(bs.bounds).all(axis=1)]
    if bs.crs is None or not len(box):
        raise InputError("the dask frame has no points with a CRS to measure; check it.")
    xs = np.array([box[:, 0].min(), box[:, 2].max()])
    ys = np.array([box[:, 1].min(), box[:, 3].max()])
    return PointData(xs, ys, None, bs.crs, pd.RangeIndex(2))
