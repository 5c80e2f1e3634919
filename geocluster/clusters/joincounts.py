"""Join counts of a binary variable: local (univariate, co-location, bivariate) and global.

A binary column (exporting firms present, a specialised unit, ...) is 1 for "black" (B)
and 0 for "white" (W) units. Weights are binary (a neighbour weighs 1, as R spdep's
``style = "B"``), whatever ``weights`` spec builds them.

Local join counts (Anselin & Li 2019, *Local join counts*, Journal of Geographical Systems)
---------------------------------------------------------------------------------------------
* univariate: ``BB_i = x_i sum_j w_ij x_j``, the neighbours of a B unit that are B;
* co-location (``other=z``, ``kind="colocation"``):
  ``CLC_i = x_i z_i sum_j w_ij x_j z_j``, units where both events occur, and their
  neighbours where both do;
* bivariate (``other=z``, ``kind="bivariate"``, ``x`` and ``z`` never both 1):
  ``BJC_i = x_i (1 - z_i) sum_j w_ij z_j (1 - x_j)``, an ``x`` unit's neighbours with
  ``z``.

These are R ``spdep``'s ``local_joincount_uni`` and ``local_joincount_bv`` (tests to
1e-12). ``jc_p`` is the one-sided conditional permutation pseudo p-value of "at least as
many joins": ``(ge + 1) / (P + 1)``, the focal unit kept and its neighbours drawn without
replacement from the other units (ties, which are the rule for counts, count as at least
as many). It is computed for every unit where the focal event occurs and that has
neighbours (``jc_event``; spdep leaves units without joins out, they get ``p = 1``
here). With ``permutations=0`` ``jc_p`` is the exact conditional p-value: the number of
neighbours with the event is hypergeometric (``k_i`` draws from ``n - 1`` units of which
``m - v_i`` have it).

Global join counts (Cliff & Ord 1981)
-------------------------------------
:func:`join_counts` gives ``BB = 1/2 sum_ij w_ij x_i x_j``, ``WW`` likewise for
``1 - x`` and ``BW = 1/2 sum_ij w_ij (x_i (1 - x_j) + (1 - x_i) x_j)``, their
expectations and variances under non-free sampling (randomisation: R
``joincount.test(sampling = "nonfree")`` and ``joincount.multi``), and a permutation
test: the labels are permuted over all units, ties counted on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from libpysal.graph import Graph
from scipy import sparse, stats

from geocluster._base.summary import P_VALUE, Summary, format_number
from geocluster.clusters import _inference as inf
from geocluster.clusters import _permutation as _perm
from geocluster.clusters.bivariate import prepare_columns
from geocluster.errors import InputError

__all__ = ["local_join_counts", "join_counts", "JoinCountResult", "JC_COLUMNS",
           "binary_column", "nonfree_moments"]

#: Columns ``local_join_counts`` adds to the frame.
JC_COLUMNS = ("jc_count", "jc_event", "jc_p", "jc_cluster")
JC_KINDS = ("colocation", "bivariate")


def binary_column(gdf, column: str, what: str) -> pd.Series:
    """The column as floats 0/1 (NaN kept), after checking it is boolean or 0/1."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{what} needs a GeoDataFrame, got {type(gdf).__name__}.")
    if not isinstance(column, str) or column not in gdf.columns:
        raise InputError(
            f"column {column!r} is not in the frame. Available columns: "
            f"{[c for c in gdf.columns if c != gdf.geometry.name][:20]}."
        )
    s = gdf[column]
    if s.dtype == bool or str(s.dtype) == "boolean":
        return s.astype("float64")
    if not pd.api.types.is_numeric_dtype(s.dtype):
        raise InputError(
            f"column {column!r} has dtype {s.dtype}, but {what} needs a binary column "
            "(True/False or 0/1). Make one, e.g. gdf[column] == 'yes' or gdf['lq'] > 1.25."
        )
    values = s.astype("float64")
    bad = values.notna() & ~values.isin([0.0, 1.0])
    if bad.any():
        raise InputError(
            f"column {column!r} must hold only 0 and 1 (or True/False); rows "
            f"{values.index[bad][:5].tolist()} hold {values[bad].unique()[:5].tolist()}. "
            "Make it binary first, e.g. (gdf[column] > threshold).astype(int)."
        )
    return values


