"""Exact counts of the points within a radius, in time that grows slowly with density.

A KD-tree's ``query_ball_point(..., return_length=True)`` visits every neighbour: at 10 km
around the firms of a national register (thousands to tens of thousands of neighbours a
firm) the count costs in proportion to the density. :func:`strip_counts` gives the same
integers from horizontal strips of height ``s``, the points of each strip sorted by x:

* for a query point and a strip, the disc of radius ``r`` covers the x-range
  ``qx +- c_min`` of the whole strip (``c_min`` the half-chord at the strip's far edge)
  and no point beyond ``qx +- c_max`` (the half-chord at its near edge); the points in
  the inner range are counted by two binary searches, without looking at them;
* only the points of the two thin bands between the ranges (area about ``4 r s`` over all
  strips) are tested one by one, with the test of the KD-tree (``dx*dx + dy*dy <= r*r``).

The inner ranges are shrunk by a margin (and the bands widened by it) far above the
round-off of the arithmetic, so a point counted without a test is within the radius by
more than round-off: the counts are those of the KD-tree, exactly. The strip height
balances the binary searches (``2 r / s`` strips a query) against the band tests
(density x ``4 r s``), from the density seen around a sample of the queries.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from geocluster.weights.tiles import tile_cuts, tile_of

__all__ = ["MAX_BAND_PAIRS", "MIN_STRIP_POINTS", "PIECE_QUERIES", "STRIP_COST", "strip_counts"]

#: Below this many reference points the KD-tree count is used (it is fast there).
MIN_STRIP_POINTS = 20_000
#: The strip height is ``sqrt(STRIP_COST / density)``: the ratio of the cost of a binary
#: search to that of a band test, times the geometry (measured on this machine).
STRIP_COST = 10.0
#: Queries of one strip layout: larger query sets are cut in compact pieces, each with
#: the reference points near it and a strip height of its own density.
PIECE_QUERIES = 20_000
#: Band tests held in memory at once (the query points are taken in chunks).
MAX_BAND_PAIRS = 4_000_000


def _density(tree_xy: np.ndarray, query_xy: np.ndarray, radius: float) -> float:
    """Points per square metre around a sample of the queries (their mean count)."""
    rows = np.linspace(0, len(query_xy) - 1, min(200, len(query_xy))).astype(np.int64)
    mean = cKDTree(tree_xy).query_ball_point(query_xy[rows], radius,
                                             return_length=True).mean()
    return float(max(mean, 1.0) / (np.pi * radius * radius))


def strip_counts(ref: np.ndarray, query: np.ndarray, radius: float,
                 height: float | None = None) -> np.ndarray:
    """For each ``query`` point, the number of ``ref`` points within ``radius``
    (``<=``, the point itself included when it is in ``ref``): equal to
    ``cKDTree(ref).query_ball_point(query, radius, return_length=True)``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.uniform(0, 100, (3000, 2))
    >>> want = cKDTree(ref).query_ball_point(ref[:500], 10.0, return_length=True)
    >>> bool((strip_counts(ref, ref[:500], 10.0, height=1.5) == want).all())
    True
    """
    if len(query) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(ref) < MIN_STRIP_POINTS and height is None:
        return cKDTree(ref).query_ball_point(query, radius, return_length=True)
    if len(query) > PIECE_QUERIES and height is None:
        return _pieces(ref, query, radius)
    return _strip_counts(ref, query, radius, height)


def _pieces(ref: np.ndarray, query: np.ndarray, radius: float) -> np.ndarray:
    """:func:`strip_counts` on compact pieces of the queries (each with the reference
    points within the radius of its box, a superset of what its queries can see)."""
    step = max(1, len(query) // 20_000)
    xcuts, ycuts = tile_cuts(query[::step], int(np.ceil(len(query) / PIECE_QUERIES)))
    piece = tile_of(query[:, 0], query[:, 1], xcuts, ycuts)
    order = np.argsort(piece, kind="stable")
    cuts = np.flatnonzero(np.diff(piece[order])) + 1
    out = np.zeros(len(query), dtype=np.int64)
    limit = (radius * (1.0 + 1e-9)) ** 2
    for rows in np.split(order, cuts):
        sub = query[rows]
        lo, hi = sub.min(axis=0), sub.max(axis=0)
        gap = np.maximum(np.maximum(lo - ref, ref - hi), 0.0)
        near = ref[(gap * gap).sum(axis=1) <= limit]
        out[rows] = _strip_counts(near, sub, radius, None)
    return out


def _strip_counts(ref: np.ndarray, query: np.ndarray, radius: float,
                  height: float | None) -> np.ndarray:
    if len(ref) < MIN_STRIP_POINTS and height is None:
        return cKDTree(ref).query_ball_point(query, radius, return_length=True)
    density = _density(ref, query, radius)
    s = float(np.clip(np.sqrt(STRIP_COST / density), radius / 400.0, radius)
              if height is None else height)
    chunk = int(np.clip(MAX_BAND_PAIRS / (density * 4 * radius * s + 4 * radius / s + 1),
                        100, 50_000))
    x0 = min(ref[:, 0].min(), query[:, 0].min()) - radius
    y0 = min(ref[:, 1].min(), query[:, 1].min()) - radius
    span = max(ref[:, 0].max(), query[:, 0].max()) - x0 + 4 * radius + 1.0
    strip = np.floor((ref[:, 1] - y0) / s).astype(np.int64)
    key = strip * span + (ref[:, 0] - x0)
    order = np.argsort(key, kind="stable")
    key, rx, ry = key[order], ref[order, 0], ref[order, 1]
    # margins: far above the round-off of keys (span * strips * 2^-52) and coordinates
    margin = 1e-6 * radius + 1e-9 * (span + (strip.max() + 2) * s) + 1e-3
    # queries in key order: consecutive searches touch the same memory
    qorder = np.argsort(np.floor((query[:, 1] - y0) / s) * span + (query[:, 0] - x0),
                        kind="stable")
    out = np.zeros(len(query), dtype=np.int64)
    for lo in range(0, len(query), chunk):
        rows = qorder[lo:lo + chunk]
        out[rows] = _chunk_counts(query[rows], key, rx, ry, radius, s, x0, y0, span, margin)
    return out


def _chunk_counts(q: np.ndarray, key, rx, ry, radius, s, x0, y0, span, margin):
    qx, qy = q[:, 0], q[:, 1]
    qs = np.floor((qy - y0) / s).astype(np.int64)
    n_off = int(np.ceil(radius / s)) + 1
    r2 = radius * radius
    inside = np.zeros(len(q), dtype=np.int64)
    heads, starts, stops = [], [], []
    qxk = qx - x0
    for off in range(-n_off, n_off + 1):
        target = qs + off
        bottom = y0 + target * s
        # distance from the query to the strip's near and far edges (0 inside it)
        near = np.maximum(np.maximum(bottom - qy, qy - (bottom + s)), 0.0)
        far = np.maximum(np.abs(qy - bottom), np.abs(qy - (bottom + s)))
        reach = near - margin <= radius
        if not reach.any():
            continue
        c_max = np.sqrt(np.maximum(r2 - np.maximum(near - margin, 0.0) ** 2, 0.0)) + margin
        c_min = np.sqrt(np.maximum(r2 - (far + margin) ** 2, 0.0)) - margin
        full = c_min > 0
        base = target * span + qxk
        lo_out = np.searchsorted(key, base - c_max, side="left")
        hi_out = np.searchsorted(key, base + c_max, side="right")
        lo_in = np.where(full, np.searchsorted(key, base - c_min, side="left"), lo_out)
        hi_in = np.where(full, np.searchsorted(key, base + c_min, side="right"), lo_out)
        hi_in = np.maximum(hi_in, lo_in)
        inside += np.where(reach, hi_in - lo_in, 0)
        # the bands: [lo_out, lo_in) and [hi_in, hi_out) (all of [lo_out, hi_out) when
        # the strip has no inner range)
        rows = np.flatnonzero(reach)
        heads += [rows, rows]
        starts += [lo_out[rows], np.maximum(hi_in[rows], lo_in[rows])]
        stops += [lo_in[rows], hi_out[rows]]
    head = np.concatenate(heads)
    start = np.concatenate(starts)
    length = np.maximum(np.concatenate(stops) - start, 0)
    del heads, starts, stops
    out = inside
    cum = np.cumsum(length)
    lo = 0
    while lo < len(length):  # the band tests in pieces of at most MAX_BAND_PAIRS
        base = cum[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(cum, base + MAX_BAND_PAIRS, side="right")), lo + 1)
        n_pairs = int(cum[hi - 1] - base)
        if n_pairs:
            seg = length[lo:hi]
            who = np.repeat(head[lo:hi], seg)
            at = np.repeat(start[lo:hi] - (cum[lo:hi] - base) + seg, seg) + np.arange(n_pairs)
            dx = rx[at] - qx[who]
            dy = ry[at] - qy[who]
            out = out + np.bincount(who[dx * dx + dy * dy <= r2], minlength=len(q))
        lo = hi
    return out
