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
The values at ``t`` and ``t + 1`` are gathered once for the whole table, so a unit
only selects between them. Units are processed in blocks (sorted by their number of
neighbours, so blocks have little padding), vectorised in float64; a block's working arrays hold at
most ``BLOCK_ELEMENTS`` numbers, so memory does not grow with ``n`` beyond the
``S x k_max`` table and a few arrays of length ``n``. The simulations themselves are
never kept. The same seed gives the same table and the same counts.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from geocluster.errors import InputError

#: Draws within ``RTOL`` times the statistic's scale of the observed value are ties.
RTOL = 1e-10
#: Numbers in one block's working arrays (about 16 MB per float64 array).
BLOCK_ELEMENTS = 1 << 21
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

    Returns
    -------
    ge, le
        ``(n,)`` int64 counts of draws with ``S_sim >= S_obs`` and ``S_sim <= S_obs``
        (within the tolerance).
    """
    v = np.ascontiguousarray(values, dtype=np.float64)
    n = len(v)
    w = sparse.csr_array(neighbours, dtype=np.float64)
    w = w - sparse.diags_array(w.diagonal()) if w.diagonal().any() else w
    w.eliminate_zeros()
    w.sort_indices()
    card = np.diff(w.indptr)
    coef = np.asarray(coef, dtype=np.float64)
    todo = np.arange(n) if units is None else np.asarray(units)
    todo = todo[card[todo] > 0]
    ge = np.zeros(n, dtype=np.int64)
    le = np.zeros(n, dtype=np.int64)
    if len(todo) == 0 or permutations == 0:
        return ge, le
    k_max = int(card[todo].max())
    table = permutation_table(n, k_max, permutations, rng)
    # draw t stands for unit t + (t >= i): gather both candidates once for the table, so
    # each block only selects between them (3-4x faster than gathering per unit)
    v_at = v[table]
    v_next = v[table + 1]
    observed = w @ v
    wsum = np.asarray(abs(w).sum(axis=1)).ravel()
    scale = float(np.abs(coef[todo]).max()) * float(wsum[todo].max()) * float(np.abs(v).max())
    tol = rtol * scale
    order = todo[np.argsort(card[todo], kind="stable")]
    start = 0
    while start < len(order):
        # sorted by cardinality: the block's widest unit is its last one
        k_hi = int(card[order[min(start + block_elements // permutations, len(order) - 1)]])
        chunk = min(permutations, max(1, block_elements // k_hi))
        size = max(1, block_elements // (chunk * k_hi))
        stop = min(start + size, len(order))
        block = order[start:stop]
        k_b = int(card[block[-1]])
        wb = np.zeros((len(block), k_b))
        col = np.arange(k_b)
        fill = col[None, :] < card[block][:, None]
        wb[fill] = w.data[(w.indptr[block][:, None] + col[None, :])[fill]]
        obs = observed[block, None]
        a = coef[block, None]
        for p0 in range(0, permutations, chunk):
            t = table[p0 : p0 + chunk, :k_b]
            shifted = t[None, :, :] >= block[:, None, None]  # b x s x k_b
            vals = np.where(shifted, v_next[None, p0 : p0 + chunk, :k_b],
                            v_at[None, p0 : p0 + chunk, :k_b])
            lag = np.matmul(vals, wb[:, :, None])[:, :, 0]  # b x s
            d = (lag - obs) * a
            ge[block] += np.count_nonzero(d >= -tol, axis=1)
            le[block] += np.count_nonzero(d <= tol, axis=1)
        start = stop
    return ge, le


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
    import warnings

    from geocluster.errors import GeoclusterWarning

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
