"""Spatial tiles for partition halos on registers that are not partitioned in space.

Halo queries (:mod:`geocluster.weights.halo`) use each block's bounding box. A register
whose files each cover the whole country (a national register in id or date order) has
blocks whose boxes are all the whole extent: every block's halo is every other point and
each task holds all of them. :func:`spatial_tiles` re-blocks such a block set in space:

1. a sample of the coordinates (about :data:`SAMPLE_POINTS`, an even stride through each
   block) comes to the client and cuts the plane into ``a x b`` tiles of about equal
   counts: ``a`` columns at the sample's x quantiles, then ``b`` rows per column at the
   y quantiles of that column's sample;
2. every block is split by tile on the workers (:func:`split_block`) and the pieces of a
   tile are put together (P x T small pieces), its points in ascending global position.

Tiles are compact, so halos between them are thin. A point's tile is a function of its
coordinates alone (a point on a cut goes to the higher side), so coincident points share
a tile; tiles may be empty (many points on one cut value). The lengths of the original
partitions are kept (:attr:`~geocluster.weights.halo.BlockSet.part_lengths`) for
:func:`~geocluster.weights.halo.with_column`, and every consumer puts results back by
global position (``Block.pos``), never by block order.

A block set whose partitions are already compact (``read_firms(...,
spatial_partitions=True)``, ``spatial_shuffle``) keeps its blocks: tiles pay when the
partitions' boxes overlap (:func:`needs_tiles`).
"""

from __future__ import annotations

import numpy as np

from geocluster._base.optional import import_optional
from geocluster.weights.halo import Block, BlockSet, block_bounds, concat_blocks, dask_blocks

__all__ = [
    "OVERLAP_LIMIT",
    "SAMPLE_POINTS",
    "TILE_POINTS",
    "assemble_tile",
    "needs_tiles",
    "sample_block",
    "spatial_tiles",
    "split_block",
    "tile_cuts",
    "tile_of",
    "tiled_blocks",
]

#: Points a tile holds at most (about): more tiles than partitions when these are large.
TILE_POINTS = 200_000
#: Sum of the partitions' box areas over the area of the whole extent beyond which the
#: block set is re-blocked in tiles (spatial partitions give about 1, partitions that
#: each cover the extent give their number).
OVERLAP_LIMIT = 1.5
#: Coordinates gathered to the client to place the tile cuts.
SAMPLE_POINTS = 200_000


def needs_tiles(bs: BlockSet) -> bool:
    """Whether re-blocking ``bs`` in tiles pays: its partitions' boxes overlap (their
    areas add up to more than :data:`OVERLAP_LIMIT` times the extent's), or one holds
    more than four times :data:`TILE_POINTS`.

    Examples
    --------
    >>> whole = np.array([[0.0, 0.0, 10.0, 10.0]] * 3)
    >>> strips = np.array([[0.0, 0, 3, 10], [3, 0, 7, 10], [7, 0, 10, 10]])
    >>> lengths = np.array([100, 100, 100])
    >>> needs_tiles(BlockSet([None] * 3, lengths, whole, None))
    True
    >>> needs_tiles(BlockSet([None] * 3, lengths, strips, None))
    False
    """
    full = np.isfinite(bs.bounds).all(axis=1)
    if bs.n == 0 or not full.any():
        return False
    if bs.lengths.max() > 4 * TILE_POINTS:
        return True
    if full.sum() < 2:
        return False
    box = bs.bounds[full]
    width = box[:, 2].max() - box[:, 0].min()
    height = box[:, 3].max() - box[:, 1].min()
    # a margin so that points on a line (zero area) still compare
    pad = 1e-6 * max(width, height, 1.0)
    areas = (box[:, 2] - box[:, 0] + pad) * (box[:, 3] - box[:, 1] + pad)
    return bool(areas.sum() > OVERLAP_LIMIT * (width + pad) * (height + pad))


def sample_block(block: Block, m: int) -> np.ndarray:
    """``(min(m, len), 2)`` coordinates at an even stride through the block."""
    if len(block) == 0 or m <= 0:
        return np.zeros((0, 2))
    rows = np.unique(np.linspace(0, len(block) - 1, min(m, len(block))).astype(np.int64))
    return np.column_stack([block.x[rows], block.y[rows]])


