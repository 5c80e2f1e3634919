"""Neighbour queries on dask frames by partition halos: sums within a radius, ``knn``
and ``distance`` weights.

Everything runs per partition on core + halo (:mod:`geocluster.weights.halo`) and gives
the in-memory answer:

* :func:`neighbour_sums` (``exposure(method="count" | "kde")``): for each point, the sum
  over the *other* points within a radius (optionally of its own group) of their weight
  times a kernel of the distance; the halo radius is the count radius or the kernel
  support.
* :func:`knn_adjacency`: the K nearest neighbours. Each block starts from a halo
  radius estimated from its density (``1.5 sqrt((K + 2) A / (pi n))``); a point whose
  (K+1)-th nearest distance is within the radius has all its candidates in core + halo,
  so its answer is final. The others are asked again with a halo four times as large,
  up to ``KNN_ROUNDS - 1`` times; what is left is answered by a query over all points,
  and every row whose K-th and (K+1)-th distances tie by the tree query libpysal's
  ``build_knn`` uses over all points (which tied unit wins depends on that tree), exactly
  as :mod:`geocluster.weights.points` answers them in memory. Only then are the
  coordinates gathered on the client (16 bytes a point).

The blocks may be the frame's partitions or spatial tiles
(:func:`geocluster.weights.tiles.spatial_tiles`, for registers whose partitions are not
compact in space): every answer goes back to the client with the global positions of its
points and is put in place by them, never by block order. Counts within a radius use
:func:`geocluster.weights.halo_sums.strip_counts` (the KD-tree's counts, in time that
grows with the square root of the density rather than with it).
* :func:`band_adjacency`: every other point within the distance (inclusive).

The adjacency is assembled into the same ``libpysal.graph.Graph`` as in memory by
:func:`adjacency_graph`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from libpysal.graph import Graph
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import KDTree, cKDTree

from geocluster._base.engine import active_client, dask_progress
from geocluster._base.optional import import_optional
from geocluster._base.validate import make_rng
from geocluster.errors import WeightsError
from geocluster.weights.halo import Block, BlockSet, dask_blocks, map_halo_delayed
from geocluster.weights.halo_sums import strip_counts
from geocluster.weights.points import TIE_RTOL
from geocluster.weights.spec import WeightsSpec
from geocluster.weights.structure import transform_graph
from geocluster.weights.tiles import spatial_tiles

__all__ = [
    "MAX_CHUNK_PAIRS",
    "KNN_ROUNDS",
    "adjacency_graph",
    "band_adjacency",
    "band_block",
    "check_unique",
    "dask_tree_graph",
    "group_pair_counts",
    "knn_adjacency",
    "knn_block",
    "knn_radius",
    "map_blocks",
    "neighbour_sums",
    "pair_sums",
    "tie_breaking_query",
    "tied_query",
]

#: Pairs a per-partition sum holds at once (the core points are taken in chunks).
MAX_CHUNK_PAIRS = 5_000_000
#: Halo rounds of ``knn`` (radius x 4 each) before the remaining points are asked over
#: all points.
KNN_ROUNDS = 5
#: Status codes of :func:`knn_block` rows.
OK, SHORT, TIE, SHARED = 0, 1, 2, 3


def _compute(values: list, label: str) -> tuple:
    """Compute delayed ``values`` on the active client (or dask's default scheduler),
    with the progress shown once (:func:`geocluster._base.engine.dask_progress`)."""
    dask = import_optional("dask", "dask", "partition halos")
    dask_progress(values, label=label)
    return dask.compute(*values)


def _each(values: list, label: str) -> Iterator[tuple[int, Any]]:
    """``(i, result)`` of delayed ``values`` as they finish (on the active client; all at
    once on dask's default scheduler): the client holds few results at a time."""
    client = active_client()
    if client is None:
        yield from enumerate(_compute(values, label))
        return
    distributed = import_optional("distributed", "dask", "partition halos")
    dask_progress(values, label=label)
    futures = client.compute(values)
    where = {f.key: i for i, f in enumerate(futures)}
    del values
    for future in distributed.as_completed(futures):
        i = where[future.key]
        result = future.result()
        futures[i] = None
        future.release()
        yield i, result


# ----------------------------------------------------------------------------- sums


def _groups(block: Block, group: str | None) -> list[np.ndarray]:
    if group is None:
        return [np.arange(len(block))]
    codes = pd.factorize(block.values[group])[0]
    order = np.argsort(codes, kind="stable")
    cuts = np.flatnonzero(np.diff(codes[order])) + 1
    return np.split(order, cuts)


def pair_sums(block: Block, n_core: int, radius: float, weight: str | None = None,
              group: str | None = None,
              kernel: Callable[[np.ndarray], np.ndarray] | None = None,
              skip: tuple = ()) -> np.ndarray:
    """For each of the first ``n_core`` points: the sum over the other points within
    ``radius`` (``<=``, of the same ``group``) of ``weight * kernel(d^2)``.

    Without ``weight`` every point counts 1, without ``kernel`` the kernel is 1 (a
    count). A point alone in its group, or in a group of ``skip``, gets 0.

    Examples
    --------
    >>> b = Block(np.array([0.0, 3.0, 9.0]), np.zeros(3), np.arange(3))
    >>> pair_sums(b, 2, 5.0).tolist()
    [1.0, 1.0]
    """
    xy = block.xy
    w = None if weight is None else np.asarray(block.values[weight], dtype=float)
    out = np.zeros(n_core)
    for rows in _groups(block, group):
        core = rows[rows < n_core]
        if len(core) == 0 or len(rows) < 2 or (
                group is not None and block.values[group][rows[0]] in skip):
            continue
        if w is None and kernel is None:  # the KD-tree's counts, by strips when large
            out[core] = strip_counts(xy[rows], xy[core], radius) - 1
            continue
        tree = cKDTree(xy[rows])
        counts = tree.query_ball_point(xy[core], radius, return_length=True)
        cuts = _chunks(counts)
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            chunk = core[lo:hi]
            m = cKDTree(xy[chunk]).sparse_distance_matrix(tree, radius, output_type="ndarray")
            i, j = m["i"], rows[m["j"]]
            keep = j != chunk[i]  # the point itself (by position, not by distance)
            i, j = i[keep], j[keep]
            vals = np.ones(len(i)) if w is None else w[j]
            if kernel is not None:
                d2 = np.sum((xy[chunk[i]] - xy[j]) ** 2, axis=1)
                vals = vals * kernel(d2)
            out[chunk] = np.bincount(i, vals, minlength=len(chunk))
    return out


def _chunks(counts: np.ndarray) -> np.ndarray:
    """Cut points of consecutive rows holding at most MAX_CHUNK_PAIRS pairs each."""
    total = np.cumsum(counts)
    cuts = [0]
    while cuts[-1] < len(counts):
        start = total[cuts[-1] - 1] if cuts[-1] else 0
        nxt = int(np.searchsorted(total, start + MAX_CHUNK_PAIRS, side="right"))
        cuts.append(max(nxt, cuts[-1] + 1))
    return np.array(cuts)


def neighbour_sums(bs: BlockSet, radius: float, *, weight: str | None = None,
                   group: str | None = None,
                   kernel: Callable[[np.ndarray], np.ndarray] | None = None,
                   skip: Sequence = ()) -> np.ndarray:
    """:func:`pair_sums` of every point of the block set (global order), by halos; the
    points of the groups in ``skip`` get 0 (and cost nothing)."""
    parts = map_halo_delayed(bs, radius, pair_sums, weight, group, kernel, tuple(skip),
                             with_pos=True)
    out = np.zeros(bs.n)
    for _, (pos, values) in _each(parts, "neighbour sums within a radius (partition halos)"):
        out[pos] = values
    return out


def _group_counts(block: Block, n_core: int, radius: float, group: str | None) -> pd.Series:
    counts = pair_sums(block, n_core, radius, group=group)
    keys = np.zeros(n_core, dtype=int) if group is None else block.values[group][:n_core]
    return pd.Series(counts).groupby(keys).sum()


def group_pair_counts(bs: BlockSet, radius: float, group: str | None) -> pd.Series:
    """Ordered pairs of points within ``radius`` (of the same ``group``), per group
    (index 0 without groups): twice the pairs ``count_neighbors`` counts in memory."""
    parts = _compute(map_halo_delayed(bs, radius, _group_counts, group),
                     "pairs within the radius (partition halos)")
    series = [p for p in parts if len(p)]
    return pd.concat(series).groupby(level=0).sum() if series else pd.Series(dtype=float)


def map_blocks(bs: BlockSet, func: Callable[..., Any], *args, label: str) -> list:
    """``func(block, *args)`` on every partition's block (no halo), computed, in order."""
    dask = import_optional("dask", "dask", "partition halos")
    client = active_client()
    # a large array (a density grid) goes to the workers once, not in every task
    shared = [(client.scatter(a, broadcast=True) if client is not None else dask.delayed(a))
              if isinstance(a, np.ndarray) and a.size > 1000 else a for a in args]
    call = dask.delayed(func, pure=True)
    return list(_compute([call(b, *shared) for b in bs.blocks], label))


# ----------------------------------------------------------------------------- knn


def knn_radius(lengths: np.ndarray, bounds: np.ndarray, k: int) -> np.ndarray:
    """First halo radius per partition: 1.5 times the radius of a disc holding K + 2
    points at the partition's density (the overall density for partitions without
    area), at least 1 m.

    Examples
    --------
    >>> knn_radius(np.array([100, 0]), np.array([[0, 0, 100, 100], [np.nan] * 4]), 8)
    array([26.76186174, 26.76186174])
    """
    lengths = np.asarray(lengths, dtype=float)
    width = bounds[:, 2] - bounds[:, 0]
    height = bounds[:, 3] - bounds[:, 1]
    area = np.nan_to_num(width * height)
    full = np.isfinite(bounds).all(axis=1)
    if full.any():
        box = np.array([np.nanmin(bounds[:, 0]), np.nanmin(bounds[:, 1]),
                        np.nanmax(bounds[:, 2]), np.nanmax(bounds[:, 3])])
        total_area = (box[2] - box[0]) * (box[3] - box[1])
    else:
        total_area = 0.0
    overall = total_area / max(lengths.sum(), 1.0)
    per_point = np.where((area > 0) & (lengths >= k + 2), area / np.maximum(lengths, 1),
                         overall)
    return np.maximum(1.5 * np.sqrt((k + 2) * per_point / np.pi), 1.0)


def knn_block(block: Block, n_core: int, radius: float, k: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """The K nearest neighbours (global positions) of the first ``n_core`` points and a
    status per point: 0 final, 1 halo too small, 2 tie at the K-th neighbour (to ask
    over all points), 3 shares its location with another point."""
    status = np.full(n_core, SHORT, dtype=np.int8)
    small = len(block) == 0 or block.pos.max() < np.iinfo(np.int32).max
    neighbours = np.full((n_core, k), -1, dtype=np.int32 if small else np.int64)
    if n_core == 0 or len(block) < 2:
        return neighbours, status
    n_query = min(k + 2, len(block))
    xy = block.xy
    tree = KDTree(xy, balanced_tree=False)
    # asked in the tree's leaf order (consecutive queries visit the same nodes: about
    # twice as fast on points in no spatial order); the answers do not depend on it
    ask = tree.indices[tree.indices < n_core]
    found_d, found_i = tree.query(xy[ask], k=n_query)
    dist = np.empty((n_core, n_query))
    idx = np.empty((n_core, n_query), dtype=np.int64)
    dist[ask] = found_d.reshape(n_core, n_query)
    idx[ask] = found_i.reshape(n_core, n_query)
    del found_d, found_i
    if n_query < k + 2:
        status[dist[:, 1] == 0] = SHARED
        return neighbours, status
    seen = np.isfinite(dist[:, k + 1]) & (dist[:, k + 1] <= radius)
    tie = dist[:, k + 1] - dist[:, k] <= TIE_RTOL * dist[:, k + 1]
    status[seen] = OK
    status[seen & tie] = TIE
    status[dist[:, 1] == 0] = SHARED
    final = status == OK
    neighbours[final] = block.pos[idx[final, 1:k + 1]]
    return neighbours, status


def _sklearn_query(xy: np.ndarray) -> Callable[..., Any]:
    """The tree query libpysal's ``build_knn`` uses (scikit-learn's KDTree when
    installed), as :mod:`geocluster.weights.points` settles ties with it."""
    try:
        from sklearn.neighbors import KDTree as SklearnKDTree
    except ImportError:
        return lambda target, kk: KDTree(xy).query(target, k=kk, p=2)
    return SklearnKDTree(xy, metric="euclidean").query


def tie_breaking_query(xy: np.ndarray, rows: np.ndarray, k: int, workers: int = -1
                       ) -> np.ndarray:
    """The in-memory answer (global positions, ``(len(rows), K)``) for ``rows`` over all
    points ``xy``: scipy's KD-tree, and for rows tied at the K-th neighbour the tree
    query libpysal's ``build_knn`` uses (scikit-learn's when installed), as
    :mod:`geocluster.weights.points` does."""
    n = len(xy)
    n_query = min(k + 2, n)
    dist, idx = KDTree(xy, balanced_tree=False).query(xy[rows], k=n_query, workers=workers)
    dist = dist.reshape(len(rows), n_query)
    neighbours = idx.reshape(len(rows), n_query)[:, 1:k + 1].copy()
    if n_query == k + 2:
        tie = dist[:, k + 1] - dist[:, k] <= TIE_RTOL * dist[:, k + 1]
        if tie.any():
            neighbours[tie] = tied_query(xy, rows[tie], k)
    return neighbours


def tied_query(xy: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The in-memory answer for ``rows`` known to tie at the K-th neighbour: which tied
    unit wins depends on the traversal of the tree over all points ``xy``."""
    _, tied = _sklearn_query(xy)(xy[rows], k + 1)
    return tied[:, 1:]


def _gather_xy(bs: BlockSet) -> np.ndarray:
    """``(n, 2)`` coordinates of every point, by global position."""
    dask = import_optional("dask", "dask", "partition halos")
    xy = np.empty((bs.n, 2))
    for _, (pos, part) in _each([dask.delayed(_pos_xy, pure=True)(b) for b in bs.blocks],
                                "knn: gathering coordinates for the tied rows"):
        xy[pos] = part
    return xy


def _pos_xy(block: Block) -> tuple[np.ndarray, np.ndarray]:
    return block.pos, block.xy


def _halo_rounds(bs: BlockSet, k: int, radii: np.ndarray, neighbours: np.ndarray,
                 status: np.ndarray) -> None:
    """Fill ``neighbours`` and ``status`` (by global position) by up to KNN_ROUNDS halo
    rounds, each asking again only the rows whose halo was too small (radius x 4)."""
    local: list[np.ndarray] = [np.zeros(0, dtype=np.int8)] * len(bs.blocks)
    rows: list | None = None
    for _ in range(KNN_ROUNDS):
        calls = map_halo_delayed(bs, radii, knn_block, k, rows=rows, with_pos=True)
        todo = [i for i in range(len(calls)) if rows is None or len(rows[i])]
        for j, (pos, (nb, st)) in _each([calls[i] for i in todo],
                                        "knn weights (partition halos)"):
            i = todo[j]
            neighbours[pos] = nb
            status[pos] = st
            if rows is None:
                local[i] = st
            else:
                local[i][rows[i]] = st
        del calls
        rows = [np.flatnonzero(st == SHORT) for st in local]
        if not any(len(r) for r in rows):
            return
        radii = radii * 4.0


def knn_adjacency(bs: BlockSet, k: int, *, spec: str, ids: pd.Index,
                  coincident: str = "raise", seed=None, workers: int = -1
                  ) -> tuple[np.ndarray, np.ndarray, BlockSet]:
    """``(n, K)`` neighbour positions, ascending within each row, of every point (int32
    while ``n * K`` fits); the third value is the block set the answer was computed on
    (jittered if asked).

    Rows the halo rounds leave short and rows tied at the K-th neighbour are answered
    over all points (the coordinates gathered by position, 16 bytes a point): the short
    ones as in memory, the tied ones by the tree query whose traversal settles the tie.
    """
    n = bs.n
    if not 1 <= k < n:
        raise WeightsError(
            f"weights spec {spec!r}: K must be between 1 and n-1 = {n - 1} for {n} "
            f"units; use a smaller K (e.g. 'knn:{max(1, min(8, n - 1))}') or more units."
        )
    dtype = np.int32 if n * k < np.iinfo(np.int32).max else np.int64
    neighbours = np.full((n, k), -1, dtype=dtype)
    status = np.full(n, SHORT, dtype=np.int8)
    _halo_rounds(bs, k, knn_radius(bs.lengths, bs.bounds, k), neighbours, status)
    shared = status == SHARED
    if shared.any():
        if coincident == "raise":
            raise _shared_error(spec, shared, ids)
        del neighbours
        bs = _jittered(bs, shared, seed)
        # a second shared location after the jitter needs a draw landing on a point
        return knn_adjacency(bs, k, spec=spec, ids=ids, coincident="raise", workers=workers)
    short = np.flatnonzero(status == SHORT)
    tied = np.flatnonzero(status == TIE)
    if len(short) or len(tied):
        xy = _gather_xy(bs)
        if len(short):
            neighbours[short] = tie_breaking_query(xy, short, k, workers)
        if len(tied):
            neighbours[tied] = tied_query(xy, tied, k)
        del xy
    neighbours.sort(axis=1)
    return neighbours, status, bs


def _shared_error(spec: str, shared: np.ndarray, ids: pd.Index) -> WeightsError:
    return WeightsError(
        f"weights spec {spec!r}: {int(shared.sum())} of {len(shared)} units share a "
        f"location with another unit (e.g. ids {ids[shared][:5].tolist()}), so nearest "
        "neighbours are ambiguous. Remove the duplicates, use a 'distance:D' spec, or "
        "pass coincident='jitter' (moves them by up to 1 mm, reproducible with seed=)."
    )


def _jittered(bs: BlockSet, shared: np.ndarray, seed) -> BlockSet:
    """The block set with each shared-location point moved by the in-memory jitter
    (the same draws, in frame order), applied by global position."""
    dask = import_optional("dask", "dask", "partition halos")
    rng = make_rng(seed, "weights")
    at = np.flatnonzero(shared)
    moves = rng.uniform(-1e-3, 1e-3, size=(len(at), 2))
    blocks = list(dask.persist(*[dask.delayed(_moved, pure=True)(b, at, moves)
                                 for b in bs.blocks]))
    bounds = np.array(_compute([dask.delayed(_bounds, pure=True)(b) for b in blocks],
                               "knn: jittered coordinates"),
                      dtype=float).reshape(-1, 4)
    return BlockSet(blocks, bs.lengths, bounds, bs.crs, bs.index, bs.part_lengths)


def _moved(block: Block, at: np.ndarray, moves: np.ndarray) -> Block:
    """``block`` with the points at global positions ``at`` (sorted) moved by ``moves``."""
    hit = np.searchsorted(at, block.pos)
    found = hit < len(at)
    found[found] = at[hit[found]] == block.pos[found]
    x, y = block.x.copy(), block.y.copy()
    x[found] += moves[hit[found], 0]
    y[found] += moves[hit[found], 1]
    return Block(x, y, block.pos, block.values)


def _bounds(block: Block) -> np.ndarray:
    if len(block) == 0:
        return np.full(4, np.nan)
    return np.array([block.x.min(), block.y.min(), block.x.max(), block.y.max()])


# ----------------------------------------------------------------------------- band


def band_block(block: Block, n_core: int, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """(focal, neighbour) global positions of the pairs within ``distance`` (``<=``) of
    the first ``n_core`` points, the point itself left out."""
    if n_core == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    tree = cKDTree(block.xy)
    m = cKDTree(block.xy[:n_core]).sparse_distance_matrix(tree, distance,
                                                          output_type="ndarray")
    i, j = m["i"], m["j"]
    keep = i != j
    return block.pos[i[keep]], block.pos[j[keep]]


def band_adjacency(bs: BlockSet, distance: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays (indptr, sorted neighbour positions, 0/1 data) of the band; isolates
    get a zero-weight self-loop, as libpysal (and the in-memory path) encode them."""
    n = bs.n
    parts = _compute(map_halo_delayed(bs, distance, band_block),
                     "distance band weights (partition halos)")
    heads = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    tails = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    data = np.ones(len(heads), dtype=np.int8)
    linked = np.zeros(n, dtype=bool)
    linked[heads] = True
    lonely = np.flatnonzero(~linked)
    if len(lonely):
        heads = np.concatenate([heads, lonely])
        tails = np.concatenate([tails, lonely])
        data = np.concatenate([data, np.zeros(len(lonely), dtype=np.int8)])
    matrix = sparse.coo_array((data, (heads, tails)), shape=(n, n)).tocsr()
    matrix.sort_indices()
    return matrix.indptr, matrix.indices, matrix.data


# ----------------------------------------------------------------------------- graph


def adjacency_graph(ids: pd.Index, indptr: np.ndarray, indices: np.ndarray,
                    data: np.ndarray, *, kind: str, transformation: str | None, spec: str,
                    count_components: bool = True) -> tuple[Graph, dict, list]:
    """(Graph, summary, isolate ids) from CSR adjacency in frame order, as
    :func:`geocluster.weights.points.tree_graph` assembles it in memory."""
    n = len(ids)
    counts = np.diff(indptr)
    rows = np.repeat(np.arange(n, dtype=indices.dtype), counts)
    isolated = data[indptr[:-1]] == 0 if kind == "distance" else np.zeros(n, dtype=bool)
    cardinalities = np.where(isolated, 0, counts)
    del counts
    # before the weights exist: the peak is the larger of the two, not their sum
    n_components = count_weak_components(rows, indices, n) if count_components else None
    if transformation in ("R", None, "B"):
        if transformation == "R":
            scale = np.divide(1.0, cardinalities, out=np.zeros(n), where=cardinalities > 0)
            weight = scale[rows]
            del scale
        else:
            weight = data.astype(np.float64 if transformation is None else np.int64)
        graph = _graph(ids, rows, indices, weight, "O" if transformation is None
                       else transformation)
    else:
        graph = _graph(ids, rows, indices, data.astype(np.float64), "O")
        graph = transform_graph(graph, transformation, repr(spec))
    del rows
    # libpysal's cardinalities (a group-by over every edge: 2 GB at 80M edges, which
    # n_edges and isolates read) are these counts: seeded in its cached property
    graph.__dict__["cardinalities"] = pd.Series(
        cardinalities.astype(np.int64), index=graph._adjacency.index.levels[0].rename("focal"),
        name="cardinalities")
    n_isolates = int(isolated.sum())
    info = {"n": n, "edges": int(cardinalities.sum()),
            "mean_neighbours": float(cardinalities.mean()), "components": n_components,
            "isolates": n_isolates}
    return graph, info, ids[isolated][:5].tolist() if n_isolates else []


def count_weak_components(heads: np.ndarray, tails: np.ndarray, n: int) -> int:
    """Weakly connected components of the graph of edges ``heads -> tails`` on ``n``
    nodes, in chunks of at most ``n`` edges: the components of each chunk's edges
    between the current components, which are then merged (memory of ``n``, not of
    the edges, beyond the inputs).

    Examples
    --------
    >>> count_weak_components(np.array([0, 1, 3]), np.array([1, 0, 4]), 6)
    4
    """
    labels = np.arange(n, dtype=np.int32 if n < np.iinfo(np.int32).max else np.int64)
    n_labels = n
    step = max(n, 1)
    for lo in range(0, len(heads), step):
        a = labels[heads[lo:lo + step]]
        b = labels[tails[lo:lo + step]]
        graph = sparse.coo_array((np.ones(len(a)), (a, b)), shape=(n_labels, n_labels))
        del a, b
        n_labels, merged = connected_components(graph.tocsr(), directed=False)
        del graph
        labels = merged.astype(labels.dtype, copy=False)[labels]
    return int(n_labels)


def _graph(ids: pd.Index, rows: np.ndarray, indices: np.ndarray, weight: np.ndarray,
           transformation: str) -> Graph:
    level = pd.Index(np.asarray(ids))
    index = pd.MultiIndex(levels=[level, level], codes=[rows, indices],
                          names=["focal", "neighbor"], verify_integrity=False)
    adjacency = pd.Series(weight, index=index, name="weight", copy=False)
    return Graph(adjacency, transformation=transformation, is_sorted=True)


def check_unique(ids: pd.Index) -> None:
    """Graph ids must be unique."""
    if not ids.is_unique:
        dup = ids[ids.duplicated()].unique()[:5].tolist()
        raise WeightsError(
            f"the dask frame's index has duplicate labels across partitions (e.g. {dup}); "
            "weights use the index as unit ids. Set a unique index first."
        )


def dask_tree_graph(ddf, parsed: WeightsSpec, *, spec: str, transformation: str | None,
                    coincident: str, crs, seed, workers: int, count_components: bool = True
                    ) -> tuple[Graph, dict, list]:
    """``knn`` / ``distance`` weights of a dask frame of points: (Graph, summary, isolate
    ids), equal to :func:`geocluster.weights.points.tree_graph` on the computed frame."""
    bs = spatial_tiles(dask_blocks(ddf, crs=crs, where=f"weights spec {spec!r}",
                                   require_metric=parsed.kind == "distance", with_index=True))
    assert bs.index is not None  # asked for with_index
    ids = bs.index
    check_unique(ids)
    if len(ids) < 2:
        raise WeightsError(
            f"weights need at least 2 units; the frame has {len(ids)}. Pass a frame with "
            "two or more units (rows)."
        )
    if parsed.kind == "knn":
        assert parsed.k is not None  # a parsed knn spec always carries K
        neighbours, _, _ = knn_adjacency(bs, parsed.k, spec=spec, ids=ids,
                                         coincident=coincident, seed=seed, workers=workers)
        del bs  # the persisted blocks are released before the graph is assembled
        n, k = neighbours.shape
        indptr = np.arange(0, n * k + 1, k, dtype=neighbours.dtype)
        indices, data = neighbours.ravel(), np.ones(n * k, dtype=np.int8)
    else:
        assert parsed.distance is not None  # a parsed band carries its distance
        indptr, indices, data = band_adjacency(bs, parsed.distance)
        del bs
    return adjacency_graph(ids, indptr, indices, data, kind=parsed.kind,
                           transformation=transformation, spec=spec,
                           count_components=count_components)