def local_join_counts(
    gdf: gpd.GeoDataFrame,
    column: str,
    other: str | None = None,
    *,
    kind: Literal["colocation", "bivariate"] | None = None,
    weights: str | Graph = "queen",
    permutations: int = 999,
    seed: int | np.random.Generator | None = None,
    alpha: float = 0.05,
    correction: Literal["fdr", "bonferroni"] | None = None,
    isolates: Literal["raise", "drop", "keep"] = "raise",
    missing: Literal["raise", "drop"] = "raise",
    n_jobs: int = 1,
) -> gpd.GeoDataFrame:
    """Local join counts of a binary column (univariate) or of two (co-location, bivariate).

    Parameters
    ----------
    gdf
        Areal units (or points with a point-based ``weights`` spec). Not modified.
    column
        Binary column (bool or 0/1): the event, e.g. "has exporting firms".
    other
        A second binary column for the bivariate statistics (default: univariate).
    kind
        With ``other``: ``"colocation"`` (default; both events at the unit and at its
        neighbours) or ``"bivariate"`` (``column`` at the unit, ``other`` at its
        neighbours; the two never both 1). Not allowed without ``other``.
    weights, seed, alpha, correction, isolates, missing, n_jobs
        As in :func:`geocluster.local_moran`; the weights are made binary.
    permutations
        Conditional permutations for ``jc_p``; 0 gives the exact (hypergeometric)
        conditional p-value instead.

    Returns
    -------
    GeoDataFrame
        A copy of ``gdf`` with ``jc_count`` (the local join count, 0 where the focal
        event does not occur), ``jc_event`` (the focal event occurs and the unit has
        neighbours: the tested units), ``jc_p`` (NaN where not tested) and
        ``jc_cluster`` (``"cluster"`` where ``jc_p <= attrs["cutoff"]``, else ``"ns"``).

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.joincounts import local_join_counts
    >>> col = gc.datasets.load_columbus()
    >>> col["hi_crime"] = col["CRIME"] > col["CRIME"].quantile(0.6)
    >>> jc = local_join_counts(col, "hi_crime", permutations=0)
    >>> int(jc["jc_event"].sum()), int((jc["jc_cluster"] == "cluster").sum())
    (20, 6)
    """
    if other is None and kind is not None:
        raise InputError(f"kind={kind!r} applies to two columns only: give other= as well, or "
                         "leave kind= out for the univariate join count.")
    kind = kind or "colocation"
    if kind not in JC_KINDS:
        raise InputError(f"kind={kind!r} must be 'colocation' or 'bivariate'.")
    inf.check_options(permutations=permutations, alpha=alpha, correction=correction,
                      alternative="greater", isolates=isolates, missing=missing,
                      n_jobs=n_jobs, where="local_join_counts")
    perm_seed = inf.permutation_seed(seed, "local_join_counts")
    names = [column] if other is None else [column, other]
    values = {c: binary_column(gdf, c, "local_join_counts") for c in names}
    prep = prepare_columns(gdf, names, weights, isolates=isolates, missing=missing,
                           what="local_join_counts", values=values)
    focal, lagged = _focal_and_lagged(prep.y, other, kind, names)
    graph = prep.graph.transform("B")
    w = sparse.csr_array(graph.sparse)
    count = focal * (w @ lagged)
    tested = prep.tested_in_graph & (focal > 0)
    p = _jc_p(lagged, w, focal, count, tested, permutations, perm_seed, n_jobs)
    p_all = inf.full_length(p, prep.analysed)
    sig, cut = inf.significance(p_all, alpha, correction)
    inf.warn_unreachable(cut, permutations, correction)
    inf.warn_fdr_resolution(p_all, cut, alpha, permutations, correction, "local_join_counts")
    out = gdf.copy()
    out["jc_count"] = inf.full_length(count, prep.analysed)
    out["jc_event"] = inf.full_length(tested, prep.analysed, fill=False, dtype=bool)
    out["jc_p"] = p_all
    out["jc_cluster"] = pd.Series(np.where(sig, "cluster", "ns"), index=out.index, dtype="object")
    out.attrs = dict(gdf.attrs)
    out.attrs.update(
        statistic="local_join_counts", column=column, other=other,
        kind=None if other is None else kind, weights=prep.label, transform="B",
        permutations=int(permutations), seed=inf.seed_label(seed), permutation_seed=perm_seed,
        alpha=float(alpha), correction=correction, cutoff=cut,
        p_value=("one-sided (greater) pseudo p-value, conditional permutation, ties counted "
                 "as at least as many" if permutations else
                 "one-sided (greater) exact conditional (hypergeometric) p-value"),
        n_tested=int(tested.sum()), **inf.policy_attrs(prep, isolates),
    )
    return out


