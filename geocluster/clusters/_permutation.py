"""Tie-aware permutation inference: one engine for every pseudo p-value in the package.

Private module. The local statistics (local Moran's I, Getis-Ord G and G*) are all of
the form ``S_i = a_i * sum_j w_ij v_j + b_i`` where ``j`` runs over the neighbours of
``i`` (the unit itself excluded), ``a_i`` and ``b_i`` do not change under conditional
permutation and ``v`` is the permuted variable. Conditional permutation keeps ``v_i``
at unit ``i`` and gives its ``k_i`` neighbours ``k_i`` values drawn without replacement
from the other ``n - 1`` units. Comparing a simulated ``S_i`` with the observed one is
therefore comparing ``a_i * lag``; :func:`conditional_counts` does that for all units
and counts, for each unit, the draws *at least as large* (``ge``) and *at most as
large* (``le``) as the observed value. A draw within a relative tolerance of the
observed value (``RTOL`` times the statistic's scale) counts on both sides.

P-values (:func:`pseudo_p`)
---------------------------
With ``S`` simulations,

* folded (two tails folded into one, esda's and GeoDa's number, but tie-aware):
  ``p = (min(ge, le) + 1) / (S + 1)``;
* ``"greater"``: ``(ge + 1) / (S + 1)``; ``"less"``: ``(le + 1) / (S + 1)``;
* two-sided: ``min(1, 2 p_folded)``.

Without ties ``ge + le = S`` and the folded value equals esda's ``p_sim``. With ties
it differs: esda counts only ``sim >= obs`` and folds with ``S - ge``, so a unit whose
every draw ties the observed statistic (a zero among zeros) gets ``S - S = 0`` and the
most extreme p, ``1 / (S + 1)``; here it gets ``(S + 1) / (S + 1) = 1``. R's spdep
``localmoran_perm`` ranks the observed value among the draws with ``rank()`` (ties
averaged) and looks the rank up in a table of probabilities, which gives tied units a
middle rank; ``localG_perm`` reports only a z from the mean and variance of the draws.

Engine
------
One table of random neighbour draws is shared by all units: row ``s`` holds
``k_max`` distinct integers in ``[0, n - 1)`` (``k_max`` the largest number of
neighbours), drawn from ``default_rng(seed)``; unit ``i`` uses the first ``k_i``
columns and maps a draw ``t`` to unit ``t + (t >= i)`` (so it never draws itself).
The values at ``t`` and ``t + 1`` are gathered once for the whole table. The same
seed gives the same table and the same counts. Two paths use it:

* **Equal weights** (every neighbour of ``i`` has the same weight ``w_i``: binary or
  row-standardised contiguity and knn, i.e. local Moran and Gi* as usually run). The
  simulated statistic is ``(w_i x - obs_i) a_i`` with ``x`` the plain sum of the
  drawn values, a monotone function of ``x`` (rounding included). Units with the
  same ``k`` are taken in blocks of nearby indices ``[first, last]``: in a table row
  with no draw in ``[first, last)`` the shift ``t >= i`` is the same for every unit
  of the block, so the row gives them all the same ``x``. These shared sums are
  sorted once per block and each unit counts its draws ``>=`` / ``<=`` observed by a
  binary search (``np.searchsorted`` at the crossing points, each checked with the
  statistic itself). The few rows with a draw inside the block (about
  ``S k B / n`` per block of ``B`` units) are summed unit by unit. Cost: about
  ``n / B`` sorts of ``S`` numbers plus ``O(n log S)``, instead of ``O(n S k)``.
* **Other weights** (kernel, inverse distance): each unit's ``S`` lags
  ``sum_c w_ic v_c`` are formed column by column, in blocks of units (sorted by
  their number of neighbours, so blocks have little padding).

Both paths add the same values in the same order for a unit whatever block it is
in, so the counts do not depend on the block sizes (``block_elements``,
``block_units``) or on ``n_jobs``, the number of threads the blocks are spread over
(numpy releases the GIL in the array work). A working array holds at most
``block_elements`` numbers, so memory per thread does not grow with ``n`` beyond the
``S x k_max`` table and a few arrays of length ``n``; the simulations themselves are
never kept.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import sparse

from geocluster.errors import GeoclusterWarning, InputError

#: Draws within ``RTOL`` times the statistic's scale of the observed value are ties.
RTOL = 1e-10
#: Numbers in one working array of a block (4 MB as float64); a thread holds a few.
BLOCK_ELEMENTS = 1 << 19
#: Fewer (units x permutations) than this run in one thread whatever ``n_jobs`` is.
PARALLEL_DRAWS = 2 * 10**7
#: Refuse permutation tables (or kept simulations) larger than this many bytes.
MAX_TABLE_BYTES = 1024**3
ALTERNATIVES = ("folded", "two-sided", "greater", "less")
#: Bytes per entry of the permutation table: the int32 draw and the float64 values at
#: ``t`` and ``t + 1``.
TABLE_BYTES_PER_DRAW = 20


def check_size(
    permutations: int,
    width: int,
    *,
    what: str,
    name: str = "permutations",
    bytes_each: int = TABLE_BYTES_PER_DRAW,
    kind: str = "random neighbour draws",
) -> None:
    """Refuse ``permutations x width`` stored numbers beyond :data:`MAX_TABLE_BYTES`.

    The message gives the memory estimate and the largest value that fits.
    """
    width = max(int(width), 1)
    need = float(bytes_each) * permutations * width
    if need > MAX_TABLE_BYTES:
        fit = int(MAX_TABLE_BYTES // (bytes_each * width))
        raise InputError(
            f"{what}: {name}={permutations:,} is too many to fit in memory: it needs "
            f"{permutations:,} x {width:,} {kind}, about {need / 1024**3:,.1f} GiB (the "
            f"limit is {MAX_TABLE_BYTES / 1024**3:.0f} GiB, at most {fit:,} {name} here). "
            f"Use {name}=999 or 9999; a pseudo p-value resolves to 1/({name}+1)."
        )


def permutation_table(n: int, k_max: int, permutations: int, rng: np.random.Generator):
    """``(permutations, k_max)`` int array: each row ``k_max`` distinct draws from ``[0, n-1)``."""
    m = n - 1
    k_max = min(k_max, m)
    dtype = np.int32 if n < 2**31 - 1 else np.int64
    table = np.empty((permutations, k_max), dtype=dtype)
    if k_max == 0:
        return table
    if 4 * k_max >= m:  # dense (few units): a full permutation per row is cheap
        for s in range(permutations):
            table[s] = rng.permutation(m)[:k_max]
        return table
    for s in range(permutations):
        table[s] = rng.choice(m, size=k_max, replace=False, shuffle=True)
    return table


def conditional_counts(
    values: np.ndarray,
    neighbours: sparse.csr_array,
    coef: np.ndarray,
    permutations: int,
    rng: np.random.Generator,
    *,
    units: np.ndarray | None = None,
    rtol: float = RTOL,
    block_elements: int = BLOCK_ELEMENTS,
    block_units: int | None = None,
    n_jobs: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Tie-aware counts of conditionally permuted draws at least / at most as large as observed.

    Parameters
    ----------
    values
        ``(n,)`` float64, the permuted variable ``v``.
    neighbours
        ``(n, n)`` sparse weights; the diagonal is ignored (a self weight does not
        change under conditional permutation).
    coef
        ``(n,)`` the factor ``a_i`` of the lag in the statistic (its sign sets the
        direction; 0 makes every draw a tie).
    permutations
        Number of draws ``S``.
    rng
        Generator for the shared permutation table.
    units
        Indices of the units to test (default all); the others get counts 0.
    rtol
        Relative tolerance for a tie (times the statistic's scale).
    block_elements
        Numbers in one working array of a block (memory per thread is a few such
        arrays); does not change the counts.
    block_units
        Units per block of the equal-weights path (default: chosen from the number
        of units and neighbours); does not change the counts.
    n_jobs
        Threads over blocks of units (``-1``: every core available to the process);
        does not change the counts.

    Returns
    -------
    ge, le
        ``(n,)`` int64 counts of draws with ``S_sim >= S_obs`` and ``S_sim <= S_obs``
        (within the tolerance).
    """
    v = np.ascontiguousarray(values, dtype=np.float64)
    n = len(v)
    w = _off_diagonal(neighbours)
    card = np.diff(w.indptr)
    coef = np.asarray(coef, dtype=np.float64)
    if units is None:
        todo = np.flatnonzero(card > 0)
    else:
        todo = np.sort(np.asarray(units, dtype=np.int64))
        todo = todo[np.append(True, todo[1:] != todo[:-1])] if len(todo) else todo
        todo = todo[card[todo] > 0]
    ge = np.zeros(n, dtype=np.int64)
    le = np.zeros(n, dtype=np.int64)
    if len(todo) == 0 or permutations == 0:
        return ge, le
    if not (np.isfinite(v).all() and np.isfinite(coef[todo]).all()):
        bad = np.flatnonzero(~np.isfinite(v)) if not np.isfinite(v).all() else (
            np.flatnonzero(~np.isfinite(coef)))
        raise InputError(
            f"permutation inference needs finite values, but {len(bad)} units (rows "
            f"{(bad[:5] + 1).tolist()}, counted from 1 among the analysed units) are "
            "missing or infinite. Drop or fill them first (e.g. missing='drop', or "
            "replace the log of zero)."
        )
    block_elements = max(int(block_elements), 1)
    threads = n_threads(n_jobs)
    k_max = int(card[todo].max())
    table = permutation_table(n, k_max, permutations, rng)
    # draw t stands for unit t + (t >= i): gather both candidates once for the table
    v_at = v[table]
    v_next = v[table + 1]
    observed = w @ v
    rows = np.flatnonzero(card > 0)
    starts = w.indptr[rows]
    wsum = np.zeros(n)
    wsum[rows] = np.add.reduceat(w.data if w.data.min() >= 0 else np.abs(w.data), starts)
    scale = float(np.abs(coef[todo]).max()) * float(wsum[todo].max()) * float(np.abs(v).max())
    tol = rtol * scale
    shared = _Shared(table, v_at, v_next, observed, coef, tol, ge, le, block_elements)

    # units whose neighbours all carry the same weight (row-standardised or binary
    # contiguity and knn): their lag is that weight times a plain sum of the draws
    equal = np.zeros(n, dtype=bool)
    equal[rows] = np.minimum.reduceat(w.data, starts) == np.maximum.reduceat(w.data, starts)
    weight = np.zeros(n)
    weight[rows] = w.data[starts]
    tasks: list[tuple[Callable[..., None], tuple]] = []
    flat = todo[equal[todo]]
    for k in np.unique(card[flat]):
        group = flat[card[flat] == k]  # sorted by index
        size = block_units or _auto_block_units(len(group), int(k))
        bounds = np.append(np.arange(0, len(group), max(int(size), 1)), len(group))
        # a task's arrays: blocks x S shared sums, and a dozen per unit
        per_task = max(1, min(block_elements // permutations, block_elements // (8 * size)))
        per_task = min(per_task, max(1, -(-(len(bounds) - 1) // (4 * threads))))
        for b0 in range(0, len(bounds) - 1, per_task):
            b = bounds[b0 : b0 + per_task + 1]
            tasks.append((_equal_weights_task, (shared, group[b[0] : b[-1]], b - b[0], int(k),
                                                weight)))
    other = todo[~equal[todo]]
    if len(other):
        order = other[np.argsort(card[other], kind="stable")]
        chunk = min(permutations, block_elements)
        start = 0
        while start < len(order):
            size = max(1, block_elements // chunk)
            block = order[start : start + size]
            tasks.append((_weighted_task, (shared, block, w, chunk)))
            start += size
    # threads pay off from about 10^7 draws (10,000 units x 999); below, they only cost
    if threads == 1 or len(tasks) == 1 or permutations * len(todo) < PARALLEL_DRAWS:
        for fn, args in tasks:
            fn(*args)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for future in [pool.submit(fn, *args) for fn, args in tasks]:
                future.result()
    return ge, le


def _off_diagonal(neighbours) -> sparse.csr_array:
    """The weights as CSR without the diagonal and explicit zeros (sorted; input untouched)."""
    w = sparse.csr_array(neighbours, dtype=np.float64)
    if not w.has_canonical_format:
        w = w.copy()  # csr_array() may share the caller's arrays
        w.sum_duplicates()
    if not (w.diagonal().any() or (w.data == 0).any()):
        return w
    n = w.shape[0]
    row = np.repeat(np.arange(n, dtype=w.indices.dtype), np.diff(w.indptr))
    keep = (w.indices != row) & (w.data != 0)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(row[keep], minlength=n), out=indptr[1:])
    return sparse.csr_array((w.data[keep], w.indices[keep], indptr), shape=w.shape)


def n_threads(n_jobs: int) -> int:
    """Threads for ``n_jobs`` (``-1``: the cores this process may use)."""
    if n_jobs == -1:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            return max(1, os.cpu_count() or 1)
    return max(1, int(n_jobs))


class _Shared:
    """What every block reads (the table and per-unit arrays) and writes (the counts)."""

    __slots__ = ("table", "v_at", "v_next", "table_t", "v_at_t", "v_next_t", "observed",
                 "coef", "tol", "ge", "le", "elements")

    def __init__(self, table, v_at, v_next, observed, coef, tol, ge, le, elements):
        self.table, self.v_at, self.v_next = table, v_at, v_next
        # column c of the table as one contiguous row (fast gathers)
        self.table_t = np.ascontiguousarray(table.T)
        self.v_at_t = np.ascontiguousarray(v_at.T)
        self.v_next_t = np.ascontiguousarray(v_next.T)
        self.observed, self.coef, self.tol = observed, coef, tol
        self.ge, self.le, self.elements = ge, le, elements


def _auto_block_units(n_units: int, k: int) -> int:
    """Units per equal-weights block balancing the shared rows against the mixed ones.

    A block of ``B`` units costs about ``S (3k + 20)`` operations for its shared row
    sums and their sort, and ``3 k^2 S B^2 / n`` for the rows where a draw falls
    between its units; the sum over the ``n / B`` blocks is smallest at
    ``B = sqrt(n (3k + 20) / (3 k^2))``; the mixed rows cost about twice that in
    practice (gathers), hence the 6 below.
    """
    return int(max(1, min(n_units, np.sqrt(n_units * (3 * k + 20) / (6 * k * k)))))


def _equal_weights_task(sh: _Shared, group: np.ndarray, bounds: np.ndarray, k: int,
                        weight: np.ndarray) -> None:
    """Counts for units with ``k`` equally weighted neighbours, in blocks of nearby indices.

    For a unit ``i`` of a block whose indices lie in ``[first, last]``, a draw
    ``t >= last`` stands for ``t + 1`` and a draw ``t < first`` for ``t``, whatever
    ``i`` is; only draws with ``first <= t < last`` depend on the unit. A row of the
    table with no such draw (a *shared* row) gives every unit of the block the same
    sum of drawn values ``x``; the statistic ``(w_i x - obs_i) a_i`` is monotone in
    ``x`` (rounding included), so sorting the shared sums once per block lets a
    binary search count, for each unit, the shared rows at least / at most as large
    as observed. The other (*mixed*) rows are summed unit by unit. Both sums add the
    same values in the same order, so a unit's counts do not depend on its block.
    """
    tol = sh.tol
    s_total = sh.table.shape[0]
    t, va, vn = sh.table_t, sh.v_at_t, sh.v_next_t  # k_max x S, contiguous rows
    first = group[bounds[:-1]][:, None]
    last = group[bounds[1:] - 1][:, None]
    sizes = np.diff(bounds)
    # block x row: the shared sum (valid where the row is not mixed) and whether it is mixed
    x = np.where(t[0] >= last, vn[0], va[0])
    mixed = (t[0] >= first) & (t[0] < last)
    for c in range(1, k):
        x += np.where(t[c] >= last, vn[c], va[c])
        mixed |= (t[c] >= first) & (t[c] < last)
    n_shared = s_total - np.count_nonzero(mixed, axis=1)
    x[mixed] = np.nan
    x.sort(axis=1)  # NaN (the mixed rows) last

    flat_x = x.ravel()
    row0 = np.repeat(np.arange(len(sizes)) * s_total, sizes)  # a unit's row in flat_x
    wg, og, ag = weight[group], sh.observed[group], sh.coef[group]
    up = np.sign(wg) * np.sign(ag) >= 0  # the statistic grows with x (or is constant)
    hi_all = np.repeat(n_shared, sizes)
    last_row = s_total - 1

    def holds(which, j, sub=slice(None)):
        # the predicates, monotone False ... True along a sorted row: ">= -tol" (the
        # first True counts ge) and "> tol" (counts le), mirrored where x lowers the statistic
        d = (wg[sub] * flat_x[row0[sub] + np.minimum(j, last_row)] - og[sub]) * ag[sub]
        if which == 1:
            return np.where(up[sub], d >= -tol, d < -tol)
        return np.where(up[sub], d > tol, d <= tol)

    # where the predicates turn True: the shared sums at which the statistic crosses
    # -tol and +tol, found by np.searchsorted in each block's sorted row, then checked
    # exactly with the statistic itself (a binary search settles any rounding miss)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        off = tol / ag
        cross = ((og - off) / wg, (og + off) / wg)
    first_true = []
    for which, at in ((1, cross[0]), (2, cross[1])):
        pos = np.empty(len(group), dtype=np.int64)
        for b in range(len(sizes)):
            s0, s1 = bounds[b], bounds[b + 1]
            pos[s0:s1] = np.searchsorted(x[b, : n_shared[b]], at[s0:s1])
        good = (pos == hi_all) | holds(which, pos)
        good &= (pos == 0) | ~holds(which, np.maximum(pos - 1, 0))
        redo = np.flatnonzero(~good)
        if len(redo):
            lo = np.zeros(len(redo), dtype=np.int64)
            hi = hi_all[redo].copy()
            while True:
                act = lo < hi
                if not act.any():
                    break
                mid = (lo + hi) // 2
                ok = holds(which, mid, redo)
                hi = np.where(act & ok, mid, hi)
                lo = np.where(act & ~ok, mid + 1, lo)
            pos[redo] = lo
        first_true.append(pos)
    ge = np.where(up, hi_all - first_true[0], first_true[0])
    le = np.where(up, first_true[1], hi_all - first_true[1])

    # mixed rows: every unit of the block, its own shift of each draw
    mb, ms = np.nonzero(mixed)
    if len(mb):
        count = sizes[mb]
        ends = np.cumsum(count)
        cut = max(1, sh.elements)
        p0 = 0
        while p0 < len(mb):
            # a slice of (block, row) pairs expanding to about `cut` (unit, row) pairs
            p1_ = int(np.searchsorted(ends, (ends[p0 - 1] if p0 else 0) + cut, side="right"))
            p1_ = max(p1_, p0 + 1)
            cnt = count[p0:p1_]
            offs = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            pos = np.repeat(bounds[mb[p0:p1_]], cnt) + offs
            rows = np.repeat(ms[p0:p1_], cnt)
            u = group[pos]
            xs = np.where(t[0][rows] >= u, vn[0][rows], va[0][rows])
            for c in range(1, k):
                xs += np.where(t[c][rows] >= u, vn[c][rows], va[c][rows])
            d = (weight[u] * xs - sh.observed[u]) * sh.coef[u]
            ge += np.bincount(pos[d >= -tol], minlength=len(group))
            le += np.bincount(pos[d <= tol], minlength=len(group))
            p0 = p1_
    sh.ge[group] = ge
    sh.le[group] = le


def _weighted_task(sh: _Shared, block: np.ndarray, w: sparse.csr_array, chunk: int) -> None:
    """Counts for units whose neighbours carry different weights: each draw, unit by unit.

    ``block`` is sorted by the number of neighbours; a narrower unit's extra columns
    have weight 0, which adds exactly 0, and the lag adds ``w_ic v`` column by column
    in a fixed order, so a unit's counts do not depend on its block.
    """
    table, v_at, v_next, tol = sh.table, sh.v_at, sh.v_next, sh.tol
    s_total = table.shape[0]
    card = np.diff(w.indptr)[block]
    k_b = int(card.max())
    wb = np.zeros((len(block), k_b))
    col = np.arange(k_b)
    fill = col[None, :] < card[:, None]
    wb[fill] = w.data[(w.indptr[block][:, None] + col[None, :])[fill]]
    obs = sh.observed[block, None]
    a = sh.coef[block, None]
    me = block[:, None]
    ge = np.zeros(len(block), dtype=np.int64)
    le = np.zeros(len(block), dtype=np.int64)
    for p0 in range(0, s_total, chunk):
        sl = slice(p0, p0 + chunk)
        lag = np.where(table[None, sl, 0] >= me, v_next[None, sl, 0], v_at[None, sl, 0])
        lag *= wb[:, :1]
        for c in range(1, k_b):
            vals = np.where(table[None, sl, c] >= me, v_next[None, sl, c], v_at[None, sl, c])
            vals *= wb[:, c : c + 1]
            lag += vals
        d = (lag - obs) * a
        ge += np.count_nonzero(d >= -tol, axis=1)
        le += np.count_nonzero(d <= tol, axis=1)
    sh.ge[block] = ge
    sh.le[block] = le


def pseudo_p(ge: np.ndarray, le: np.ndarray, permutations: int, alternative: str) -> np.ndarray:
    """Tie-aware pseudo p-values from the counts (see the module docstring)."""
    ge = np.asarray(ge, dtype=float)
    le = np.asarray(le, dtype=float)
    s1 = permutations + 1.0
    if alternative == "greater":
        return (ge + 1.0) / s1
    if alternative == "less":
        return (le + 1.0) / s1
    folded = (np.minimum(ge, le) + 1.0) / s1
    if alternative == "two-sided":
        return np.minimum(1.0, 2.0 * folded)
    return folded


def count_ties(sims: np.ndarray, observed: float, scale: float, rtol: float = RTOL):
    """``(#{sim >= obs}, #{sim <= obs})`` with draws within ``rtol * scale`` counted as ties."""
    tol = rtol * scale
    d = np.asarray(sims, dtype=float) - observed
    return int(np.count_nonzero(d >= -tol)), int(np.count_nonzero(d <= tol))


def warn_coarse(y: np.ndarray, column: str, what: str, stacklevel: int = 3) -> None:
    """Warn when more than half of the units share one value (permutation inference is coarse)."""
    vals, counts = np.unique(y[~np.isnan(y)], return_counts=True)
    if len(counts) == 0:
        return
    top = int(counts.argmax())
    if counts[top] * 2 > len(y):
        warnings.warn(
            f"{what}: {int(counts[top])} of {len(y)} units ({counts[top] / len(y):.0%}) of "
            f"column {column!r} share the value {vals[top]:g}, so many permutation draws tie "
            "the observed statistic and inference there is coarse (ties count on both sides, "
            "so such units are rarely significant). Consider a rate (per worker, per km^2) or "
            "a smoothed variable (e.g. an empirical Bayes rate or a kernel density).",
            GeoclusterWarning,
            stacklevel=stacklevel,
        )