def tile_cuts(sample: np.ndarray, n_tiles: int) -> tuple[np.ndarray, np.ndarray]:
    """``(xcuts, ycuts)``: ``a - 1`` column cuts at x quantiles of ``sample`` and, per
    column, ``b - 1`` row cuts at the y quantiles of its sample (``a * b >= n_tiles``).

    Examples
    --------
    >>> xy = np.column_stack([np.repeat(np.arange(4.0), 4), np.tile(np.arange(4.0), 4)])
    >>> xcuts, ycuts = tile_cuts(xy, 4)
    >>> xcuts.tolist(), ycuts.tolist()
    ([2.0], [[2.0], [2.0]])
    """
    a = max(1, int(np.ceil(np.sqrt(n_tiles))))
    b = max(1, int(np.ceil(n_tiles / a)))
    xs = np.sort(sample[:, 0])
    xcuts = xs[(np.arange(1, a) * len(xs)) // a] if len(xs) else np.full(a - 1, np.inf)
    column = np.searchsorted(xcuts, sample[:, 0], side="right")
    ycuts = np.full((a, b - 1), np.inf)
    for c in range(a):
        ys = np.sort(sample[column == c, 1])
        if len(ys):
            ycuts[c] = ys[(np.arange(1, b) * len(ys)) // b]
    return xcuts, ycuts


def tile_of(x: np.ndarray, y: np.ndarray, xcuts: np.ndarray, ycuts: np.ndarray) -> np.ndarray:
    """The tile of each point (``column * b + row``); a point on a cut goes to the
    higher side, so the tile depends on the coordinates alone.

    Examples
    --------
    >>> tile_of(np.array([0.0, 2.0, 3.0]), np.array([3.0, 1.0, 2.0]),
    ...         np.array([2.0]), np.array([[2.0], [2.0]])).tolist()
    [1, 2, 3]
    """
    b = ycuts.shape[1] + 1
    column = np.searchsorted(xcuts, x, side="right")
    row = np.zeros(len(x), dtype=np.int64)
    for c in np.unique(column):
        at = column == c
        row[at] = np.searchsorted(ycuts[c], y[at], side="right")
    return column * b + row


def split_block(block: Block, xcuts: np.ndarray, ycuts: np.ndarray) -> tuple[Block, ...]:
    """The block's points by tile (one block per tile, empty ones included), each in the
    block's order."""
    n_tiles = len(ycuts) * (ycuts.shape[1] + 1)
    tiles = tile_of(block.x, block.y, xcuts, ycuts)
    order = np.argsort(tiles, kind="stable")
    cuts = np.searchsorted(tiles[order], np.arange(n_tiles + 1))
    return tuple(block.take(order[lo:hi]) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True))


def assemble_tile(*pieces: Block) -> Block:
    """One tile from its pieces, its points in ascending global position."""
    tile = concat_blocks(pieces)
    if len(tile) > 1 and (np.diff(tile.pos) < 0).any():
        tile = tile.take(np.argsort(tile.pos, kind="stable"))
    return tile


def _info(block: Block) -> tuple[int, np.ndarray]:
    return len(block), block_bounds(block)


def spatial_tiles(bs: BlockSet, *, n_tiles: int | None = None,
                  force: bool = False) -> BlockSet:
    """``bs`` re-blocked in compact tiles of about equal counts, when it pays
    (:func:`needs_tiles`) or ``force``; else ``bs`` itself.

    ``n_tiles`` defaults to the larger of the number of non-empty partitions and
    ``n / TILE_POINTS``. The tiles are persisted (the active client's memory) and the
    returned block set keeps the partitions' lengths in ``part_lengths``; drop the
    references to ``bs`` so that its blocks are released.
    """
    if not (force or needs_tiles(bs)) or bs.n == 0:
        return bs
    dask = import_optional("dask", "dask", "partition halos")
    if n_tiles is None:
        n_tiles = max(int((bs.lengths > 0).sum()), int(np.ceil(bs.n / TILE_POINTS)), 1)
    share = np.ceil(SAMPLE_POINTS * bs.lengths / max(bs.n, 1)).astype(int)
    sample = dask.compute(*[dask.delayed(sample_block, pure=True)(b, int(m))
                            for b, m in zip(bs.blocks, share, strict=True)])
    xcuts, ycuts = tile_cuts(np.concatenate(sample), n_tiles)
    total = len(ycuts) * (ycuts.shape[1] + 1)
    split = dask.delayed(split_block, pure=True, nout=total)
    pieces = [split(b, xcuts, ycuts) for b in bs.blocks]
    assemble = dask.delayed(assemble_tile, pure=True)
    tiles = list(dask.persist(*[assemble(*[p[t] for p in pieces]) for t in range(total)]))
    info = dask.compute(*[dask.delayed(_info, pure=True)(t) for t in tiles])
    lengths = np.array([n for n, _ in info], dtype=np.int64)
    bounds = np.array([b for _, b in info], dtype=float).reshape(-1, 4)
    return BlockSet(tiles, lengths, bounds, bs.crs, bs.index, part_lengths=bs.frame_lengths)


def tiled_blocks(ddf, columns=(), **kwargs) -> BlockSet:
    """:func:`~geocluster.weights.halo.dask_blocks` then :func:`spatial_tiles` (when the
    partitions overlap): the block set a halo query should run on."""
    return spatial_tiles(dask_blocks(ddf, columns, **kwargs))