def _focal_and_lagged(y: np.ndarray, other, kind: str, names) -> tuple[np.ndarray, np.ndarray]:
    """The focal indicator (at the unit) and the lagged one (at the neighbours)."""
    x = y[:, 0]
    if other is None:
        return x, x
    z = y[:, 1]
    if kind == "colocation":
        return x * z, x * z
    both = (x * z) > 0
    if both.any():
        raise InputError(
            f"kind='bivariate' needs events that never occur together, but {int(both.sum())} "
            f"units have both {names[0]!r} and {names[1]!r}. Use kind='colocation' for "
            "events that can co-occur."
        )
    return x * (1 - z), z * (1 - x)


def _jc_p(lagged, w, focal, count, tested, permutations, perm_seed, n_jobs) -> np.ndarray:
    """One-sided p of at least ``count`` joins: permutation (tie-aware) or hypergeometric."""
    p = np.full(len(count), np.nan)
    if not tested.any():
        return p
    if permutations:
        _perm.check_size(permutations, int(np.diff(w.indptr).max()), what="local_join_counts")
        ge, le = _perm.conditional_counts(lagged, w, focal, permutations,
                                          inf.make_rng(perm_seed),
                                          units=np.flatnonzero(tested), n_jobs=n_jobs)
        p[tested] = _perm.pseudo_p(ge, le, permutations, "greater")[tested]
        return p
    off = w - sparse.diags_array(w.diagonal())
    k = np.diff(sparse.csr_array(off).indptr)
    n = len(lagged)
    others = lagged.sum() - lagged  # units with the event among the other n - 1
    # binary weights: the count is the number of neighbours with the event
    p[tested] = stats.hypergeom.sf(count[tested] - 1, n - 1, others[tested], k[tested])
    return p


# ============================================================================ global


def nonfree_moments(nb: int, nw: int, s0: float, s1: float, s2: float) -> dict[str, tuple]:
    """Expectation and variance of BB, WW and BW under non-free sampling (Cliff & Ord 1981).

    ``nb``, ``nw`` are the counts of B and W units, ``s0``, ``s1``, ``s2`` the weights
    constants (R ``spweights.constants``). The formulas of R ``joincount.test`` and
    ``joincount.multi``.

    Examples
    --------
    >>> m = nonfree_moments(2, 2, 8.0, 16.0, 64.0)  # 4 units on a cycle, binary weights
    >>> [round(float(v), 10) for v in m["BB"]]
    [0.6666666667, 0.2222222222]
    """
    n = nb + nw
    n1, n2, n3 = n - 1, n - 2, n - 3
    s02 = s0 * s0

    def same(m):
        e = s0 * m * (m - 1) / (2 * n * n1)
        v = s1 * m * (m - 1) / (n * n1)
        v += (s2 - 2 * s1) * m * (m - 1) * (m - 2) / (n * n1 * n2)
        v += (s02 + s1 - s2) * m * (m - 1) * (m - 2) * (m - 3) / (n * n1 * n2 * n3)
        return e, 0.25 * v - e * e

    e_bw = s0 * nb * nw / (n * n1)
    v_bw = 2 * s1 * nb * nw / (n * n1)
    v_bw += (s2 - 2 * s1) * nb * nw * (nb + nw - 2) / (n * n1 * n2)
    v_bw += 4 * (s02 + s1 - s2) * nb * (nb - 1) * nw * (nw - 1) / (n * n1 * n2 * n3)
    return {"BB": same(nb), "WW": same(nw), "BW": (e_bw, 0.25 * v_bw - e_bw * e_bw)}


