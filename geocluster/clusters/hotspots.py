"""Getis-Ord local G / G* hot and cold spots on areal units.

The statistic comes from :class:`esda.getisord.G_Local` with weights from
:func:`geocluster.weights`; the permutation inference is geocluster's own tie-aware
engine (:mod:`geocluster.clusters._permutation`).

``gi_z`` is the analytic z-value of Ord and Getis (1995), as in R's
``spdep::localG`` (with ``include.self`` for G*) and ArcGIS. It is computed here in
its general form: esda's ``G_Local.Zs`` uses the binary-weights variance also for
row-standardised weights, where it is wrong. z and the permutation p-values do not
change when a row of weights is rescaled, so ``transform="r"`` changes only ``gi_G``.

``gi_p`` follows the same convention as ``lisa_p`` in :func:`geocluster.local_moran`:
a conditional-permutation pseudo p-value (the unit's own value kept, its neighbours'
values drawn without replacement from the other units) that counts ties on both
sides: with ``P`` permutations, ``ge`` / ``le`` the numbers of simulated G at least /
at most as large as the observed one (equal within ``1e-10`` of the statistic's
scale), the folded p is ``(min(ge, le) + 1) / (P + 1)``; ``alternative="two-sided"``
gives ``min(1, 2 p)``, ``"greater"`` ``(ge + 1)/(P + 1)`` (hot spots only) and
``"less"`` ``(le + 1)/(P + 1)``. Without permutations it is the normal p-value of
``gi_z`` with the same sidedness. esda's ``p_sim`` counts only ``sim >= obs``, so a
county with no firms among neighbours with none (every draw ties) gets the most
extreme ``1/(P+1)`` and shows as a "cold 99%" spot; here it gets 1. R's
``spdep::localG_perm`` reports only a z from the mean and variance of the draws.

``gi_hotspot`` bins units ArcGIS-style by the sign of ``gi_z`` and the most
stringent level among 0.01, 0.05 and 0.10 that ``gi_p`` passes after the chosen
correction (``hot 99%``, ``hot 95%``, ``hot 90%``, ``cold ...``, ``ns``). Note that
ArcGIS's bins use a two-sided normal p-value: ``alternative="two-sided",
permutations=0`` reproduces them exactly (``|z| > 2.576, 1.960, 1.645``).
"""

from __future__ import annotations

from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from libpysal.graph import Graph
from scipy import sparse

from geocluster._base.plotting import HOTSPOT_COLORS, new_figure
from geocluster.clusters import _inference as inf
from geocluster.clusters import _permutation as _perm
from geocluster.errors import InputError

__all__ = ["getis_ord", "plot_hotspot_map", "HOTSPOT_LEVELS", "GI_COLUMNS"]

#: Confidence bins: (label suffix, p-value level).
HOTSPOT_LEVELS = (("99%", 0.01), ("95%", 0.05), ("90%", 0.10))
#: Columns ``getis_ord`` adds to the frame.
GI_COLUMNS = ("gi_G", "gi_z", "gi_p", "gi_hotspot", "gi_cluster")


