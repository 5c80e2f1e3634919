"""Local Geary's c, univariate and multivariate (Anselin 2019), with conditional permutation.

``C_i = (1 / k) sum_v sum_j w_ij (z_v,i - z_v,j)^2`` over ``k`` standardised columns and
row-standardised weights (Anselin 1995 for ``k = 1``; Anselin 2019, *A Local Indicator of
Multivariate Spatial Association: Extending Geary's c*, Geographical Analysis 51(2)).
A small ``C_i`` means the unit resembles its neighbours (positive association), a large
one that it differs (negative association).

The statistic is computed here, not with :class:`esda.geary_local.Geary_Local`: esda
returns its values in the order of the sorted ids, not the frame's (on Columbus with
shuffled string ids it is off by up to 9), and standardises with ``ddof=0``.

Scaling
-------
R ``spdep::localC`` standardises with ``ddof=1`` (``scale()``), esda and GeoDa with
``ddof=0``: spdep's value is ``(n - 1) / n`` times esda's. ``scaling="esda"``
(default) or ``"spdep"`` picks the scale of ``geary_C`` and ``geary_EC``; the p-values
and clusters are the same under both.

Inference
---------
Conditional permutation: unit ``i`` keeps its values and its neighbours get the rows
(all ``k`` columns together) of other units drawn without replacement, from the same
shared permutation table as :func:`geocluster.local_moran` (same ``seed``, same draws).
``geary_p`` is the tie-aware folded pseudo p-value ``(min(ge, le) + 1) / (P + 1)``
(``"two-sided"``, ``"greater"``, ``"less"`` as in :func:`geocluster.local_moran`;
``"less"`` tests for positive association). ``geary_EC`` is the exact conditional
expectation ``w_i. (n d_i + S) / (n - 1)`` averaged over the columns (``d_i`` the
squared standardised value, ``S = sum z^2``). spdep's ``localC_perm`` draws with
replacement; its ``Pr(folded) Sim`` agrees with ours within Monte Carlo error.

Clusters (GeoDa's local Geary cluster map): a significant unit with ``C_i < E[C_i]`` is
``"HH"`` (univariate: the value and the lag of the value above the mean), ``"LL"``
(both below) or ``"OP"`` (other positive); with ``C_i > E[C_i]`` it is ``"NEG"``
(negative association). Multivariate: ``"POS"`` or ``"NEG"``. Others are ``"ns"``.
"""

from __future__ import annotations

from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from libpysal.graph import Graph
from scipy import sparse

from geocluster.clusters import _inference as inf
from geocluster.clusters import _permutation as _perm
from geocluster.clusters.bivariate import prepare_columns
from geocluster.errors import InputError

__all__ = ["local_geary", "GEARY_COLUMNS", "GEARY_CLASSES", "geary_counts"]

#: Columns ``local_geary`` adds to the frame.
GEARY_COLUMNS = ("geary_C", "geary_EC", "geary_p", "geary_cluster")
#: The values of ``geary_cluster``.
GEARY_CLASSES = ("HH", "LL", "OP", "POS", "NEG", "ns")


