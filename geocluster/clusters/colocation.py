"""Co-location quotient (Leslie and Kronenfeld 2011), global and local, with permutation tests.

For categories A and B among ``N`` points (``N_A`` of A, ``N_B`` of B), each point's
``k`` nearest neighbours (default 1) get weights ``w_ij`` that sum to 1: neighbours
strictly closer than the ``k``-th distance get ``1/k`` each, those *at* the ``k``-th
distance (ties, e.g. firms geocoded to one address) share the rest equally (L&K's
rule for equidistant nearest neighbours). With ``N'_B = N_B - 1`` if A is B, else
``N_B``:

* global ``CLQ_{A->B} = (N_{A->B} / N_A) / (N'_B / (N - 1))``, with
  ``N_{A->B} = sum_{i in A} sum_j w_ij [j in B]`` (L&K 2011);
* local ``LCLQ_{A_i->B} = sum_j w_ij [j in B] / (N'_B / (N - 1))`` (Cromley, Hanink and
  Bentley 2014; Wang et al. 2017); the mean of ``LCLQ`` over the A points is the global CLQ.

``CLQ = 1``: as many B neighbours as random labelling gives; ``> 1`` co-location,
``< 1`` isolation. The global test relabels all points at random (L&K's Monte Carlo,
category sizes fixed); the local test permutes conditionally (point ``i`` keeps its label,
its neighbours' labels are drawn from the other ``N - 1`` points), through the one
permutation engine (:mod:`geocluster.clusters._permutation`). Both p-values count ties
(a draw within ``1e-10`` of the scale of the observed CLQ) on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from scipy import sparse
from scipy.spatial import cKDTree

from geocluster._base.plotting import new_figure
from geocluster._base.summary import Summary
from geocluster._base.validate import (
    check_alpha,
    check_positive_int,
    make_rng,
    read_points,
    seed_label,
)
from geocluster.clusters import _inference as _inf
from geocluster.clusters import _permutation as _perm
from geocluster.errors import InputError

__all__ = ["colocation_quotient", "local_colocation_quotient", "plot_local_colocation",
           "ColocationResult", "neighbour_weights"]

#: Distances closer than this (metres) to the k-th distance are ties.
TIE_DISTANCE = 1e-6
_ALTERNATIVES = ("two-sided", "greater", "less", "folded")


@dataclass(frozen=True, repr=False, eq=False)
class ColocationResult:
    """Result of :func:`colocation_quotient`: one row per (reference, neighbor) pair.

    Attributes
    ----------
    table
        Index (``reference``, ``neighbor``); columns ``clq``, ``n_reference``,
        ``n_neighbor``, ``null_low``, ``null_high`` (2.5%/97.5% of the relabelled CLQ)
        and ``p_value``.
    k, n_points, permutations, alternative, seed
        The set-up (``seed`` as :func:`~geocluster._base.validate.seed_label`).
    simulated
        Relabelled CLQs (pairs x permutations).

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> from geocluster.clusters.colocation import colocation_quotient
    >>> pts = gpd.GeoDataFrame({"t": list("AABB")},
    ...     geometry=gpd.points_from_xy([0, 1, 10, 11], [0, 0, 0, 0]), crs="EPSG:32610")
    >>> float(colocation_quotient(pts, by="t", permutations=0).table.loc[("A", "A"), "clq"])
    3.0
    """

    table: pd.DataFrame
    k: int
    n_points: int
    permutations: int
    alternative: str
    seed: int | str | None
    crs: pyproj.CRS | None
    simulated: np.ndarray = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """A copy of :attr:`table` (with its ``p_value`` column)."""
        return self.table.copy()

    def matrix(self) -> pd.DataFrame:
        """CLQ as a reference x neighbor matrix."""
        return self.table["clq"].unstack("neighbor")

    def summary(self) -> Summary:
        """The set-up and the pairs as a :class:`~geocluster._base.summary.Summary`."""
        top = [("points", f"{self.n_points:,}"), ("nearest neighbours k", str(self.k)),
               ("permutations", f"{self.permutations:,}"), ("alternative", self.alternative),
               ("seed", str(self.seed))]
        return Summary("Co-location quotient (Leslie and Kronenfeld 2011)", top=top,
                       table=self.to_frame(),
                       notes=["CLQ_{A->B} > 1: A's nearest neighbours are B more often than "
                              "random labelling gives; p_value from random relabelling."])

    def plot(self, *, alpha: float = 0.05, title: str | None = None, width: float = 6.5,
             height: float = 5.5):
        """Heat map of log2 CLQ (reference rows, neighbor columns); ``*`` marks p <= alpha."""
        mat = self.matrix()
        pvals = self.table["p_value"].unstack("neighbor").reindex_like(mat)
        with np.errstate(divide="ignore"):
            vals = np.log2(mat.to_numpy(dtype=float))
        finite = vals[np.isfinite(vals)]
        lim = float(np.abs(finite).max()) if finite.size else 1.0
        fig, ax = new_figure(width=width, height=height)
        image = ax.imshow(np.clip(vals, -lim, lim), cmap="RdBu_r", vmin=-lim or -1,
                          vmax=lim or 1)
        for (r, c), p in np.ndenumerate(pvals.to_numpy(dtype=float)):
            if np.isfinite(p) and p <= alpha:
                ax.text(c, r, "*", ha="center", va="center", fontsize=14)
        ax.set_xticks(range(mat.shape[1]), [str(c) for c in mat.columns], rotation=45,
                      ha="right")
        ax.set_yticks(range(mat.shape[0]), [str(c) for c in mat.index])
        ax.set_xlabel("neighbor category B")
        ax.set_ylabel("reference category A")
        fig.colorbar(image, ax=ax, label="log2 CLQ(A -> B)")
        ax.set_title(title or f"Co-location quotients, k={self.k}")
        return fig

    def __repr__(self) -> str:
        return (f"<ColocationResult: {len(self.table):,} pairs among {self.n_points:,} points, "
                f"k={self.k}, {self.permutations} permutations>")


def colocation_quotient(
    points: gpd.GeoDataFrame,
    *,
    by: str,
    reference: object | None = None,
    neighbor: object | None = None,
    k: int = 1,
    permutations: int = 999,
    alternative: Literal["two-sided", "greater", "less", "folded"] = "two-sided",
    crs: str | int | pyproj.CRS | None = None,
    seed: int | np.random.Generator | None = None,
) -> ColocationResult:
    """Global co-location quotients ``CLQ_{A->B}`` with a random-labelling test.

    Parameters
    ----------
    points
        Firm points with a CRS (measured in a metric CRS, :func:`geocluster.to_metric`).
    by
        Category column (industry).
    reference, neighbor
        Categories A and B; default every pair (A, B), A = B included.
    k
        Nearest neighbours per point (L&K use 1); ties at the k-th distance share.
    permutations
        Random relabellings of all points (0: none).
    alternative
        ``"two-sided"`` (default), ``"greater"`` (co-location), ``"less"``, ``"folded"``.
    crs, seed
        Metric CRS to measure in; seed or Generator of the relabellings.

    Returns
    -------
    ColocationResult
        ``to_frame()``, ``matrix()``, ``summary()``, ``plot()``.

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.colocation import colocation_quotient
    >>> firms = gc.datasets.make_firms(800, seed=1)
    >>> res = colocation_quotient(firms, by="industry", reference="pharma",
    ...                           neighbor="software", permutations=99, seed=1)
    >>> res.to_frame().columns.tolist()
    ['clq', 'n_reference', 'n_neighbor', 'null_low', 'null_high', 'p_value']
    """
    data = _read(points, by, k, crs, "colocation_quotient")
    sims = check_positive_int(permutations, where="colocation_quotient", name="permutations",
                              minimum=0)
    alt = _check_alternative(alternative, "colocation_quotient")
    rng = make_rng(seed, "colocation_quotient")
    pairs = _pairs(data, reference, neighbor, "colocation_quotient")
    obs = _clq_matrix(data.codes, data.w, data.counts)
    sim = np.empty((len(pairs), sims))
    codes = data.codes.copy()
    for s in range(sims):
        rng.shuffle(codes)
        m = _clq_matrix(codes, data.w, data.counts)
        sim[:, s] = [m[a, b] for a, b in pairs]
    rows = []
    for p, (a, b) in enumerate(pairs):
        lo, hi, pv = _mc(obs[a, b], sim[p], sims, alt)
        rows.append((obs[a, b], int(data.counts[a]), int(data.counts[b]), lo, hi, pv))
    index = pd.MultiIndex.from_tuples([(data.levels[a], data.levels[b]) for a, b in pairs],
                                      names=["reference", "neighbor"])
    table = pd.DataFrame(rows, index=index, columns=["clq", "n_reference", "n_neighbor",
                                                     "null_low", "null_high", "p_value"])
    return ColocationResult(table=table, k=data.k, n_points=len(data.codes), permutations=sims,
                            alternative=alt, seed=seed_label(seed), crs=data.crs, simulated=sim)


def local_colocation_quotient(
    points: gpd.GeoDataFrame,
    *,
    by: str,
    reference: object,
    neighbor: object,
    k: int = 1,
    permutations: int = 999,
    alternative: Literal["two-sided", "greater", "less", "folded"] = "two-sided",
    alpha: float = 0.05,
    correction: Literal["fdr", "bonferroni"] | None = None,
    crs: str | int | pyproj.CRS | None = None,
    seed: int | np.random.Generator | None = None,
    n_jobs: int = 1,
) -> gpd.GeoDataFrame:
    """Local co-location quotient of each A point with conditional permutation p-values.

    Parameters
    ----------
    points, by, k, crs
        As in :func:`colocation_quotient`.
    reference, neighbor
        Categories A (the points that get a value) and B.
    permutations
        Conditional permutations per point (0: none).
    alternative
        ``"two-sided"`` (default), ``"greater"``, ``"less"`` or ``"folded"``.
    alpha, correction
        Level and multiple-testing correction (``"fdr"``, ``"bonferroni"``, None) of
        ``clq_significant``.
    seed, n_jobs
        Seed or Generator of the permutations; threads (does not change the result).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``points`` with ``clq_local`` (NaN for points not of category A),
        ``clq_p`` and ``clq_significant``.

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.colocation import local_colocation_quotient
    >>> firms = gc.datasets.make_firms(800, seed=1)
    >>> out = local_colocation_quotient(firms, by="industry", reference="pharma",
    ...                                 neighbor="software", permutations=99, seed=1)
    >>> int(out["clq_local"].notna().sum()) == int((firms["industry"] == "pharma").sum())
    True
    """
    where = "local_colocation_quotient"
    data = _read(points, by, k, crs, where)
    sims = check_positive_int(permutations, where=where, name="permutations", minimum=0)
    alt = _check_alternative(alternative, where)
    alpha = check_alpha(alpha, where=where)
    if correction not in (None, "fdr", "bonferroni"):
        raise InputError(f"{where}: correction={correction!r} must be 'fdr', 'bonferroni' or "
                         "None.")
    rng = make_rng(seed, where)
    ((a, b),) = _pairs(data, reference, neighbor, where)
    is_a = data.codes == a
    v = (data.codes == b).astype(float)
    n = len(v)
    n_b = data.counts[b] - v  # N'_B for each point: its own B label excluded
    with np.errstate(divide="ignore"):
        coef = np.where(n_b > 0, (n - 1) / np.maximum(n_b, 1), np.nan)
    local = np.full(n, np.nan)
    local[is_a] = (data.w @ v)[is_a] * coef[is_a]
    p = np.full(n, np.nan)
    if sims:
        ge, le = _perm.conditional_counts(v, data.w, np.nan_to_num(coef), sims, rng,
                                          units=np.flatnonzero(is_a), n_jobs=n_jobs)
        p[is_a] = _perm.pseudo_p(ge, le, sims, alt)[is_a]
    sig, _ = _inf.significance(p, alpha, correction)
    out = points.copy()
    out["clq_local"] = local
    out["clq_p"] = p
    out["clq_significant"] = sig
    return out


def plot_local_colocation(result: gpd.GeoDataFrame, *, title: str | None = None,
                          width: float = 7.0, height: float = 6.0):
    """Map of :func:`local_colocation_quotient`: significant co-location and isolation.

    Reference points with ``clq_significant`` are red (``clq_local > 1``, co-located with
    B) or blue (``< 1``, isolated from B); the other reference points are grey, all other
    points small light dots. Returns a matplotlib ``Figure``.

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(500, seed=2)
    >>> out = local_colocation_quotient(firms, by="industry", reference="pharma",
    ...                                 neighbor="software", permutations=99, seed=1)
    >>> fig = plot_local_colocation(out)
    >>> fig.axes[0].get_legend().get_texts()[0].get_text().startswith("co-located (CLQ > 1)")
    True
    """
    needed = {"clq_local", "clq_p", "clq_significant"}
    if not isinstance(result, gpd.GeoDataFrame) or not needed <= set(result.columns):
        raise InputError("plot_local_colocation: give the GeoDataFrame returned by "
                         f"local_colocation_quotient (with columns {sorted(needed)}).")
    fig, ax = new_figure(width=width, height=height)
    xy = result.geometry
    ref = result["clq_local"].notna().to_numpy()
    sig = result["clq_significant"].to_numpy(dtype=bool) & ref
    val = result["clq_local"].to_numpy(dtype=float)
    groups = [("co-located (CLQ > 1)", sig & (val > 1), "#d7191c", 18),
              ("isolated (CLQ < 1)", sig & (val < 1), "#2c7bb6", 18),
              ("not significant", ref & ~sig, "#969696", 10),
              ("other points", ~ref, "#d9d9d9", 3)]
    for label, mask, color, size in groups:
        ax.scatter(xy.x.to_numpy()[mask], xy.y.to_numpy()[mask], s=size, c=color,
                   label=f"{label} ({int(mask.sum()):,})", linewidths=0)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_axis_off()
    ax.legend(loc="lower left", frameon=False, fontsize=8)
    ax.set_title(title or "Local co-location quotient")
    return fig


# --------------------------------------------------------------------------------------
# validation and computation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Data:
    codes: np.ndarray
    levels: list
    counts: np.ndarray
    w: sparse.csr_array
    k: int
    crs: pyproj.CRS


def _read(points, by, k, crs, where) -> _Data:
    pts = read_points(points, where=where, crs=crs)
    if not isinstance(by, str) or by not in points.columns:
        raise InputError(f"{where}: by={by!r} is not a column of points; give the category "
                         f"(industry) column (columns: {list(points.columns)[:20]}).")
    col = points[by]
    if col.isna().any():
        bad = points.index[col.isna().to_numpy()][:5].tolist()
        raise InputError(f"{where}: column {by!r} (by=) has {int(col.isna().sum())} missing "
                         f"values (e.g. rows {bad}); fill or drop them first.")
    k = check_positive_int(k, where=where, name="k")
    if k >= len(pts):
        raise InputError(f"{where}: k={k} must be below the number of points ({len(pts)}).")
    codes, levels = pd.factorize(col, sort=True)
    counts = np.bincount(codes, minlength=len(levels)).astype(float)
    return _Data(codes=codes, levels=list(levels), counts=counts,
                 w=neighbour_weights(np.column_stack([pts.x, pts.y]), k), k=k, crs=pts.crs)


def _check_alternative(alternative, where) -> str:
    if alternative not in _ALTERNATIVES:
        raise InputError(f"{where}: alternative={alternative!r} must be one of "
                         f"{list(_ALTERNATIVES)}.")
    return alternative


def _pairs(data: _Data, reference, neighbor, where) -> list[tuple[int, int]]:
    pos = {v: i for i, v in enumerate(data.levels)}
    for name, value in (("reference", reference), ("neighbor", neighbor)):
        if value is not None and value not in pos:
            raise InputError(f"{where}: {name}={value!r} is not a category of the by column "
                             f"(categories: {data.levels[:10]}).")
    if (reference is None) != (neighbor is None) or (
            where != "colocation_quotient" and reference is None):
        raise InputError(f"{where}: give both reference= and neighbor= (categories A and B)"
                         + ("" if where != "colocation_quotient" else ", or neither for every "
                            "pair") + ".")
    if reference is None:
        return [(a, b) for a in range(len(data.levels)) for b in range(len(data.levels))]
    a, b = pos[reference], pos[neighbor]
    if a == b and data.counts[a] < 2:
        raise InputError(f"{where}: category {reference!r} has one point; CLQ of a category "
                         "with itself needs at least two.")
    return [(a, b)]


def neighbour_weights(xy: np.ndarray, k: int) -> sparse.csr_array:
    """Row-stochastic k-nearest-neighbour weights; ties at the k-th distance share equally.

    Neighbours closer than the k-th distance (by more than :data:`TIE_DISTANCE`) get
    ``1/k``; the ``t`` points at the k-th distance share the remaining weight (``m/k``
    for ``m`` places left) equally.

    Examples
    --------
    >>> w = neighbour_weights(np.array([[0.0, 0], [1, 0], [-1, 0], [5, 0]]), 1)
    >>> w.toarray()[0].tolist()  # two nearest neighbours at distance 1 share
    [0.0, 0.5, 0.5, 0.0]
    """
    n = len(xy)
    tree = cKDTree(xy)
    q = min(n, k + 1 + 8)
    while True:
        dist, idx = tree.query(xy, k=q)
        dist, idx = np.atleast_2d(dist), np.atleast_2d(idx)
        # drop each point itself (it need not come first among coincident points; when
        # it is not among the q found, the farthest one found is dropped instead)
        dist = np.where(idx == np.arange(n)[:, None], np.inf, dist)
        order = np.argsort(dist, axis=1, kind="stable")
        dist = np.take_along_axis(dist, order, axis=1)[:, :-1]
        idx = np.take_along_axis(idx, order, axis=1)[:, :-1]
        kth = dist[:, k - 1]
        if q >= n or (dist[:, -1] > kth + TIE_DISTANCE).all():
            break
        q = min(n, 2 * q)
    closer = dist < kth[:, None] - TIE_DISTANCE
    tied = np.abs(dist - kth[:, None]) <= TIE_DISTANCE
    n_closer = closer.sum(axis=1)
    n_tied = tied.sum(axis=1)
    share = (k - n_closer) / (k * n_tied)
    vals = np.where(closer, 1.0 / k, np.where(tied, share[:, None], 0.0))
    keep = vals > 0
    rows = np.repeat(np.arange(n), keep.sum(axis=1))
    return sparse.csr_array((vals[keep], (rows, idx[keep])), shape=(n, n))


def _clq_matrix(codes: np.ndarray, w: sparse.csr_array, counts: np.ndarray) -> np.ndarray:
    """``CLQ[a, b]`` for every pair of categories under the labels ``codes``."""
    c = len(counts)
    n = len(codes)
    rows = np.repeat(np.arange(n), np.diff(w.indptr))
    flows = np.bincount(codes[rows] * c + codes[w.indices], weights=w.data,
                        minlength=c * c).reshape(c, c)
    n_b = counts[None, :] - np.eye(c)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (flows / counts[:, None]) / (n_b / (n - 1))


def _mc(observed: float, sims: np.ndarray, n_sims: int, alternative: str):
    if n_sims == 0 or not np.isfinite(observed):
        return np.nan, np.nan, np.nan
    finite = sims[np.isfinite(sims)]
    scale = max(abs(observed), float(np.abs(finite).max()) if finite.size else 0.0)
    ge, le = _perm.count_ties(sims, observed, scale)
    p = float(_perm.pseudo_p(np.array([ge]), np.array([le]), n_sims, alternative)[0])
    lo, hi = np.quantile(sims, [0.025, 0.975])
    return float(lo), float(hi), p