@dataclass(frozen=True)
class JoinCountResult:
    """Global join counts BB, WW, BW with non-free-sampling moments and a permutation test.

    Attributes
    ----------
    counts : dict
        ``{"BB": ..., "WW": ..., "BW": ...}`` the observed join counts.
    expected, variance, z : dict
        Their expectation, variance and z-value under non-free sampling.
    p_norm, p_sim : dict
        Analytic (normal) and permutation p-values for ``alternative`` (NaN without
        permutations).
    p_value : dict
        The headline p-values (``p_sim`` with permutations, else ``p_norm``).

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.joincounts import join_counts
    >>> col = gc.datasets.load_columbus()
    >>> col["hi_crime"] = col["CRIME"] > col["CRIME"].quantile(0.6)
    >>> jc = join_counts(col, "hi_crime", seed=1)
    >>> jc.to_frame().loc["BB"].index.tolist()
    ['nonfree', 'permutation']
    >>> jc.counts["BB"], round(jc.expected["BB"], 4)
    (40.0, 19.0646)
    """

    counts: dict
    expected: dict
    variance: dict
    z: dict
    p_norm: dict
    p_sim: dict
    alternative: str
    permutations: int
    n: int
    n_black: int
    column: str
    weights: str
    seed: int | str | None = None
    sim_mean: dict = field(default_factory=dict)
    sim_var: dict = field(default_factory=dict)

    @property
    def p_value(self) -> dict:
        """Permutation p-values with permutations, else the analytic ones."""
        return dict(self.p_sim if self.permutations else self.p_norm)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k} = {self.counts[k]:g} (z = {self.z[k]:.2f}, p = "
                          f"{self.p_value[k]:.3g})" for k in ("BB", "WW", "BW"))
        return (f"<JoinCountResult of {self.column!r} on {self.n} units ({self.n_black} B), "
                f"weights {self.weights}: {parts}>")

    def to_frame(self) -> pd.DataFrame:
        """Rows ``(join, inference)``; columns ``join_count``, ``expected``, ``variance``,
        ``z`` and ``p_value`` (the permutation rows hold the moments of the draws)."""
        rows = []
        for key in ("BB", "WW", "BW"):
            rows.append((key, "nonfree", self.counts[key], self.expected[key],
                         self.variance[key], self.z[key], self.p_norm[key]))
            m = self.sim_mean.get(key, np.nan)
            v = self.sim_var.get(key, np.nan)
            zs = (self.counts[key] - m) / np.sqrt(v) if v > 0 else np.nan
            rows.append((key, "permutation", self.counts[key], m, v, zs, self.p_sim[key]))
        frame = pd.DataFrame(rows, columns=["join", "inference", "join_count", "expected",
                                            "variance", "z", P_VALUE])
        return frame.set_index(["join", "inference"])

    def summary(self) -> Summary:
        """The counts and both inferences as a :class:`~geocluster._base.summary.Summary`.

        Examples
        --------
        >>> import geocluster as gc
        >>> from geocluster.clusters.joincounts import join_counts
        >>> col = gc.datasets.load_columbus()
        >>> col["hi"] = col["CRIME"] > 40
        >>> join_counts(col, "hi", seed=1).summary().to_frame().shape
        (6, 5)
        """
        top = [("units", f"{self.n:,}"), ("B units", f"{self.n_black:,}"),
               ("weights", f"{self.weights} (binary)"), ("alternative", self.alternative),
               ("permutations", f"{self.permutations:,}"), ("seed", str(self.seed)),
               ("BB", format_number(self.counts["BB"]))]
        notes = ["nonfree: normal approximation with the randomisation moments (Cliff & Ord "
                 "1981, R joincount.test); permutation: labels permuted over all units, ties "
                 "counted on both sides."]
        return Summary(f"Join counts of {self.column!r}", top=top, table=self.to_frame(),
                       notes=notes)