def getis_ord(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    weights: str | Graph = "queen",
    star: bool = True,
    transform: Literal["b", "r"] = "b",
    permutations: int = 999,
    seed: int | np.random.Generator | None = None,
    alpha: float = 0.05,
    correction: Literal["fdr", "bonferroni"] | None = None,
    alternative: Literal["folded", "two-sided"] = "folded",
    isolates: Literal["raise", "drop", "keep"] = "raise",
    missing: Literal["raise", "drop"] = "raise",
    n_jobs: int = 1,
) -> gpd.GeoDataFrame:
    """Local Getis-Ord G* (or G) hot and cold spots with permutation inference.

    Parameters
    ----------
    gdf
        Areal units (or points with a point-based ``weights`` spec). Not modified.
    column
        Numeric column; G is meant for non-negative values (counts, LQs, densities).
    weights
        A :func:`geocluster.weights` spec or a ready ``Graph`` with ids equal to
        ``gdf.index`` (not changed).
    star
        ``True`` (default): G*, each unit counts in its own neighbourhood with weight
        1 (before ``transform``); ``False``: G, the unit itself is left out.
    transform
        ``"b"`` binary weights (default; as spdep ``localG`` and ArcGIS) or ``"r"``
        row-standardised (self-weight ``1 / (k + 1)`` for G*).
    permutations, seed, correction, alternative, isolates, missing, n_jobs
        As in :func:`geocluster.local_moran` (``alternative="greater"`` tests for
        hot spots only, ``"less"`` for cold spots only).
    alpha
        Level for ``gi_cluster`` (``hot``/``cold``/``ns``); the ``gi_hotspot`` bins
        always use the levels 0.01, 0.05 and 0.10.

    Returns
    -------
    GeoDataFrame
        A copy of ``gdf`` with ``gi_G`` (the statistic), ``gi_z`` (analytic z),
        ``gi_p`` (see the module docstring), ``gi_hotspot`` (bins) and
        ``gi_cluster`` (hot/cold at ``alpha`` after correction). ``attrs`` records
        the options, seeds and cut-offs (``attrs["cutoffs"]`` per level).

    Examples
    --------
    >>> import geocluster as gc
    >>> columbus = gc.datasets.load_columbus()
    >>> gi = gc.getis_ord(columbus, "CRIME", seed=3)
    >>> round(float(gi.loc[0, "gi_z"]), 4)
    -1.4328
    >>> gi["gi_hotspot"].value_counts().index[0]
    'ns'
    """
    inf.check_options(
        permutations=permutations,
        alpha=alpha,
        correction=correction,
        alternative=alternative,
        isolates=isolates,
        missing=missing,
        n_jobs=n_jobs,
        where="getis_ord",
    )
    if transform not in ("b", "r", "B", "R"):
        raise InputError(
            f"transform={transform!r} must be 'b' (binary) or 'r' (row-standardised); "
            "Getis-Ord moments are defined for these two."
        )
    if not isinstance(star, bool | np.bool_):
        raise InputError(f"star={star!r} must be True (G*) or False (G).")
    perm_seed = inf.permutation_seed(seed, "getis_ord")
    prep = inf.prepare(gdf, column, weights, isolates=isolates, missing=missing, what="getis_ord")
    if prep.y.sum() == 0:
        raise InputError(
            f"column {column!r} sums to zero over the analysed units; G divides by that sum. "
            "Use a non-negative variable (counts, LQs) or local_moran."
        )
    graph = prep.graph.transform("B")
    if permutations:
        _perm.check_size(permutations, int(graph.cardinalities.max()), what="getis_ord")
        _perm.warn_coarse(prep.y, column, "getis_ord")
    if star:
        graph = graph.assign_self_weight(1.0)
    stat = _run_g_local(prep.y, graph, transform.upper(), star)

    has = prep.tested_in_graph
    z = np.where(has, _ord_getis_z(prep.y, graph.sparse, bool(star)), np.nan)
    if permutations:
        p = _permutation_p(prep.y, graph, star, permutations, perm_seed, has, alternative,
                           n_jobs)
    else:
        p = inf.normal_p(z, alternative)
    p = np.where(has, p, np.nan)
    p_all = inf.full_length(p, prep.analysed)
    z_all = inf.full_length(z, prep.analysed)
    g_all = inf.full_length(np.where(has, stat.Gs, np.nan), prep.analysed)

    bins, cutoffs = _hotspot_bins(p_all, z_all > 0, correction, permutations)
    sig, cut = inf.significance(p_all, alpha, correction)
    inf.warn_unreachable(cut, permutations, correction)
    cluster = np.where(sig, np.where(z_all > 0, "hot", "cold"), "ns").astype(object)

    out = gdf.copy()
    out["gi_G"] = g_all
    out["gi_z"] = z_all
    out["gi_p"] = p_all
    out["gi_hotspot"] = pd.Series(bins, index=out.index, dtype="object")
    out["gi_cluster"] = pd.Series(cluster, index=out.index, dtype="object")
    out.attrs = dict(gdf.attrs)
    out.attrs.update(
        statistic="getis_ord_gi_star" if star else "getis_ord_gi",
        column=column,
        weights=prep.label,
        transform=transform.upper(),
        star=bool(star),
        permutations=int(permutations),
        seed=inf.seed_label(seed),
        permutation_seed=perm_seed,
        alpha=float(alpha),
        correction=correction,
        cutoff=cut,
        cutoffs=cutoffs,
        alternative=alternative,
        p_value=inf.p_label(permutations, alternative),
        n_tested=int(np.sum(has)),
        **inf.policy_attrs(prep, isolates),
    )
    return out


def _permutation_p(y, graph, star, permutations, perm_seed, has, alternative, n_jobs):
    """Conditional-permutation pseudo p of G_i (ties counted on both sides)."""
    # G_i = (self part + sum_j w_ij y_j) / (sum y [- y_i for G]); the self part and
    # the denominator are fixed under conditional permutation
    denom = y.sum() - (0.0 if star else y)
    with np.errstate(divide="ignore"):
        coef = np.where(denom != 0, 1.0 / np.where(denom != 0, denom, 1.0), 0.0)
    coef = np.broadcast_to(coef, y.shape)
    ge, le = _perm.conditional_counts(
        y,
        graph.sparse,
        coef,
        permutations,
        inf.make_rng(perm_seed),
        units=np.flatnonzero(has),
        n_jobs=n_jobs,
    )
    return _perm.pseudo_p(ge, le, permutations, alternative)