def local_geary(
    gdf: gpd.GeoDataFrame,
    column: str | list[str],
    *,
    weights: str | Graph = "queen",
    permutations: int = 999,
    seed: int | np.random.Generator | None = None,
    alpha: float = 0.05,
    correction: Literal["fdr", "bonferroni"] | None = None,
    alternative: Literal["folded", "two-sided", "greater", "less"] = "folded",
    scaling: Literal["esda", "spdep"] = "esda",
    isolates: Literal["raise", "drop", "keep"] = "raise",
    missing: Literal["raise", "drop"] = "raise",
) -> gpd.GeoDataFrame:
    """Local Geary's c of one column or several (multivariate), with permutation inference.

    Parameters
    ----------
    gdf
        Areal units (or points with a point-based ``weights`` spec). Not modified.
    column
        A numeric column, or a list of them for the multivariate statistic.
    weights, seed, alpha, correction, isolates, missing
        As in :func:`geocluster.local_moran` (weights row-standardised).
    permutations
        Conditional permutations (at least 1: local Geary has no analytic p-value here).
    alternative
        ``"folded"`` (default), ``"two-sided"``, ``"less"`` (positive association:
        ``C_i`` small) or ``"greater"`` (negative association).
    scaling
        ``"esda"`` (default, ``ddof=0``) or ``"spdep"`` (R's ``localC``, ``ddof=1``).

    Returns
    -------
    GeoDataFrame
        A copy of ``gdf`` with ``geary_C``, its exact conditional expectation
        ``geary_EC``, ``geary_p`` and ``geary_cluster`` (see the module docstring).
        ``attrs`` (information only) records the options and the cut-off.

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.geary import local_geary
    >>> col = gc.datasets.load_columbus()
    >>> lg = local_geary(col, "CRIME", seed=1)
    >>> lg["geary_cluster"].value_counts().to_dict()
    {'ns': 31, 'HH': 10, 'LL': 8}
    >>> mv = local_geary(col, ["CRIME", "INC", "HOVAL"], seed=1)
    >>> sorted(mv["geary_cluster"].unique())
    ['NEG', 'POS', 'ns']
    """
    columns = [column] if isinstance(column, str) else list(column) if isinstance(
        column, list | tuple) else None
    if not columns:
        raise InputError(
            f"column={column!r} must be a column name or a non-empty list of column names."
        )
    inf.check_options(permutations=permutations, alpha=alpha, correction=correction,
                      alternative=alternative, isolates=isolates, missing=missing,
                      where="local_geary")
    if permutations < 1:
        raise InputError("local_geary needs permutations >= 1 (e.g. 999): its p-value is a "
                         "permutation pseudo p-value.")
    if scaling not in ("esda", "spdep"):
        raise InputError(f"scaling={scaling!r} must be 'esda' or 'spdep' (R's localC).")
    perm_seed = inf.permutation_seed(seed, "local_geary")
    prep = prepare_columns(gdf, columns, weights, isolates=isolates, missing=missing,
                           what="local_geary")
    graph = prep.graph.transform("R")
    w = sparse.csr_array(graph.sparse)
    _perm.check_size(permutations, int(graph.cardinalities.max()), what="local_geary")
    z = (prep.y - prep.y.mean(axis=0)) / prep.y.std(axis=0)
    stat, expected = _geary_stat(z, w)
    has = prep.tested_in_graph
    ge, le = geary_counts(z, w, stat, permutations, inf.make_rng(perm_seed),
                          units=np.flatnonzero(has))
    p = np.where(has, _perm.pseudo_p(ge, le, permutations, alternative), np.nan)
    p_all = inf.full_length(p, prep.analysed)
    p_all[~prep.tested] = np.nan
    sig, cut = inf.significance(p_all, alpha, correction)
    inf.warn_unreachable(cut, permutations, correction)
    inf.warn_fdr_resolution(p_all, cut, alpha, permutations, correction, "local_geary")
    labels = _classes(z, graph, stat, expected)
    cluster = np.where(sig, inf.full_length(labels, prep.analysed, fill="ns", dtype=object), "ns")
    factor = (len(z) - 1) / len(z) if scaling == "spdep" else 1.0
    out = gdf.copy()
    for name, values in (("C", stat * factor), ("EC", expected * factor)):
        full = inf.full_length(values, prep.analysed)
        full[~prep.tested] = np.nan
        out[f"geary_{name}"] = full
    out["geary_p"] = p_all
    out["geary_cluster"] = pd.Series(cluster, index=out.index, dtype="object")
    out.attrs = dict(gdf.attrs)
    out.attrs.update(
        statistic="local_geary", column=columns[0] if len(columns) == 1 else list(columns),
        columns=list(columns), weights=prep.label, transform="R",
        permutations=int(permutations), seed=inf.seed_label(seed), permutation_seed=perm_seed,
        alpha=float(alpha), correction=correction, cutoff=cut, alternative=alternative,
        p_value=inf.p_label(permutations, alternative), scaling=scaling,
        n_tested=int(prep.tested.sum()), **inf.policy_attrs(prep, isolates),
    )
    return out


