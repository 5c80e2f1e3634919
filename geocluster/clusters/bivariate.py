"""Bivariate local Moran's I: ``x`` at the unit against the spatial lag of ``y`` around it.

``I_i = c z_x,i sum_j w_ij z_y,j`` (Anselin, Syabri & Smirnov 2002; GeoDa's bivariate
LISA) with ``z_x``, ``z_y`` the standardised columns and row-standardised weights. The
statistic comes from :class:`esda.moran.Moran_Local_BV` (checked against R
``spdep::localmoran_bv`` to 1e-12 in ``tests/test_bivariate.py``); the inference is
geocluster's tie-aware conditional permutation engine
(:mod:`geocluster.clusters._permutation`): ``x_i`` stays at unit ``i`` and its neighbours
get ``y`` values drawn without replacement from the other units.

Scale
-----
esda standardises with the population standard deviation (``ddof=0``) and multiplies by
``(n - 1) / n``; spdep standardises with ``ddof=1``: the two give the same number
(unlike the univariate local Moran, see :mod:`geocluster.clusters.lisa`). With
``y = x`` the statistic is spdep's ``localmoran`` ``Ii`` times ``(n - 1) / n``.

P-values
--------
``bilisa_p`` is the folded, tie-aware pseudo p-value of :func:`geocluster.local_moran`
(``(min(ge, le) + 1) / (P + 1)``; ``"two-sided"``, ``"greater"``, ``"less"`` as there).
spdep's ``localmoran_bv`` draws with replacement; its ``Pr(folded) Sim`` agrees with
ours within Monte Carlo error. With ``permutations=0`` the p-value is the normal
approximation from the exact conditional moments ``bilisa_EI``, ``bilisa_VI``
(:func:`conditional_moments`).
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
from geocluster.errors import InputError
from geocluster.weights import build_graph

__all__ = ["local_moran_bv", "BILISA_COLUMNS", "prepare_columns", "conditional_moments"]

#: Columns ``local_moran_bv`` adds to the frame.
BILISA_COLUMNS = (
    "bilisa_I", "bilisa_EI", "bilisa_VI", "bilisa_z", "bilisa_p", "bilisa_q",
    "bilisa_cluster", "bilisa_x", "bilisa_lag",
)
_QUADS = np.array(["", "HH", "LH", "LL", "HL"], dtype=object)  # esda: 1 HH, 2 LH, 3 LL, 4 HL


def prepare_columns(gdf, columns: list[str], spec, *, isolates: str, missing: str, what: str,
                    n_min: int = 3, values: dict[str, pd.Series] | None = None) -> inf.Prepared:
    """Validate several columns and build the weights, as ``_inference.prepare`` for one.

    A unit missing in any column is missing (``missing="drop"`` drops it from the
    weights). ``values`` may give ready float Series for some columns (e.g. a binary
    column already checked), keyed by name. Returns an ``_inference.Prepared`` whose
    ``y`` is ``(n_analysed, len(columns))``.
    """
    given = values or {}
    series = [given[c] if c in given else inf.check_frame_column(gdf, c, what) for c in columns]
    if len(gdf) < n_min:
        raise InputError(
            f"{what} needs at least {n_min} units; the frame has {len(gdf)}. Use more (or "
            "smaller) units, e.g. counties or a grid (gc.grid)."
        )
    ok = np.ones(len(gdf), dtype=bool)
    for name, s in zip(columns, series, strict=True):
        ok &= inf.split_missing(s, name, missing)
    label = repr(spec) if isinstance(spec, str) else "(the given Graph)"
    graph = build_graph(gdf, spec, transform=None, count_components=False).graph
    graph = inf.restrict(graph, ok)
    has = inf.handle_isolates(graph, isolates, label)
    isolate_ids = graph.unique_ids[~has].tolist()
    analysed, tested = ok.copy(), ok.copy()
    tested[ok] = has
    if isolates == "drop" and isolate_ids:
        graph = inf.restrict(graph, has)
        analysed = tested.copy()
    y = np.column_stack([s.to_numpy(dtype=float)[analysed] for s in series])
    for k, name in enumerate(columns):
        inf.check_values(y[:, k], name, n_min)
    if tested.sum() < n_min:
        raise InputError(
            f"{what}: only {int(tested.sum())} units have neighbours; at least {n_min} are "
            "needed. Use a weights spec that connects the units, e.g. weights='knn:6'."
        )
    missing_ids = gdf.index[~ok].tolist()
    return inf.Prepared(y, analysed, tested, graph, label, missing_ids, isolate_ids)


def conditional_moments(values: np.ndarray, w: sparse.csr_array,
                        coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and variance of ``coef_i sum_j w_ij V_j`` under conditional permutation.

    The ``k_i`` neighbours of ``i`` get values drawn without replacement from
    ``values`` at the other ``n - 1`` units (population mean ``mu_i``, variance
    ``s2_i``), so the lag has mean ``w_i. mu_i`` and variance
    ``s2_i (sum w^2 - ((sum w)^2 - sum w^2) / (n - 2))`` (sampling without
    replacement). With ``values = coef = z`` this is Sokal et al.'s (1998) conditional
    variance of the local Moran (R ``spdep::localmoran``'s ``E.Ii``, ``Var.Ii``).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> w = sparse.csr_array(np.array([[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 1], [0, 0, 1, 0.]]))
    >>> e, v = conditional_moments(np.array([1.0, 2.0, 3.0, 6.0]), w, np.ones(4))
    >>> float(e[0]), float(v[0])  # two of {2, 3, 6}: sums 5, 8, 9
    (7.333333333333333, 2.888888888888889)
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    w = sparse.csr_array(w, dtype=float)
    w = w - sparse.diags_array(w.diagonal())  # a self weight does not vary
    w1 = np.asarray(w.sum(axis=1)).ravel()
    w2 = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    mu = (v.sum() - v) / (n - 1)
    s2 = ((v @ v) - v**2) / (n - 1) - mu**2
    var_lag = s2 * (w2 - (w1**2 - w2) / max(n - 2, 1))
    coef = np.asarray(coef, dtype=float)
    return coef * w1 * mu, coef**2 * np.maximum(var_lag, 0.0)


def local_moran_bv(
    gdf: gpd.GeoDataFrame,
    x: str,
    y: str,
    *,
    weights: str | Graph = "queen",
    permutations: int = 999,
    seed: int | np.random.Generator | None = None,
    alpha: float = 0.05,
    correction: Literal["fdr", "bonferroni"] | None = None,
    alternative: Literal["folded", "two-sided", "greater", "less"] = "folded",
    isolates: Literal["raise", "drop", "keep"] = "raise",
    missing: Literal["raise", "drop"] = "raise",
    n_jobs: int = 1,
) -> gpd.GeoDataFrame:
    """Bivariate local Moran's I (``x`` at the unit, lag of ``y``) and its cluster map.

    Parameters
    ----------
    gdf
        Areal units (or points with a point-based ``weights`` spec). Not modified.
    x, y
        Numeric columns: ``x`` at the unit (e.g. a location quotient), ``y`` whose
        spatial lag it is compared with (e.g. log patents around it).
    weights, permutations, seed, alpha, correction, alternative, isolates, missing, n_jobs
        As in :func:`geocluster.local_moran` (weights row-standardised; a unit missing
        in either column is missing).

    Returns
    -------
    GeoDataFrame
        A copy of ``gdf`` with :data:`BILISA_COLUMNS`: ``bilisa_I``; ``bilisa_EI``,
        ``bilisa_VI``, ``bilisa_z`` its exact conditional-permutation mean, variance and
        z-value; ``bilisa_p``; ``bilisa_q`` the quadrant ``HH``/``LH``/``LL``/``HL``
        (``x`` high or low, lag of ``y`` high or low); ``bilisa_cluster`` that quadrant
        where ``bilisa_p <= attrs["cutoff"]``, else ``"ns"``; ``bilisa_x`` the
        standardised ``x`` and ``bilisa_lag`` the lag of the standardised ``y`` (the
        bivariate Moran scatterplot). ``attrs`` (information only) records the options.

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.bivariate import local_moran_bv
    >>> bv = local_moran_bv(gc.datasets.load_columbus(), "CRIME", "INC", seed=1)
    >>> bv["bilisa_cluster"].value_counts().to_dict()
    {'ns': 30, 'HL': 12, 'LH': 5, 'LL': 1, 'HH': 1}
    """
    inf.check_options(permutations=permutations, alpha=alpha, correction=correction,
                      alternative=alternative, isolates=isolates, missing=missing,
                      n_jobs=n_jobs, where="local_moran_bv")
    perm_seed = inf.permutation_seed(seed, "local_moran_bv")
    prep = prepare_columns(gdf, [x, y], weights, isolates=isolates, missing=missing,
                           what="local_moran_bv")
    graph = prep.graph.transform("R")
    if permutations:
        _perm.check_size(permutations, int(graph.cardinalities.max()), what="local_moran_bv")
        _perm.warn_coarse(prep.y[:, 1], y, "local_moran_bv")
    cols = _bv_columns(prep, graph, permutations, alternative, perm_seed, n_jobs)
    tested = prep.tested
    p_all = inf.full_length(cols.pop("p"), prep.analysed)
    p_all[~tested] = np.nan
    sig, cut = inf.significance(p_all, alpha, correction)
    inf.warn_unreachable(cut, permutations, correction)
    inf.warn_fdr_resolution(p_all, cut, alpha, permutations, correction, "local_moran_bv")
    quad = inf.full_length(cols.pop("q"), prep.analysed, fill=None, dtype=object)
    quad[~tested] = None
    out = gdf.copy()
    for name in ("I", "EI", "VI", "z"):
        values = inf.full_length(cols[name], prep.analysed)
        values[~tested] = np.nan
        out[f"bilisa_{name}"] = values
    out["bilisa_p"] = p_all
    out["bilisa_q"] = pd.Series(quad, index=out.index, dtype="object")
    out["bilisa_cluster"] = pd.Series(np.where(sig, quad, "ns"), index=out.index, dtype="object")
    out["bilisa_x"] = inf.full_length(cols["x"], prep.analysed)
    out["bilisa_lag"] = inf.full_length(cols["lag"], prep.analysed)
    out.attrs = dict(gdf.attrs)
    out.attrs.update(
        statistic="local_moran_bv", x=x, y=y, column=x, weights=prep.label, transform="R",
        permutations=int(permutations), seed=inf.seed_label(seed), permutation_seed=perm_seed,
        alpha=float(alpha), correction=correction, cutoff=cut, alternative=alternative,
        p_value=inf.p_label(permutations, alternative),
        n_tested=int(tested.sum()), **inf.policy_attrs(prep, isolates),
    )
    return out


def _bv_columns(prep, graph, permutations, alternative, perm_seed, n_jobs) -> dict:
    """Statistic (esda), exact conditional moments, p-values and quadrants."""
    with inf.quiet_esda():
        stat = inf.esda_moran().Moran_Local_BV(prep.y[:, 0], prep.y[:, 1], graph,
                                               transformation="r", permutations=0)
    n = len(prep.y)
    zx, zy = np.asarray(stat.zx, dtype=float), np.asarray(stat.zy, dtype=float)
    w = sparse.csr_array(graph.sparse)
    has = prep.tested_in_graph
    factor = (n - 1) / float(zx @ zx)  # esda's I_i = factor zx_i lag(zy)_i
    e, v = conditional_moments(zy, w, factor * zx)
    scale = np.nanmax(np.abs(v[has])) if has.any() else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(v > 1e-12 * scale, (stat.Is - e) / np.sqrt(v), np.nan)
    if permutations:
        ge, le = _perm.conditional_counts(zy, w, zx, permutations, inf.make_rng(perm_seed),
                                          units=np.flatnonzero(has), n_jobs=n_jobs)
        p = _perm.pseudo_p(ge, le, permutations, alternative)
    else:
        p = inf.normal_p(z, alternative)
    return {
        "I": np.asarray(stat.Is, dtype=float), "EI": e, "VI": v, "z": z, "p": np.where(has, p, np.nan),
        "q": _QUADS[np.asarray(stat.q, dtype=int)], "x": zx, "lag": graph.lag(zy),
    }
