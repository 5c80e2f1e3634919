"""Local and global Moran's I on areal units, LISA cluster regions and their figures.

The analytic parts come from :class:`esda.moran.Moran_Local` and
:class:`esda.moran.Moran` (weights from :func:`geocluster.weights`); the permutation
inference is geocluster's own tie-aware engine
(:mod:`geocluster.clusters._permutation`).

What ``lisa_p`` is
------------------
``lisa_p`` is a conditional-permutation pseudo p-value that counts ties on both
sides. With ``P`` permutations (the unit's value kept, its neighbours given values
drawn without replacement from the other units), ``ge`` the number of simulated
``I_i >= `` the observed one and ``le`` the number ``<=`` it (a draw within
``1e-10`` of the statistic's scale counting as equal), the folded pseudo p-value is
``p = (min(ge, le) + 1) / (P + 1)``: one-sided in the direction of the tail the
observed ``I_i`` lies in, at most about 0.5 for continuous data (GeoDa's and esda's
convention). ``alternative="two-sided"`` gives ``min(1, 2 p)``; ``"greater"``
(``(ge + 1)/(P + 1)``, clustering) and ``"less"`` (``(le + 1)/(P + 1)``,
dispersion) are one-sided.

How this differs from esda and spdep: for continuous data (no ties) it equals esda's
``p_sim``. With ties it does not: esda counts ``sim >= obs`` and folds with ``P``
minus that count, so a unit where every draw ties the observed value (a county with
no firms among neighbours with none, the usual case with sparse counts) gets the most
extreme value ``1/(P+1)``; here it gets 1. R's ``spdep::localmoran_perm`` ranks the
observed value among the draws (``rank()``, ties averaged; it also draws with
replacement) and so gives tied units a middle p-value. :func:`geocluster.getis_ord`
uses the same convention for ``gi_p``.

Scaling of ``I_i``
------------------
esda computes ``I_i = (n - 1) z_i lag(z)_i / sum(z^2)``; R's ``spdep::localmoran``
computes ``I_i = z_i lag(z)_i / m2`` with ``m2 = sum(z^2) / n``, i.e. esda's value
times ``n / (n - 1)``. esda's analytic conditional moments (``EIc``, ``VIc``, Sokal
et al. 1998) are on spdep's scale, so a z-value built from esda's ``Is`` and
``EIc`` would be off. ``local_moran`` puts ``lisa_I``, ``lisa_EI`` and ``lisa_VI``
on one scale (``scaling="esda"``, default, or ``"spdep"``); ``lisa_z`` is the same
under both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from libpysal.graph import Graph
from scipy import sparse, stats
from scipy.sparse.csgraph import connected_components

from geocluster._base.plotting import LISA_COLORS, new_figure
from geocluster.clusters import _inference as inf
from geocluster.clusters import _permutation as _perm
from geocluster.errors import InputError

__all__ = [
    "local_moran",
    "global_moran",
    "cluster_regions",
    "GlobalMoran",
    "plot_moran_scatter",
    "plot_lisa_map",
    "LISA_COLUMNS",
]

#: Columns ``local_moran`` adds to the frame.
LISA_COLUMNS = (
    "lisa_I",
    "lisa_EI",
    "lisa_VI",
    "lisa_z",
    "lisa_p",
    "lisa_q",
    "lisa_cluster",
    "lisa_region",
    "lisa_std",
    "lisa_lag",
)
_QUADS = np.array(["", "HH", "LH", "LL", "HL"], dtype=object)  # esda: 1 HH, 2 LH, 3 LL, 4 HL


def local_moran(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    weights: str | Graph = "queen",
    permutations: int = 999,
    seed: int | np.random.Generator | None = None,
    alpha: float = 0.05,
    correction: Literal["fdr", "bonferroni"] | None = None,
    alternative: Literal["folded", "two-sided"] = "folded",
    scaling: Literal["esda", "spdep"] = "esda",
    isolates: Literal["raise", "drop", "keep"] = "raise",
    missing: Literal["raise", "drop"] = "raise",
    n_jobs: int = 1,
) -> gpd.GeoDataFrame:
    """Local Moran's I (LISA) with conditional permutation inference and cluster regions.

    Parameters
    ----------
    gdf
        Areal units (or points with a point-based ``weights`` spec). Not modified.
    column
        Numeric column to analyse (e.g. log patents, a location quotient).
    weights
        A :func:`geocluster.weights` spec (``"queen"``, ``"knn:6"``, ...) or a ready
        ``libpysal.graph.Graph`` whose ids equal ``gdf.index``. Row-standardised
        here; the given Graph is not changed.
    permutations
        Conditional permutations for the pseudo p-value; 0 uses the analytic
        normal approximation (``lisa_z``) instead.
    seed
        Int or ``numpy.random.Generator``; the same seed gives identical output.
        One integer is drawn from ``default_rng(seed)`` for the permutation table
        (recorded in ``attrs["permutation_seed"]``). numpy's global random state is
        left untouched.
    alpha
        Significance level for ``lisa_cluster`` and the regions.
    correction
        ``None``, ``"fdr"`` (Benjamini-Hochberg over the tested units) or
        ``"bonferroni"``; the cut-off used is ``attrs["cutoff"]``.
    alternative
        ``"folded"`` (default; the tie-aware version of the esda/GeoDa pseudo
        p-value, see the module docstring), ``"two-sided"`` (twice that, capped at
        1), ``"greater"`` (positive autocorrelation) or ``"less"`` (negative).
    scaling
        ``"esda"`` (default) or ``"spdep"`` (R's ``localmoran``: ``n / (n - 1)``
        times esda's ``I_i``). Applies to ``lisa_I``, ``lisa_EI`` and ``lisa_VI``.
    isolates
        Units without neighbours: ``"raise"`` (default, names them), ``"drop"``
        (analysed without them; they get NaN and ``"ns"``), ``"keep"`` (they stay
        in the mean, variance and the permutation draws of the others but their own
        statistic is NaN and ``"ns"``; esda alone would give them ``p = 1/(P+1)``).
    missing
        Missing values in ``column``: ``"raise"`` (default) or ``"drop"`` (those
        units leave the weights and get NaN; a warning gives the count).
    n_jobs
        Threads for the permutation inference (``-1``: every core available);
        units are split into blocks whose draws come from one shared table, so the
        results are identical for any ``n_jobs``.

    Returns
    -------
    GeoDataFrame
        A copy of ``gdf`` (same index) with the :data:`LISA_COLUMNS`:
        ``lisa_I`` local Moran's I; ``lisa_EI``, ``lisa_VI``, ``lisa_z`` its analytic
        expectation, variance and z-value under conditional randomisation (Sokal et
        al. 1998, as R ``spdep::localmoran``); ``lisa_p`` the p-value described
        above; ``lisa_q`` quadrant ``HH``/``LH``/``LL``/``HL`` (value / spatial lag
        above or below the mean); ``lisa_cluster`` the quadrant where
        ``lisa_p <= attrs["cutoff"]``, else ``"ns"``; ``lisa_region`` ids
        ``"HH-1"``, ``"HH-2"``, ... (``"LL-k"``) shared by significant HH (LL)
        units connected in the weights graph, numbered by size (largest first),
        missing elsewhere; ``lisa_std`` the standardised value and ``lisa_lag`` its
        spatial lag (the Moran scatterplot axes). ``attrs`` records the column,
        weights, permutations, seeds, alpha, correction, cut-off, alternative,
        scaling, and counts and example ids of dropped units.

    Examples
    --------
    US innovation hubs: log patents 2011-2015 by county. Queen contiguity leaves
    Nantucket and San Juan County WA without neighbours, so use 6 nearest
    neighbours. (``weights="queen", isolates="drop"`` also runs, but there Seattle's
    King County has large rural Cascade neighbours and, at p = 0.02, misses the
    FDR cut-off of about 0.009; with 6 nearest neighbours it is HH at p = 0.002.)

    >>> import numpy as np
    >>> import geocluster as gc
    >>> counties = gc.datasets.load_counties("conus")
    >>> patents = gc.datasets.load_patents(years=(2011, 2015)).groupby("fips")["patents"].sum()
    >>> counties["log_patents"] = np.log1p(patents.reindex(counties.index).fillna(0))
    >>> lisa = gc.local_moran(counties, "log_patents", weights="knn:6", seed=42,
    ...                       correction="fdr")
    >>> lisa.attrs["correction"], lisa.attrs["cutoff"] < 0.05
    ('fdr', True)
    >>> lisa.loc[["06085", "25017", "53033"], "lisa_cluster"].tolist()
    ['HH', 'HH', 'HH']
    >>> lisa.loc["06085", "lisa_region"].startswith("HH-")
    True
    """
    inf.check_options(
        permutations=permutations,
        alpha=alpha,
        correction=correction,
        alternative=alternative,
        isolates=isolates,
        missing=missing,
        n_jobs=n_jobs,
    )
    if scaling not in ("esda", "spdep"):
        raise InputError(f"scaling={scaling!r} must be 'esda' or 'spdep' (R's localmoran).")
    perm_seed = inf.permutation_seed(seed)
    prep = inf.prepare(gdf, column, weights, isolates=isolates, missing=missing, what="local_moran")
    graph = prep.graph.transform("R")
    if permutations:
        _perm.check_size(
            permutations, int(graph.cardinalities.max()), what="local_moran"
        )
        _perm.warn_coarse(prep.y, column, "local_moran")
    stat = _run_moran_local(prep.y, graph)
    cols = _lisa_columns(stat, graph, prep, permutations, alternative, scaling, perm_seed,
                         n_jobs)

    tested = prep.tested
    p_all = inf.full_length(cols.pop("p"), prep.analysed)
    p_all[~tested] = np.nan
    sig, cut = inf.significance(p_all, alpha, correction)
    inf.warn_unreachable(cut, permutations, correction)
    inf.warn_fdr_resolution(p_all, cut, alpha, permutations, correction, "local_moran")
    quad = inf.full_length(cols.pop("q"), prep.analysed, fill=None, dtype=object)
    quad[~tested] = None
    cluster = np.where(sig, quad, "ns").astype(object)

    out = gdf.copy()
    for name in ("I", "EI", "VI", "z"):
        values = inf.full_length(cols[name], prep.analysed)
        values[~tested] = np.nan
        out[f"lisa_{name}"] = values
    out["lisa_p"] = p_all
    out["lisa_q"] = pd.Series(quad, index=out.index, dtype="object")
    out["lisa_cluster"] = pd.Series(cluster, index=out.index, dtype="object")
    out["lisa_region"] = pd.Series(
        _regions(graph, cluster[prep.analysed], prep.analysed), index=out.index, dtype="object"
    )
    out["lisa_std"] = inf.full_length(cols["std"], prep.analysed)
    out["lisa_lag"] = inf.full_length(cols["lag"], prep.analysed)
    out.attrs = dict(gdf.attrs)
    out.attrs.update(
        statistic="local_moran",
        column=column,
        weights=prep.label,
        transform="R",
        permutations=int(permutations),
        seed=inf.seed_label(seed),
        permutation_seed=perm_seed,
        alpha=float(alpha),
        correction=correction,
        cutoff=cut,
        alternative=alternative,
        p_value=_p_label(permutations, alternative),
        scaling=scaling,
        n_tested=int(tested.sum()),
        **inf.policy_attrs(prep, isolates),
    )
    return out


def _p_label(permutations: int, alternative: str) -> str:
    kind = (
        "pseudo p-value, conditional permutation, ties counted on both sides"
        if permutations
        else "normal approximation"
    )
    side = {"folded": "folded one-sided", "two-sided": "two-sided"}.get(
        alternative, f"one-sided ({alternative})"
    )
    return f"{side} {kind}"


def _run_moran_local(y, graph):
    """esda's analytic local Moran (statistic, conditional moments, quadrants); no draws."""
    with inf.quiet_esda():
        return inf.esda_moran().Moran_Local(y, graph, transformation="r", permutations=0)


def _lisa_columns(stat, graph, prep, permutations, alternative, scaling, perm_seed,
                  n_jobs=1) -> dict:
    n = len(prep.y)
    esda_to_spdep = n / (n - 1)
    has = prep.tested_in_graph
    vi = np.asarray(stat.VIc, dtype=float)
    # a unit whose conditional variance is 0 (e.g. the only non-zero count: every draw
    # gives the same I_i) has no z; rounding would make it +-inf or NaN by row order
    scale = np.nanmax(np.abs(vi[has])) if has.any() else 0.0
    degenerate = ~(vi > 1e-12 * scale) if scale > 0 else np.ones(len(vi), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (stat.Is * esda_to_spdep - stat.EIc) / np.sqrt(vi)
    z = np.where(degenerate, np.nan, z)
    if scaling == "spdep":
        i_val, e_val, v_val = stat.Is * esda_to_spdep, stat.EIc, stat.VIc
    else:
        i_val, e_val, v_val = stat.Is, stat.EIc / esda_to_spdep, stat.VIc / esda_to_spdep**2
    if permutations:
        # I_i = (n - 1) z_i lag(z)_i / z'z: the lag's factor has the sign of z_i
        ge, le = _perm.conditional_counts(
            np.asarray(stat.z, dtype=float),
            graph.sparse,
            np.asarray(stat.z, dtype=float),
            permutations,
            np.random.default_rng(perm_seed),
            units=np.flatnonzero(has),
            n_jobs=n_jobs,
        )
        p = _perm.pseudo_p(ge, le, permutations, alternative)
    else:
        p = inf.normal_p(z, alternative)
    p = np.where(has, p, np.nan)
    lag = graph.lag(stat.z)
    return {
        "I": i_val,
        "EI": e_val,
        "VI": v_val,
        "z": z,
        "p": p,
        "q": _QUADS[np.asarray(stat.q, dtype=int)],
        "std": stat.z,
        "lag": lag,
    }


def _regions(graph: Graph, cluster: np.ndarray, analysed: np.ndarray) -> np.ndarray:
    """Connected significant HH (LL) units -> ids 'HH-1', ... by size, over all rows."""
    labels = np.full(len(cluster), None, dtype=object)
    adjacency = sparse.csr_array(graph.sparse)
    for kind in ("HH", "LL"):
        members = np.nonzero(cluster == kind)[0]
        if len(members) == 0:
            continue
        sub = adjacency[members][:, members]
        _, comp = connected_components(sub, directed=True, connection="weak")
        sizes = np.bincount(comp)
        first = np.full(len(sizes), len(members))
        np.minimum.at(first, comp, np.arange(len(members)))
        order = np.lexsort((first, -sizes))  # largest first, then by first position
        rank = np.empty(len(sizes), dtype=int)
        rank[order] = np.arange(1, len(sizes) + 1)
        labels[members] = [f"{kind}-{r}" for r in rank[comp]]
    return inf.full_length(labels, analysed, fill=None, dtype=object)


# --------------------------------------------------------------------- global Moran


@dataclass(frozen=True)
class GlobalMoran:
    """Global Moran's I with its moments under normality and randomisation.

    ``p_norm`` and ``p_rand`` are two-sided analytic p-values; ``p_sim`` is the folded
    one-sided permutation pseudo p-value with ties counted on both sides (see the
    module docstring), NaN without permutations.
    """

    I: float  # noqa: E741
    EI: float
    VI_norm: float
    VI_rand: float
    z_norm: float
    z_rand: float
    p_norm: float
    p_rand: float
    p_sim: float
    permutations: int
    n: int
    column: str
    weights: str
    seed: int | str | None = None
    sim_mean: float = float("nan")
    sim_sd: float = float("nan")
    extra: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        sim = (
            f", pseudo p = {self.p_sim:.4g} ({self.permutations} permutations)"
            if self.permutations
            else ""
        )
        return (
            f"<GlobalMoran of {self.column!r} on {self.n} units, weights {self.weights}: "
            f"I = {self.I:.4f}, E[I] = {self.EI:.4f}, z(rand) = {self.z_rand:.3f}, "
            f"p(rand) = {self.p_rand:.4g}{sim}>"
        )

    def to_dict(self) -> dict:
        """Plain dict of the numbers (for tables and JSON)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}


def global_moran(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    weights: str | Graph = "queen",
    permutations: int = 999,
    seed: int | np.random.Generator | None = None,
    isolates: Literal["raise", "drop", "keep"] = "raise",
    missing: Literal["raise", "drop"] = "raise",
) -> GlobalMoran:
    """Global Moran's I: analytic moments (esda) and a seeded permutation test.

    Parameters
    ----------
    gdf, column, weights, isolates, missing
        As in :func:`local_moran` (weights row-standardised; ``isolates="keep"``
        keeps units without neighbours in ``n`` and the variance).
    permutations
        Random permutations of the values for ``p_sim`` (0: none).
    seed
        Int or ``numpy.random.Generator`` for the permutations. esda's ``Moran``
        draws from numpy's global state, so the permutations are drawn here from
        ``default_rng(seed)``; the statistic itself is esda's.

    Returns
    -------
    GlobalMoran
        ``I``, ``EI``, ``VI_norm``, ``VI_rand``, ``z_norm``, ``z_rand``, two-sided
        ``p_norm`` and ``p_rand``, folded one-sided ``p_sim``, and the mean and sd of
        the permutation distribution. ``p_sim = (min(ge, le) + 1) / (P + 1)`` with
        ``ge`` (``le``) the permutations whose I is at least (at most) the observed
        one, a difference within ``1e-10`` of the statistic's scale counting as a
        tie on both sides; esda's ``Moran.p_sim`` counts only ``>=`` and folds with
        ``P`` minus that count, R's ``spdep::moran.mc`` reports the one-sided rank
        of the observed value.

    Examples
    --------
    >>> import geocluster as gc
    >>> columbus = gc.datasets.load_columbus()
    >>> mi = gc.global_moran(columbus, "CRIME", seed=1)
    >>> round(mi.I, 4), round(mi.EI, 4), mi.p_sim
    (0.5002, -0.0208, 0.001)
    """
    Moran = inf.esda_moran().Moran

    inf.check_options(
        permutations=permutations,
        alpha=0.05,
        correction=None,
        alternative="folded",
        isolates=isolates,
        missing=missing,
    )
    inf.check_seed(seed)
    prep = inf.prepare(
        gdf, column, weights, isolates=isolates, missing=missing, what="global_moran"
    )
    graph = prep.graph.transform("R")
    with inf.quiet_esda():
        mi = Moran(prep.y, graph, transformation="r", permutations=0, two_tailed=True)
    p_sim = sim_mean = sim_sd = float("nan")
    if permutations:
        _perm.check_size(
            permutations, 1, what="global_moran", bytes_each=8, kind="simulated statistics"
        )
        sims = _permuted_moran(prep.y, graph, permutations, np.random.default_rng(seed))
        # |I| <= max row sum of |W| (= 1, row-standardised) times n / S0: scale of I
        ge, le = _perm.count_ties(sims, float(mi.I), scale=max(1.0, abs(float(mi.I))))
        p_sim = float(_perm.pseudo_p(ge, le, permutations, "folded"))
        sim_mean, sim_sd = float(sims.mean()), float(sims.std())
    return GlobalMoran(
        I=float(mi.I),
        EI=float(mi.EI),
        VI_norm=float(mi.VI_norm),
        VI_rand=float(mi.VI_rand),
        z_norm=float(mi.z_norm),
        z_rand=float(mi.z_rand),
        p_norm=float(2 * stats.norm.sf(abs(mi.z_norm))),
        p_rand=float(2 * stats.norm.sf(abs(mi.z_rand))),
        p_sim=p_sim,
        permutations=int(permutations),
        n=len(prep.y),
        column=column,
        weights=prep.label,
        seed=inf.seed_label(seed),
        sim_mean=sim_mean,
        sim_sd=sim_sd,
        extra={"isolate_ids": prep.isolate_ids, "missing_dropped": prep.missing_ids},
    )


def _permuted_moran(y, graph, permutations: int, rng: np.random.Generator) -> np.ndarray:
    """Moran's I of ``permutations`` random permutations of y, in memory-bounded blocks."""
    z = y - y.mean()
    w = sparse.csr_array(graph.sparse)
    factor = len(z) / w.sum() / (z @ z)
    block = max(1, min(permutations, int(4e6 // max(len(z), 1))))
    out = np.empty(permutations)
    done = 0
    while done < permutations:
        b = min(block, permutations - done)
        zp = rng.permuted(np.broadcast_to(z, (b, len(z))), axis=1).T  # n x b
        out[done : done + b] = factor * np.einsum("ij,ij->j", zp, w @ zp)
        done += b
    return out


# --------------------------------------------------------------------- regions


def cluster_regions(
    lisa_result: gpd.GeoDataFrame,
    *,
    sum_columns: list[str] | tuple[str, ...] | None = None,
    lq_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Dissolve each LISA region (connected significant HH or LL units) into one polygon.

    Parameters
    ----------
    lisa_result
        The frame returned by :func:`local_moran`.
    sum_columns
        Columns to total per region, e.g. ``["firms", "employment"]``. A missing
        value in a region's unit raises (the total would be wrong); fill it first.
    lq_column
        A location-quotient column to average (unweighted mean over the region's
        units that have a value, e.g. counties outside any metro area have none;
        ``n_<lq_column>`` counts them).

    Returns
    -------
    GeoDataFrame
        One row per region, indexed by region id (``"HH-1"``, ...), with ``cluster``
        (``HH``/``LL``), ``n_units``, ``units`` (the member ids), the totals of
        ``sum_columns``, ``mean_<lq_column>`` and ``n_<lq_column>``, the mean of the
        analysed column and
        the dissolved geometry in the input CRS. Largest HH regions come first.

    Examples
    --------
    >>> import geocluster as gc
    >>> columbus = gc.datasets.load_columbus()
    >>> lisa = gc.local_moran(columbus, "CRIME", seed=7)
    >>> regions = gc.cluster_regions(lisa, sum_columns=["AREA"])
    >>> regions.index.tolist()[:2], regions["cluster"].tolist()[:2]
    (['HH-1', 'LL-1'], ['HH', 'LL'])
    >>> int(regions.loc["HH-1", "n_units"]) == len(regions.loc["HH-1", "units"])
    True
    """
    if not isinstance(lisa_result, gpd.GeoDataFrame) or "lisa_region" not in lisa_result:
        raise InputError(
            "cluster_regions needs the GeoDataFrame returned by gc.local_moran "
            "(it has no 'lisa_region' column)."
        )
    sum_columns = list(sum_columns or [])
    wanted = sum_columns + ([lq_column] if lq_column else [])
    for col in wanted:
        if col not in lisa_result.columns:
            raise InputError(f"column {col!r} is not in the LISA result; choose from its columns.")
        if lisa_result[col].dtype == bool or not pd.api.types.is_numeric_dtype(lisa_result[col]):
            raise InputError(f"column {col!r} is not numeric, so it cannot be summed or averaged.")
    analysed = lisa_result.attrs.get("column")
    members = lisa_result[lisa_result["lisa_region"].notna()]
    for col in sum_columns:
        nan = members[col].isna()
        if nan.any():
            raise InputError(
                f"column {col!r} is missing for {int(nan.sum())} units in LISA regions (e.g. "
                f"{members.index[nan][:5].tolist()}), so their region totals would be wrong. "
                "Fill the values (e.g. 0 where a unit has no firms) or leave the column out."
            )
    geom = lisa_result.geometry.name
    columns = ["cluster", "n_units", "units", *sum_columns]
    if lq_column:
        columns += [f"mean_{lq_column}", f"n_{lq_column}"]
    if analysed in lisa_result.columns:
        columns.append(f"mean_{analysed}")
    if members.empty:
        return gpd.GeoDataFrame(
            {c: [] for c in columns}, geometry=gpd.GeoSeries([], crs=lisa_result.crs)
        )
    groups = members.groupby("lisa_region", sort=False)
    table = pd.DataFrame(
        {
            "cluster": groups["lisa_cluster"].first(),
            "n_units": groups.size(),
            "units": groups.apply(lambda g: list(g.index), include_groups=False),
        }
    )
    for col in sum_columns:
        table[col] = groups[col].sum()
    if lq_column:
        table[f"mean_{lq_column}"] = groups[lq_column].mean()  # over units with a value
        table[f"n_{lq_column}"] = groups[lq_column].count()
    if analysed in lisa_result.columns:
        table[f"mean_{analysed}"] = groups[analysed].mean()
    shapes = members[[geom, "lisa_region"]].dissolve(by="lisa_region")
    result = gpd.GeoDataFrame(table, geometry=shapes.geometry.reindex(table.index), crs=members.crs)
    key = [
        (c, -n, int(r.split("-")[1]))
        for r, c, n in zip(result.index, result["cluster"], result["n_units"], strict=True)
    ]
    order = sorted(range(len(key)), key=lambda i: key[i])
    result = result.iloc[order]
    result.index.name = "region"
    return result


# --------------------------------------------------------------------- figures


def _check_lisa(result) -> None:
    missing = [c for c in ("lisa_std", "lisa_lag", "lisa_cluster") if c not in result]
    if missing:
        raise InputError(
            f"expected the frame returned by gc.local_moran; columns {missing} are missing."
        )


def plot_moran_scatter(lisa_result: gpd.GeoDataFrame, *, title: str | None = None):
    """Moran scatterplot: standardised value against its spatial lag, coloured by cluster.

    The fitted line's slope is the global Moran's I (row-standardised weights).

    Parameters
    ----------
    lisa_result
        The frame returned by :func:`local_moran`.
    title
        Figure title (default names the column).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import geocluster as gc
    >>> lisa = gc.local_moran(gc.datasets.load_columbus(), "CRIME", seed=1)
    >>> fig = plot_moran_scatter(lisa)
    >>> fig.axes[0].get_xlabel()
    'CRIME (standardised)'
    """
    _check_lisa(lisa_result)
    column = lisa_result.attrs.get("column", "value")
    ok = lisa_result["lisa_std"].notna() & lisa_result["lisa_lag"].notna()
    x = lisa_result.loc[ok, "lisa_std"].to_numpy()
    y = lisa_result.loc[ok, "lisa_lag"].to_numpy()
    cluster = lisa_result.loc[ok, "lisa_cluster"].to_numpy()
    fig, ax = new_figure(width=6.0, height=5.5)
    for kind in ("ns", "HH", "LL", "LH", "HL"):
        sel = cluster == kind
        if sel.any():
            ax.scatter(
                x[sel],
                y[sel],
                s=14,
                color=LISA_COLORS[kind],
                edgecolor="#555555" if kind == "ns" else "none",
                linewidth=0.3,
                label=f"{kind} ({int(sel.sum())})",
                zorder=3 if kind != "ns" else 2,
            )
    slope = float((x @ y) / (x @ x))
    grid = np.linspace(x.min(), x.max(), 2)
    ax.plot(grid, slope * grid, color="black", linewidth=1, label=f"slope = {slope:.3f}")
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.axvline(0, color="grey", linewidth=0.6)
    ax.set_xlabel(f"{column} (standardised)")
    ax.set_ylabel(f"spatial lag of {column}")
    ax.set_title(title or f"Moran scatterplot of {column}")
    ax.legend(title="LISA cluster", fontsize=8, loc="best")
    return fig


def plot_lisa_map(lisa_result: gpd.GeoDataFrame, *, title: str | None = None, regions=True):
    """LISA cluster map in GeoDa's colours, optionally outlining the cluster regions.

    Parameters
    ----------
    lisa_result
        The frame returned by :func:`local_moran`.
    title
        Figure title (default names the column, alpha and correction).
    regions
        Outline the dissolved ``lisa_region`` polygons.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import geocluster as gc
    >>> lisa = gc.local_moran(gc.datasets.load_columbus(), "CRIME", seed=1)
    >>> fig = plot_lisa_map(lisa)
    >>> fig.axes[0].get_title()
    'LISA clusters of CRIME (alpha = 0.05, no correction)'
    """
    from matplotlib.patches import Patch

    _check_lisa(lisa_result)
    attrs = lisa_result.attrs
    column = attrs.get("column", "value")
    fig, ax = new_figure(width=7.0, height=5.5)
    cluster = lisa_result["lisa_cluster"].fillna("ns")
    colours = cluster.map(LISA_COLORS).fillna(LISA_COLORS["ns"])
    lisa_result.plot(ax=ax, color=colours.to_numpy(), edgecolor="white", linewidth=0.2)
    if regions and lisa_result["lisa_region"].notna().any():
        outline = lisa_result[lisa_result["lisa_region"].notna()].dissolve(by="lisa_region")
        outline.boundary.plot(ax=ax, color="black", linewidth=0.6)
    handles = [
        Patch(
            facecolor=LISA_COLORS[k],
            edgecolor="#777777",
            label=f"{k} ({int((cluster == k).sum())})",
        )
        for k in ("HH", "LL", "LH", "HL", "ns")
    ]
    ax.legend(handles=handles, title="LISA cluster", fontsize=8, loc="lower left")
    corr = attrs.get("correction")
    corr_text = "no correction" if corr is None else f"{corr}, cut-off {attrs.get('cutoff', 0):.3g}"
    ax.set_title(
        title or f"LISA clusters of {column} (alpha = {attrs.get('alpha', 0.05):g}, {corr_text})"
    )
    ax.set_axis_off()
    return fig