def _hotspot_bins(p_all, hot, correction, permutations) -> tuple[np.ndarray, dict]:
    """ArcGIS-style bins (hot/cold 99%, 95%, 90%, ns) and the cut-off of each level."""
    bins = np.full(len(p_all), "ns", dtype=object)
    cutoffs = {}
    for suffix, level in reversed(HOTSPOT_LEVELS):  # 90%, then overwrite with 95%, 99%
        sig, cut = inf.significance(p_all, level, correction)
        cutoffs[suffix] = cut
        inf.warn_fdr_resolution(
            p_all, cut, level, permutations, correction, f"getis_ord, {suffix} bins",
            stacklevel=4,
        )
        bins[sig & hot] = f"hot {suffix}"
        bins[sig & ~hot] = f"cold {suffix}"
    return bins, cutoffs


def _ord_getis_z(y: np.ndarray, w, star: bool) -> np.ndarray:
    """Ord & Getis (1995) z of G_i* (``star``, diagonal of ``w`` used) or G_i, any weights.

    esda's ``G_Local.Zs`` uses the variance for binary weights (``S1i = W_i``), which
    is wrong for row-standardised ones; this general form equals it for binary
    weights and is invariant to rescaling a row, as it should be.
    """
    w = sparse.csr_array(w)
    n = len(y)
    wsum = np.asarray(w.sum(axis=1)).ravel()
    s1 = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    if star:
        m = n
        mean = np.full(n, y.mean())
        var = np.full(n, (y**2).mean() - y.mean() ** 2)
        lag = w @ y
    else:
        m = n - 1
        mean = (y.sum() - y) / m
        var = ((y**2).sum() - y**2) / m - mean**2
        lag = w @ y - w.diagonal() * y
    with np.errstate(invalid="ignore", divide="ignore"):
        return (lag - mean * wsum) / np.sqrt(var * (m * s1 - wsum**2) / (m - 1))


def _run_g_local(y, graph, transform, star):
    """esda's G statistic (no permutations: the inference is :mod:`._permutation`'s)."""
    from esda.getisord import G_Local

    with inf.quiet_esda():
        return G_Local(y, graph, transform=transform, permutations=0, star=bool(star))


def plot_hotspot_map(
    gi_result: gpd.GeoDataFrame, *, column: str | None = None, title: str | None = None
):
    """Map of the ``gi_hotspot`` bins in ArcGIS-style colours.

    Parameters
    ----------
    gi_result
        The frame returned by :func:`getis_ord`.
    column
        The analysed column's name for the title (default: the one recorded in
        ``gi_result.attrs``, used for labels only, else ``"value"``).
    title
        Figure title (default names the column and correction).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import geocluster as gc
    >>> gi = gc.getis_ord(gc.datasets.load_columbus(), "CRIME", seed=1)
    >>> fig = plot_hotspot_map(gi)
    >>> fig.axes[0].get_title()
    'Gi* hot and cold spots of CRIME (no correction)'
    """
    from matplotlib.patches import Patch

    if "gi_hotspot" not in gi_result:
        raise InputError("expected the frame returned by gc.getis_ord (no 'gi_hotspot' column).")
    attrs = gi_result.attrs
    bins = gi_result["gi_hotspot"].fillna("ns")
    fig, ax = new_figure(width=7.0, height=5.5)
    colours = bins.map(HOTSPOT_COLORS).fillna(HOTSPOT_COLORS["ns"])
    gi_result.plot(ax=ax, color=colours.to_numpy(), edgecolor="white", linewidth=0.2)
    handles = [
        Patch(facecolor=c, edgecolor="#777777", label=f"{k} ({int((bins == k).sum())})")
        for k, c in HOTSPOT_COLORS.items()
    ]
    ax.legend(
        handles=handles,
        title="Gi* bin" if attrs.get("star", True) else "Gi bin",
        fontsize=8,
        loc="lower left",
    )
    corr = attrs.get("correction")
    name = "Gi*" if attrs.get("star", True) else "Gi"
    corr_text = "no correction" if corr is None else f"{corr} correction"
    ax.set_title(
        title or f"{name} hot and cold spots of {column or attrs.get('column', 'value')} "
        f"({corr_text})"
    )
    ax.set_axis_off()
    return fig