def join_counts(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    weights: str | Graph = "queen",
    permutations: int = 999,
    seed: int | np.random.Generator | None = None,
    alternative: Literal["folded", "two-sided", "greater", "less"] = "greater",
    isolates: Literal["raise", "drop", "keep"] = "raise",
    missing: Literal["raise", "drop"] = "raise",
) -> JoinCountResult:
    """Global join counts BB, WW and BW of a binary column, analytic and permutation tests.

    Parameters
    ----------
    gdf, column, weights, isolates, missing
        As in :func:`local_join_counts` (binary weights; ``isolates="keep"`` keeps
        units without neighbours among the labels permuted and in ``n``).
    permutations
        Random permutations of the labels (0: none).
    seed
        Int or ``numpy.random.Generator``.
    alternative
        For each count on its own: ``"greater"`` (default, R's ``joincount.test``;
        more joins than expected, clustering for BB and WW, dispersion for BW),
        ``"less"``, ``"two-sided"`` or ``"folded"`` (the tail the count lies in).

    Returns
    -------
    JoinCountResult

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.joincounts import join_counts
    >>> col = gc.datasets.load_columbus()
    >>> col["hi_crime"] = col["CRIME"] > col["CRIME"].quantile(0.6)
    >>> res = join_counts(col, "hi_crime", seed=1)
    >>> res.p_value["BB"] < 0.01, res.p_value["WW"] > 0.1
    (True, True)
    """
    inf.check_options(permutations=permutations, alpha=0.05, correction=None,
                      alternative=alternative, isolates=isolates, missing=missing,
                      where="join_counts")
    rng = inf.make_rng(seed, "join_counts")
    values = {column: binary_column(gdf, column, "join_counts")}
    prep = prepare_columns(gdf, [column], weights, isolates=isolates, missing=missing,
                           what="join_counts", values=values)
    x = prep.y[:, 0]
    w = sparse.csr_array(prep.graph.transform("B").sparse)
    w = w - sparse.diags_array(w.diagonal())
    counts = _global_counts(w, x[:, None])
    nb = int(x.sum())
    s0, s1, s2 = _constants(w)
    moments = nonfree_moments(nb, len(x) - nb, s0, s1, s2)
    z = {k: (counts[k][0] - moments[k][0]) / np.sqrt(moments[k][1]) for k in counts}
    p_norm = {k: float(_normal_p(z[k], alternative)) for k in counts}
    p_sim = {k: float("nan") for k in counts}
    sim_mean: dict = {}
    sim_var: dict = {}
    if permutations:
        _perm.check_size(permutations, len(x), what="join_counts", bytes_each=8,
                         kind="permuted labels")
        sims = _permuted_counts(w, x, permutations, rng)
        for k in counts:
            ge, le = _perm.count_ties(sims[k], float(counts[k][0]), scale=max(1.0, s0))
            p_sim[k] = float(_perm.pseudo_p(np.array(ge), np.array(le), permutations,
                                            alternative))
            sim_mean[k], sim_var[k] = float(sims[k].mean()), float(sims[k].var())
    return JoinCountResult(
        counts={k: float(v[0]) for k, v in counts.items()},
        expected={k: float(moments[k][0]) for k in counts},
        variance={k: float(moments[k][1]) for k in counts},
        z={k: float(v) for k, v in z.items()}, p_norm=p_norm, p_sim=p_sim,
        alternative=alternative, permutations=int(permutations), n=len(x), n_black=nb,
        column=column, weights=prep.label, seed=inf.seed_label(seed), sim_mean=sim_mean,
        sim_var=sim_var,
    )


def _normal_p(z: float, alternative: str) -> float:
    if alternative == "greater":
        return float(stats.norm.sf(z))
    if alternative == "less":
        return float(stats.norm.cdf(z))
    p = float(stats.norm.sf(abs(z)))
    return min(1.0, 2 * p) if alternative == "two-sided" else p


def _constants(w: sparse.csr_array) -> tuple[float, float, float]:
    """S0, S1, S2 of the weights (R ``spweights.constants``)."""
    s0 = float(w.sum())
    sym = w + w.T
    s1 = 0.5 * float(sym.multiply(sym).sum())
    s2 = float(((np.asarray(w.sum(axis=1)).ravel() + np.asarray(w.sum(axis=0)).ravel()) ** 2)
               .sum())
    return s0, s1, s2


def _global_counts(w: sparse.csr_array, x: np.ndarray) -> dict[str, np.ndarray]:
    """BB, WW, BW of each column of ``x`` (n x m labels)."""
    wx = w @ x
    bb = 0.5 * (x * wx).sum(axis=0)
    wt = w.T
    wxt = wt @ x
    rows = np.asarray(w.sum(axis=1)).ravel()[:, None]
    cols = np.asarray(w.sum(axis=0)).ravel()[:, None]
    # BW = 1/2 sum w_ij (x_i (1 - x_j) + (1 - x_i) x_j)
    bw = 0.5 * ((x * (rows - wx)).sum(axis=0) + (x * (cols - wxt)).sum(axis=0))
    ww = 0.5 * float(w.sum()) - bb - bw
    return {"BB": bb, "WW": ww, "BW": bw}


def _permuted_counts(w, x, permutations: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The three counts of ``permutations`` random permutations of the labels (blocks)."""
    out: dict[str, list] = {"BB": [], "WW": [], "BW": []}
    block = max(1, min(permutations, int(4e6 // max(len(x), 1))))
    done = 0
    while done < permutations:
        b = min(block, permutations - done)
        xp = rng.permuted(np.broadcast_to(x, (b, len(x))), axis=1).T
        for k, v in _global_counts(w, xp).items():
            out[k].append(v)
        done += b
    return {k: np.concatenate(v) for k, v in out.items()}