def _geary_stat(z: np.ndarray, w: sparse.csr_array) -> tuple[np.ndarray, np.ndarray]:
    """``C_i`` and its exact conditional expectation (``z`` is n x k, standardised)."""
    n, k = z.shape
    w = w - sparse.diags_array(w.diagonal())
    w1 = np.asarray(w.sum(axis=1)).ravel()
    # sum_j w_ij (z_i - z_j)^2 = z_i^2 w_i. - 2 z_i lag(z)_i + lag(z^2)_i
    stat = (z**2 * w1[:, None] - 2 * z * (w @ z) + w @ (z**2)).sum(axis=1) / k
    s = (z**2).sum(axis=0)
    expected = w1 * ((n * z**2 + s) / (n - 1)).sum(axis=1) / k
    return stat, expected


def _classes(z: np.ndarray, graph: Graph, stat: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """GeoDa's local Geary classes of every unit (before the significance test)."""
    positive = stat < expected
    if z.shape[1] > 1:
        return np.where(positive, "POS", "NEG").astype(object)
    lag = graph.lag(z[:, 0])
    high, lag_high = z[:, 0] > 0, lag > 0
    pos = np.where(high & lag_high, "HH", np.where(~high & ~lag_high, "LL", "OP"))
    return np.where(positive, pos, "NEG").astype(object)


def geary_counts(z: np.ndarray, w: sparse.csr_array, observed: np.ndarray, permutations: int,
                 rng: np.random.Generator, *, units: np.ndarray,
                 rtol: float = _perm.RTOL) -> tuple[np.ndarray, np.ndarray]:
    """Tie-aware counts of conditional draws of ``C_i`` at least / at most as large as observed.

    Uses :func:`geocluster.clusters._permutation.permutation_table` (unit ``i`` maps a
    draw ``t`` to ``t + (t >= i)``); ``z`` is ``n x k``, ``w`` the weights (diagonal
    ignored) in CSR order. Units are taken one at a time (``S x k_i`` numbers each).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> z = np.array([[-1.0], [0.0], [1.0], [2.0]])
    >>> w = sparse.csr_array(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0.]]))
    >>> ge, le = geary_counts(z, w, np.array([1.0, 1.0, 1.0, 1.0]), 50,
    ...                       np.random.default_rng(0), units=np.arange(4))
    >>> bool(((ge + le) >= 50).all())
    True
    """
    n, k = z.shape
    w = sparse.csr_array(w, dtype=float)
    w = w - sparse.diags_array(w.diagonal())
    w.eliminate_zeros()
    w.sort_indices()
    card = np.diff(w.indptr)
    ge = np.zeros(n, dtype=np.int64)
    le = np.zeros(n, dtype=np.int64)
    units = np.asarray(units, dtype=np.int64)
    units = units[card[units] > 0]
    if len(units) == 0:
        return ge, le
    table = _perm.permutation_table(n, int(card[units].max()), permutations, rng)
    tol = rtol * max(float(np.abs(observed[units]).max()), 1e-300)
    columns = [np.ascontiguousarray(z[:, v]) for v in range(k)]  # 1-D gathers are fast
    for i in units:
        ki = card[i]
        t = table[:, :ki]
        m = t + (t >= i)  # S x k_i units drawn
        d = (columns[0][m] - z[i, 0]) ** 2
        for v in range(1, k):
            d += (columns[v][m] - z[i, v]) ** 2
        sims = (d / k) @ w.data[w.indptr[i] : w.indptr[i + 1]]
        diff = sims - observed[i]
        ge[i] = np.count_nonzero(diff >= -tol)
        le[i] = np.count_nonzero(diff <= tol)
    return ge, le
